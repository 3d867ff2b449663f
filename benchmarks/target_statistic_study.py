"""A study, not a feature: would descend gain from a target statistic of a combination of categorical columns, as
CatBoost builds them (issue #15; benchmarks/RESULTS.md, "target statistics of categories")?

On one table of tabular_fresh4.py (the harness's shuffle and last-20% test rows), the combination is chosen on the
training rows alone: starting from no column, add the column with at most MAX_LEVELS distinct values whose
combination with those chosen gives the lowest 5-fold out-of-fold loss (log-loss, or RMSE for regression) of the
combination's shrunk mean target (an m-estimate: (sum + M * prior) / (count + M)), while that loss falls. Then
`descend fit` (no flags, --test-fraction 0) on the training rows, and `descend predict` on the test rows, with and
without one extra column: that statistic, out of fold on the training rows (no row sees its own target) and from
every training row on the test rows (a logit for classes). Binary classes and regression only.
    PYTHONPATH=src:benchmarks nice python benchmarks/target_statistic_study.py resumes [--seeds 3]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from tabular_fresh4 import FRESH4
from tabular_suite import SPLIT_SEED, descend_file

MAX_LEVELS = 40   # candidate columns: at most this many distinct values (a category or a small integer code)
M = 5.0           # the m-estimate's prior weight, in rows
FOLDS = 5


def _loss(regression: bool, predicted: np.ndarray, truth: np.ndarray) -> float:
    if regression:
        return float(np.sqrt(np.mean((predicted - truth) ** 2)))
    return float(log_loss(truth, np.clip(predicted, 1e-6, 1 - 1e-6), labels=[0, 1]))


class Statistic:
    """Shrunk mean targets of combinations of columns: out of fold on the training rows, whole on the others."""

    def __init__(self, frame: pd.DataFrame, train_rows: int, y: np.ndarray):
        self.codes = {c: pd.factorize(frame[c].astype(str))[0] for c in frame.columns}
        self.train_rows, self.y, self.prior = train_rows, y, float(y.mean())
        self.folds = np.random.default_rng(0).permutation(np.arange(train_rows) % FOLDS)

    def _shrunk(self, keys: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
        sums = np.bincount(keys[rows], self.y[rows], size)
        counts = np.bincount(keys[rows], minlength=size)
        return (sums + M * self.prior) / (counts + M)

    def values(self, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(out-of-fold values on the training rows, whole-training values on the rest)."""
        key = np.zeros(len(next(iter(self.codes.values()))), np.int64)
        for c in columns:
            key = key * (self.codes[c].max() + 1) + self.codes[c]
        key = pd.factorize(key)[0]
        train, size = key[:self.train_rows], key.max() + 1
        oof = np.zeros(self.train_rows)
        for fold in range(FOLDS):
            oof[self.folds == fold] = self._shrunk(train, self.folds != fold, size)[train[self.folds == fold]]
        return oof, self._shrunk(train, np.ones(self.train_rows, bool), size)[key[self.train_rows:]]


def greedy(stat: Statistic, candidates: list[str], regression: bool) -> list[str]:
    """The combination, one column at a time while its out-of-fold loss falls."""
    chosen, best = [], _loss(regression, np.full(stat.train_rows, stat.prior), stat.y)
    while len(chosen) < len(candidates):
        trials = {c: _loss(regression, stat.values(chosen + [c])[0], stat.y) for c in candidates if c not in chosen}
        column = min(trials, key=trials.get)
        if trials[column] >= best:
            break
        chosen.append(column)
        best = trials[column]
    return chosen


def study(name: str, seeds: int) -> None:
    table = next(t for t in FRESH4 if t.name == name)
    frame = table.load().sample(frac=1.0, random_state=SPLIT_SEED).reset_index(drop=True)
    n_test = int(round(len(frame) * 0.2))
    train, test = frame.iloc[:-n_test], frame.iloc[-n_test:]
    regression = table.task == "regression"
    values = frame[table.target]
    y = values.to_numpy(float) if regression else (values.astype(str) == sorted(values.astype(str).unique())[-1])
    y = np.asarray(y, float)
    inputs = frame.drop(columns=table.target)
    stat = Statistic(inputs, len(train), y[:len(train)])
    chosen = greedy(stat, [c for c in inputs.columns if inputs[c].nunique() <= MAX_LEVELS], regression)
    oof, rest = stat.values(chosen)
    print(f"{name}: combination {chosen}; alone on the test rows {_loss(regression, rest, y[len(train):]):.4f}")
    extra = (oof, rest) if regression else (np.log(oof / (1 - oof)), np.log(rest / (1 - rest)))
    truth = test[table.target].to_numpy(float) if regression else test[table.target].astype(str).to_numpy()
    for added in (False, True):
        for seed in range(seeds):
            fit_rows, test_rows = train.copy(), test.drop(columns=table.target)
            if added:
                fit_rows["combination_statistic"], test_rows["combination_statistic"] = extra
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                fit_rows.to_csv(folder / "train.csv", index=False)
                test_rows.to_csv(folder / "test.csv", index=False)
                score, seconds = descend_file(folder, table, seed, truth)
            print(f"  {'with' if added else 'without'} the statistic, seed {seed}: {score:.4f} ({seconds:.1f} CPU s)",
                  flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("table", choices=[t.name for t in FRESH4])
    parser.add_argument("--seeds", type=int, default=3)
    arguments = parser.parse_args()
    study(arguments.table, arguments.seeds)
