"""L2-regularized logistic regression on breast_cancer (standardized, C=1), solved to a gap of 1e-6 from f*.

The objective is scikit-learn's divided by C*n: f(w, b) = mean_i log(1 + exp(-s_i (x_i.w + b))) + |w|^2 / (2 C n)
with s_i in {-1, +1} and the intercept b unpenalized, as LogisticRegression(C=1) minimizes it. f* comes from
scipy's L-BFGS-B in float64 with tolerances at machine precision; the benchmark runs in float64 too, so a gap of
1e-6 is far above rounding.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer
from torch import nn

from .workload import Problem, Workload, full_batch, objective_value, scored

C = 1.0


@lru_cache(maxsize=1)
def data() -> tuple[np.ndarray, np.ndarray]:
    """Standardized features (all 569 rows) and labels in {-1, +1}."""
    x, y = load_breast_cancer(return_X_y=True)
    return (x - x.mean(0)) / x.std(0), 2.0 * y - 1.0


def objective_np(params: np.ndarray, x: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray]:
    """f and its gradient in numpy, for the reference solver."""
    w, b = params[:-1], params[-1]
    margin = s * (x @ w + b)
    n = len(s)
    value = np.logaddexp(0.0, -margin).mean() + w @ w / (2 * C * n)
    weight = -s * np.exp(-np.logaddexp(0.0, margin)) / n  # d/dz of the mean loss, z = x.w + b
    return value, np.append(x.T @ weight + w / (C * n), weight.sum())


@lru_cache(maxsize=1)
def optimum() -> tuple[float, np.ndarray]:
    """(f*, argmin) from L-BFGS-B run to machine precision."""
    x, s = data()
    found = minimize(objective_np, np.zeros(x.shape[1] + 1), args=(x, s), jac=True, method="L-BFGS-B",
                     options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000, "maxcor": 30})
    return float(found.fun), found.x


class Logistic(nn.Module):
    """The whole objective as a module: forward ignores its input and returns f(w, b) in float64."""

    def __init__(self, x: torch.Tensor, s: torch.Tensor):
        super().__init__()
        self.linear = nn.Linear(x.shape[1], 1, dtype=torch.float64)
        self.register_buffer("x", x)
        self.register_buffer("s", s)

    def forward(self, _unused: torch.Tensor) -> torch.Tensor:
        margin = self.s * self.linear(self.x).squeeze(1)
        w = self.linear.weight
        return F.softplus(-margin).mean() + (w * w).sum() / (2 * C * len(self.s))


def build(seed: int) -> Problem:
    x, s = data()
    fstar, _ = optimum()
    torch.manual_seed(seed)
    model = Logistic(torch.from_numpy(x), torch.from_numpy(s))
    gap = lambda output, _target: output.item() - fstar  # noqa: E731  (forward returns f itself)
    return Problem(model, full_batch(), objective_value, scored(gap, full_batch()[0]))


WORKLOAD = Workload(
    name="logistic_breast_cancer", summary="L2 logistic regression (C=1) on breast_cancer, full batch, float64",
    build=build, metric_name="f - f*", target=1e-6, mode="min", batch_size=1, steps=1000, quick_steps=400,
    weight_decay=0.0)
