"""Closed-form ridge on wide tables (more columns than rows), as the tabular baseline solves it: descend.solve's
least_squares against scikit-learn's Ridge (what a user would reach for) and against the stacked features x
features solve descend used before, side by side on the same data. Prints seconds and ratios.

    PYTHONPATH=src python benchmarks/wide_ridge.py --rows 200 --columns 1000 4000
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import Ridge

from descend.solve import least_squares


def stacked(X: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """The previous way: lstsq on [X; sqrt(alpha) I], a (rows + columns) x columns problem."""
    A = torch.cat([X - X.mean(0), alpha ** 0.5 * torch.eye(X.shape[1], dtype=X.dtype)])
    b = torch.cat([y - y.mean(), torch.zeros(X.shape[1], dtype=X.dtype)])
    return torch.linalg.lstsq(A, b, driver="gelsd").solution


def seconds(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--columns", type=int, nargs="+", default=[1000, 4000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'columns':>8} {'descend s':>10} {'sklearn s':>10} {'stacked s':>10} {'sklearn/descend':>16} "
          f"{'stacked/descend':>16} {'max |w - sklearn w|':>20}")
    for columns in args.columns:
        X = rng.standard_normal((args.rows, columns))
        y = X[:, :5].sum(1) + rng.standard_normal(args.rows)
        Xt, yt = torch.tensor(X), torch.tensor(y)
        ours = seconds(lambda: least_squares(Xt, yt, ridge=1.0, intercept=True))
        theirs = seconds(lambda: Ridge(alpha=1.0).fit(X, y))
        before = seconds(lambda: stacked(Xt, yt, 1.0))
        gap = np.abs(least_squares(X, y, ridge=1.0, intercept=True)[0] - Ridge(alpha=1.0).fit(X, y).coef_).max()
        print(f"{columns:>8} {ours:>10.4f} {theirs:>10.4f} {before:>10.3f} {theirs / ours:>16.2f} "
              f"{before / ours:>16.1f} {gap:>20.2e}")


if __name__ == "__main__":
    main()
