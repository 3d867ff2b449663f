"""Penalized linear models for the tables' linear candidate and baseline: ridge, Poisson and logistic regression
(two classes or many), each minimizing the objective scikit-learn's Ridge, PoissonRegressor and LogisticRegression
minimize, in float64 with torch's L-BFGS. Importing scikit-learn cost about 0.9 s of every `descend fit`; these
reach the same unique minimizers, more tightly than scikit-learn's default tolerance (1e-4).

Objectives, with n rows and the intercept never penalized: Poisson, mean(exp(eta) - y eta) + alpha/2 |w|^2;
logistic, mean(log-loss) + |w|^2 / (2 C n), with one logit for two classes and one per class (the multinomial
loss) for more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ...minimize.solve import least_squares

MAX_ITERATIONS = 1000
GRADIENT_TOLERANCE = 1e-6   # on the largest partial derivative of the (row-averaged) objective


@dataclass
class LinearFit:
    """Coefficients (outputs, features) and intercepts (outputs,); for classes, the labels the rows held, in
    order (two of them: one output, the logit of the second; more: one output per label)."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray | None = None

    def outputs(self, design: np.ndarray) -> np.ndarray:
        return design @ self.coef.T + self.intercept

    def probabilities(self, design: np.ndarray) -> np.ndarray:
        """Each row's probability of each of `classes` (logistic models)."""
        scores = torch.as_tensor(self.outputs(design))
        if len(self.classes) == 2:
            second = torch.sigmoid(scores[:, 0])
            return torch.stack([1 - second, second], dim=1).numpy()
        return torch.softmax(scores, dim=1).numpy()


def ridge(design: np.ndarray, y: np.ndarray, alpha: float) -> LinearFit:
    """Ridge regression, |y - X w - b|^2 + alpha |w|^2, solved directly."""
    weight, bias = least_squares(np.asarray(design, np.float64), np.asarray(y, np.float64), ridge=alpha,
                                 intercept=True)
    return LinearFit(np.asarray(weight).reshape(1, -1), np.atleast_1d(bias))


def poisson(design: np.ndarray, y: np.ndarray, alpha: float) -> LinearFit:
    """Poisson regression with a log link (scikit-learn's PoissonRegressor(alpha))."""
    x, counts = _tensor(design), _tensor(y)

    def objective(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        eta = x @ w[0] + b[0]
        return (torch.exp(eta) - counts * eta).mean() + alpha / 2 * w.square().sum()

    start = float(np.log(max(float(np.mean(y)), 1e-12)))
    return _minimized(objective, x.shape[1], np.array([start]))


def logistic(design: np.ndarray, labels: np.ndarray, C: float) -> LinearFit:
    """L2-penalized logistic regression on integer labels (at least two distinct; scikit-learn's
    LogisticRegression(C))."""
    x = _tensor(design)
    classes, codes = np.unique(labels, return_inverse=True)
    target = torch.as_tensor(codes)
    scale = 1 / (2 * C * len(x))

    def objective(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        scores = x @ w.T + b
        if len(classes) == 2:
            loss = F.binary_cross_entropy_with_logits(scores[:, 0], target.double())
        else:
            loss = F.cross_entropy(scores, target)
        return loss + scale * w.square().sum()

    outputs = 1 if len(classes) == 2 else len(classes)
    fitted = _minimized(objective, x.shape[1], np.zeros(outputs))
    if outputs > 1:   # the loss ignores a shift shared by every intercept: center them, as a unique answer
        fitted.intercept = fitted.intercept - fitted.intercept.mean()
    fitted.classes = classes
    return fitted


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def _minimized(objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], features: int,
               intercept: np.ndarray) -> LinearFit:
    """The coefficients and intercepts minimizing `objective(w, b)`, from w = 0 and the given intercepts."""
    w = torch.zeros(len(intercept), features, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(intercept, dtype=torch.float64, requires_grad=True)
    solver = torch.optim.LBFGS([w, b], lr=1.0, max_iter=MAX_ITERATIONS, tolerance_grad=GRADIENT_TOLERANCE,
                               tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        solver.zero_grad()
        loss = objective(w, b)
        loss.backward()
        return loss

    solver.step(closure)
    return LinearFit(w.detach().numpy().copy(), b.detach().numpy().copy())
