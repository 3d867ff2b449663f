"""One target statistic of a combination of few-valued columns, as CatBoost builds them (issue #15).

Rows often come in groups that only several columns together name (a job advertisement written out in eleven yes/no
columns): no single column's one-hot shows the group's rate. Starting from no column, the column (any with at most
MAX_LEVELS values on the training rows) whose combination with those chosen gives the lowest out-of-fold loss of
the combination's shrunk mean target is added, while that loss falls. The statistic is kept only when it combines
two columns or more and beats the overall mean's loss by MARGIN: then it is one more number input, out of fold on
the training rows (no row reads its own target) and from every training row on new rows. The levels, their target
sums and counts, the prior and M are kept as plain JSON. The module handles binary classes (as a logit) and numbers;
train.py uses it for binary classes only (numbers measured worse; 3+ classes would need one statistic per class, not
measured: benchmarks/RESULTS.md, "target statistics of categories" and branch ts5).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NAME = "(target statistic)"   # the feature's name in descriptions and importances; no column of its own
MAX_LEVELS = 40   # a candidate column has at most this many distinct values on the training rows
M = 5.0           # the shrinkage's prior weight, in rows: (sum + M * prior) / (count + M)
MARGIN = 0.01     # used only when its out-of-fold loss is at least this share below the overall mean's
MIN_COLUMNS = 2   # and it combines at least this many columns: one column's statistic restates its one-hot
EMPTY = "(missing)"
EDGE = 1e-6       # shares are kept this far from 0 and 1 (for the log-loss and the logit)


def cell_text(series: pd.Series) -> list[str]:
    """Cells as level names, the same for a column read as numbers with or without gaps ("3", not "3.0")."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return [EMPTY if pd.isna(v) else f"{float(v):g}" for v in series]
    return [EMPTY if pd.isna(v) or not str(v).strip() else str(v).strip() for v in series]


def _loss(values: np.ndarray, y: np.ndarray, classes: bool) -> float:
    """Log-loss of shares (binary classes) or root mean squared error (numbers)."""
    if classes:
        p = np.clip(values, EDGE, 1 - EDGE)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.sqrt(np.mean((values - y) ** 2)))


def _combine(codes: list[np.ndarray]) -> np.ndarray:
    """One code per distinct combination of the columns' codes (kept small: refactorized after each column)."""
    key = np.zeros(len(codes[0]), np.int64)
    for code in codes:
        key = pd.factorize(key * (int(code.max()) + 1) + code)[0]
    return key


def _shrunk(key: np.ndarray, y: np.ndarray, rows: np.ndarray, size: int, prior: float) -> np.ndarray:
    sums = np.bincount(key[rows], y[rows], size)
    counts = np.bincount(key[rows], minlength=size)
    return (sums + M * prior) / (counts + M)


def out_of_fold(key: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each row's shrunk mean target of its combination, from the rows of the other folds only (the prior too)."""
    size, values = int(key.max()) + 1, np.zeros(len(y))
    for fold in np.unique(folds):
        held = folds == fold
        values[held] = _shrunk(key, y, ~held, size, float(y[~held].mean()))[key[held]]
    return values


def _greedy(codes: dict[str, np.ndarray], y: np.ndarray, folds: np.ndarray, classes: bool) -> tuple[list[str], float]:
    """The columns of the combination, added one at a time while the out-of-fold loss falls, and that loss."""
    chosen: list[str] = []
    best = _loss(out_of_fold(np.zeros(len(y), np.int64), y, folds), y, classes)
    while len(chosen) < len(codes):
        trials = {name: _loss(out_of_fold(_combine([codes[c] for c in chosen + [name]]), y, folds), y, classes)
                  for name in codes if name not in chosen}
        name = min(trials, key=trials.get)
        if trials[name] >= best:
            break
        chosen.append(name)
        best = trials[name]
    return chosen, best


@dataclass
class TargetStatistic:
    """The fitted statistic: the chosen columns, each seen combination's target sum and count, the prior and M."""

    columns: list
    levels: list = field(default_factory=list)   # each a list of the columns' level names
    sums: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    prior: float = 0.0
    m: float = M
    logit: bool = False   # binary classes: the share as a logit

    @classmethod
    def choose(cls, frame: pd.DataFrame, names: list[str], y: np.ndarray, classes: bool,
               folds: np.ndarray) -> tuple["TargetStatistic", np.ndarray] | None:
        """The statistic of the greedy combination of the `names` columns of `frame` (the training rows, targets
        `y`: 0/1 for classes) and its out-of-fold values there, by `folds`; None when no combination of
        MIN_COLUMNS or more beats the overall mean by MARGIN."""
        texts = {name: cell_text(frame[name]) for name in names}
        codes = {name: pd.factorize(pd.Series(t))[0] for name, t in texts.items()
                 if 2 <= len(set(t)) <= MAX_LEVELS}
        if not codes:
            return None
        chosen, loss = _greedy(codes, y, folds, classes)
        if len(chosen) < MIN_COLUMNS or loss > (1 - MARGIN) * _loss(out_of_fold(np.zeros(len(y), np.int64), y, folds), y, classes):
            return None
        prior = float(y.mean())
        key = _combine([codes[c] for c in chosen])
        first = pd.Series(np.arange(len(key))).groupby(key).first().to_numpy()
        levels = [[texts[c][row] for c in chosen] for row in first]
        sums, counts = np.bincount(key, y, len(first)), np.bincount(key, minlength=len(first))
        statistic = cls(chosen, levels, sums.tolist(), counts.tolist(), prior, M, classes)
        return statistic, statistic.scale(out_of_fold(key, y, folds))

    def scale(self, shares: np.ndarray) -> np.ndarray:
        """Shrunk means as the model sees them: a logit for classes, as they are for numbers."""
        if not self.logit:
            return shares
        p = np.clip(shares, EDGE, 1 - EDGE)
        return np.log(p / (1 - p))

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """The statistic of each row of `frame` from every training row; a combination never seen gets the prior."""
        lookup = {tuple(level): (s + self.m * self.prior) / (c + self.m)
                  for level, s, c in zip(self.levels, self.sums, self.counts)}
        texts = [cell_text(frame[c]) for c in self.columns]
        return self.scale(np.array([lookup.get(key, self.prior) for key in zip(*texts)], dtype=float))

    def describe(self) -> str:
        """One line for the column description: which columns it combines, and how."""
        what = "share of the second class (as a logit)" if self.logit else "mean target"
        return (f"{NAME}: the training rows' {what} in each combination of {', '.join(self.columns)} "
                f"({len(self.levels)} seen), shrunk toward the overall one by {self.m:g} rows; out of fold on the "
                "training rows, so none reads its own target")
