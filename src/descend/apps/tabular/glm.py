"""Penalized linear models for the tables' linear candidate and baseline: ridge, Poisson and logistic regression
(two classes or many), each minimizing the objective scikit-learn's Ridge, PoissonRegressor and LogisticRegression
minimize. Importing scikit-learn cost about 0.9 s of every `descend fit`; these reach the same unique minimizers
by Newton's method in float64 (to a gradient of 1e-10, where scikit-learn's L-BFGS stops at 1e-4), and only a
design too wide for Newton's Hessian (many classes times many one-hot columns) is left to scikit-learn.

Objectives, with n rows and the intercept never penalized: Poisson, mean(exp(eta) - y eta) + alpha/2 |w|^2;
logistic, mean(log-loss) + |w|^2 / (2 C n), with one logit for two classes and one per class (the multinomial
loss) for more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ...minimize.solve import least_squares

MAX_NEWTON_STEPS = 100
GRADIENT_TOLERANCE = 1e-10   # on the largest partial derivative of the (row-averaged) objective
NEWTON_MAX_WORK = 5e7        # rows x parameters^2 (one Hessian's multiply-adds) beyond which scikit-learn fits


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


def ridge_path(design: np.ndarray, y: np.ndarray, alphas: tuple[float, ...]) -> list[LinearFit]:
    """Ridge regression at each of `alphas` (all > 0) from one eigendecomposition: choosing the penalty fitted
    the same rows once per alpha, which cost seconds on a design with hundreds of one-hot columns. With the
    design centred (X) and the smaller Gram matrix decomposed, X^T X = V diag(lam) V^T (rows >= columns) or
    X X^T = U diag(lam) U^T (more columns), w(alpha) = V diag(1 / (lam + alpha)) V^T X^T y, or
    X^T U diag(1 / (lam + alpha)) U^T y: exact at any rank, so duplicated columns need no care."""
    if min(alphas) <= 0:
        raise ValueError(f"ridge_path needs penalties > 0 (a rank-deficient design has no unique fit at 0), "
                         f"got {alphas}")
    x, target = np.asarray(design, np.float64), np.asarray(y, np.float64).ravel()
    mean_x, mean_y = x.mean(0), target.mean()
    x, target = x - mean_x, target - mean_y
    wide = x.shape[1] > x.shape[0]
    lam, vectors = np.linalg.eigh(x @ x.T if wide else x.T @ x)
    projected = vectors.T @ (target if wide else x.T @ target)
    fits = []
    for alpha in alphas:
        weight = vectors @ (projected / (lam + alpha))
        weight = x.T @ weight if wide else weight
        fits.append(LinearFit(weight.reshape(1, -1), np.atleast_1d(mean_y - mean_x @ weight)))
    return fits


def poisson(design: np.ndarray, y: np.ndarray, alpha: float) -> LinearFit:
    """Poisson regression with a log link (scikit-learn's PoissonRegressor(alpha))."""
    if _too_wide(len(design), design.shape[1] + 1):
        return _scikit_learn("poisson", design, y, alpha)
    x, counts = _with_ones(design), np.asarray(y, np.float64)

    def terms(theta: np.ndarray, derivatives: bool) -> tuple:
        eta = x @ theta
        with np.errstate(over="ignore"):
            mean = np.exp(eta)
        penalty = alpha * np.r_[theta[:-1], 0.0]
        value = float(np.mean(mean - counts * eta) + 0.5 * penalty @ theta)
        if not derivatives:
            return value, None, None
        hessian = (x.T * mean) @ x / len(x) + np.diag(np.r_[np.full(len(theta) - 1, alpha), 0.0])
        return value, x.T @ (mean - counts) / len(x) + penalty, hessian

    start = np.r_[np.zeros(x.shape[1] - 1), np.log(max(float(np.mean(counts)), 1e-12))]
    theta = _newton(terms, start)
    return LinearFit(theta[None, :-1], theta[-1:])


def logistic(design: np.ndarray, labels: np.ndarray, C: float) -> LinearFit:
    """L2-penalized logistic regression on integer labels (at least two distinct; scikit-learn's
    LogisticRegression(C)): one logit, the second class's, for two classes; the multinomial loss for more."""
    classes, codes = np.unique(labels, return_inverse=True)
    outputs = 1 if len(classes) == 2 else len(classes)
    if _too_wide(len(design), outputs * (design.shape[1] + 1)):
        return _scikit_learn("logistic", design, labels, C)
    x = _with_ones(design)
    truth = np.eye(len(classes))[codes][:, 1:] if outputs == 1 else np.eye(len(classes))[codes]
    decay = np.tile(np.r_[np.full(x.shape[1] - 1, 1 / (C * len(x))), 0.0], outputs)

    def terms(theta: np.ndarray, derivatives: bool) -> tuple:
        scores = x @ theta.reshape(outputs, -1).T
        if outputs == 1:
            probs = torch.sigmoid(torch.as_tensor(scores)).numpy()
            loss = torch.nn.functional.softplus(torch.as_tensor(scores)).numpy() - truth * scores
        else:
            log_probs = torch.log_softmax(torch.as_tensor(scores), dim=1).numpy()
            probs, loss = np.exp(log_probs), -truth * log_probs
        value = float(loss.sum() / len(x) + 0.5 * (decay * theta) @ theta)
        if not derivatives:
            return value, None, None
        gradient = ((probs - truth).T @ x / len(x)).ravel() + decay * theta
        return value, gradient, _softmax_hessian(x, probs) + np.diag(decay)

    theta = _newton(terms, np.zeros(outputs * x.shape[1])).reshape(outputs, -1)
    intercept = theta[:, -1] - (theta[:, -1].mean() if outputs > 1 else 0.0)   # the multinomial loss ignores a
    return LinearFit(theta[:, :-1], intercept, classes)                        # shift shared by all: center


def _softmax_hessian(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The Hessian of the mean log-loss over (outputs x columns) parameters: block (j, l) is
    x^T diag(p_j (delta_jl - p_l)) x / n (for one sigmoid output, p (1 - p))."""
    outputs, width = probs.shape[1], x.shape[1]
    if outputs == 1:
        return (x.T * (probs[:, 0] * (1 - probs[:, 0]))) @ x / len(x)
    hessian = np.empty((outputs * width, outputs * width))
    for j in range(outputs):
        for l in range(j, outputs):
            weight = probs[:, j] * ((j == l) - probs[:, l])
            block = (x.T * weight) @ x / len(x)
            hessian[j * width:(j + 1) * width, l * width:(l + 1) * width] = block
            hessian[l * width:(l + 1) * width, j * width:(j + 1) * width] = block
    return hessian


def _too_wide(rows: int, parameters: int) -> bool:
    return rows * parameters ** 2 > NEWTON_MAX_WORK


def _scikit_learn(kind: str, design: np.ndarray, y: np.ndarray, penalty: float) -> LinearFit:
    """A design too wide for Newton's Hessian: scikit-learn's L-BFGS, whose iterations need none."""
    import warnings

    from sklearn.linear_model import LogisticRegression, PoissonRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # an iteration cap on a tiny table is not the user's concern
        if kind == "poisson":
            model = PoissonRegressor(alpha=penalty, max_iter=300).fit(design, y)
            return LinearFit(model.coef_.reshape(1, -1), np.atleast_1d(model.intercept_))
        model = LogisticRegression(C=penalty, max_iter=500).fit(design, y)
    return LinearFit(model.coef_, model.intercept_, model.classes_)


def _with_ones(design: np.ndarray) -> np.ndarray:
    """The design in float64 with a last column of ones (the intercept's)."""
    x = np.asarray(design, dtype=np.float64)
    return np.hstack([x, np.ones((len(x), 1))])


def _solve(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """The Newton step's system, nudged by a relative 1e-12 along the diagonal: the multinomial loss ignores a
    shift shared by every intercept, which leaves its Hessian singular along that one direction (where the
    gradient is zero)."""
    jitter = 1e-12 * max(float(np.trace(hessian)) / len(hessian), 1e-300)
    return np.linalg.solve(hessian + jitter * np.eye(len(hessian)), gradient)


def _newton(terms: Callable[[np.ndarray, bool], tuple], theta: np.ndarray) -> np.ndarray:
    """Minimize a smooth convex objective by Newton steps, each halved until it lowers the objective enough
    (Armijo); `terms(theta, derivatives)` gives its value, and with `derivatives` its gradient and Hessian.
    Stops at a gradient of GRADIENT_TOLERANCE, or where a step's predicted gain is lost
    in float64 rounding."""
    value, gradient, hessian = terms(theta, True)
    for _ in range(MAX_NEWTON_STEPS):
        step = -_solve(hessian, gradient)
        slope, size = float(gradient @ step), 1.0
        if np.abs(gradient).max() <= GRADIENT_TOLERANCE or not -slope > 1e-15 * max(1.0, abs(value)):
            break   # converged, or the step is lost in rounding (or not finite: nothing better to take)
        while size > 1e-6 and terms(theta + size * step, False)[0] > value + 1e-4 * size * slope:
            size /= 2
        theta = theta + size * step
        value, gradient, hessian = terms(theta, True)
    return theta
