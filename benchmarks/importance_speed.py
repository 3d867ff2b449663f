"""Permutation importance on a wide table, as `descend fit` ranks the columns: descend's batched passes (many
shuffled copies scored in one forward pass) against the one-copy-a-pass loop it replaced (the same shuffles, so
the same values: the largest difference is printed) and scikit-learn's permutation_importance (one column at a
time, the same 3 repeats, a scorer that encodes the shuffled rows and runs the same model), side by side on the
same untrained 10-network model and validation rows. Prints CPU seconds and ratios.

    PYTHONPATH=src python benchmarks/importance_speed.py --rows 63 --columns 400 2308
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.inspection import permutation_importance as sklearn_importance

from descend.apps.tabular import Options, evaluate, importance
from descend.apps.tabular.train import prepare


def wide_table(rows: int, columns: int) -> pd.DataFrame:
    """Expression-like columns, a class from the first three (a Khan-style gene table)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)).round(3), columns=[f"V{i}" for i in range(1, columns + 1)])
    frame["tumour"] = np.array(["EWS", "RMS", "NB", "BL"])[
        np.digitize(frame["V1"] + frame["V2"] - frame["V3"], [-1, 0, 1])]
    return frame


class Trained:
    """The saved model as scikit-learn's permutation_importance wants an estimator: something with `fit`."""

    def __init__(self, run) -> None:
        self.run = run

    def fit(self, *_):
        return self


def cpu_seconds(action) -> tuple[float, object]:
    start = time.process_time()
    out = action()
    return time.process_time() - start, out


def one_copy_a_pass(run, x: torch.Tensor, truth: np.ndarray) -> dict:
    """The loop descend ran before: a forward pass of the whole model for each shuffled copy."""
    generator, base, rises = torch.Generator().manual_seed(0), log_loss_of(run, x, truth), {}
    for name, places in run.preprocessor.feature_positions().items():
        total = 0.0
        for _ in range(importance.REPEATS):
            shuffled = x.clone()
            shuffled[:, places] = x[torch.randperm(len(x), generator=generator)][:, places]
            total += log_loss_of(run, shuffled, truth) - base
        rises[name] = total / importance.REPEATS
    return rises


def log_loss_of(run, x: torch.Tensor, truth: np.ndarray) -> float:
    return evaluate.scores(run.target, truth, run.outputs(x))["log_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=63)
    parser.add_argument("--columns", type=int, nargs="+", default=[400, 2308])
    args = parser.parse_args()
    print(f"{'columns':>8} {'descend cpu s':>14} {'previous cpu s':>15} {'sklearn cpu s':>14} "
          f"{'previous/descend':>17} {'sklearn/descend':>16} {'max |descend - previous|':>25}")
    for columns in args.columns:
        frame = wide_table(args.rows, columns)
        prepared = prepare(frame, Options(target="tumour", max_epochs=1, progress=False), say=lambda line: None)
        run, rows = prepared.run, prepared.split.val
        truth = run.target.encode(frame["tumour"].iloc[rows]).numpy()
        ours_s, ours = cpu_seconds(lambda: importance.permutation_importance(
            run, run.preprocessor, prepared.x[rows], truth))
        features = frame.drop(columns="tumour").iloc[rows]

        def log_loss(_, shuffled, y):   # scikit-learn's scorer: higher is better
            x, _ = run.encode(pd.DataFrame(shuffled, columns=features.columns), "the rows")
            p = run.outputs(x)
            return float(np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))

        theirs_s, theirs = cpu_seconds(lambda: sklearn_importance(
            Trained(run), features, truth, scoring=log_loss, n_repeats=importance.REPEATS, random_state=0))
        before_s, before = cpu_seconds(lambda: one_copy_a_pass(run, prepared.x[rows], truth))
        gap = max(abs(ours["columns"][name] - before[name]) for name in before)
        print(f"{columns:>8} {ours_s:>14.2f} {before_s:>15.2f} {theirs_s:>14.2f} {before_s / ours_s:>17.1f} "
              f"{theirs_s / ours_s:>16.1f} {gap:>25.2g}")


if __name__ == "__main__":
    main()
