"""The target statistic of one repeated key column: a patient's id, an incident's time stamp (issue #15).

Rows often come in groups that share a key (many levels, most of them recurring), and a new row's group has rows
among the training ones: the group's own targets are then the best guess. Read as a number (standardized, in
quantile bins) or as a category with too many levels for one-hot, the key cannot name its group. So each candidate
column (more levels than one-hot takes, too few rows a level for the model to learn one alone, some recurring) is
scored on the training rows: the out-of-fold shrunk mean target of its level against the overall mean and, for a
column with an order (numbers, dates), against the shrunk mean of its quantile bin (a number whose bins say more
than its exact values is no key). A key is kept only when it beats both by more than its noise: the mean per-row
loss difference over Z standard errors, Z one-sided at 5% after Bonferroni over the candidates; of those, the one
with the largest margin. Its shrunk class shares (a logit for two classes, a log share per class for more) then
become number inputs, out of fold on the training rows (no row reads its own target) and from every
training row on new rows. The levels, their target sums and counts, the prior and M are kept as JSON with the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from .clock import clock_hours
from .columns import Column, numbers
from .dates import as_dates

NAME = "key statistic"   # its features are named "<column> (key statistic)", one per class for 3+ classes
M = 5.0           # the shrinkage's prior weight, in rows: (sum + M * prior) / (count + M)
ALPHA = 0.05      # a candidate is a key when it beats the others at this level (one-sided), Bonferroni-corrected
BINS = 16         # an ordered column's coarse reading: its training-quantile bins (as the networks see numbers)
EMPTY = "(missing)"
EDGE = 1e-6       # shares are kept this far from 0 and 1 (for the log-loss and the logit)


def cell_text(series: pd.Series) -> list[str]:
    """Cells as level names, equal for a column read as numbers with or without gaps ("3.0" either way)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return [EMPTY if pd.isna(v) else repr(float(v)) for v in series]
    return [EMPTY if pd.isna(v) or not str(v).strip() else str(v).strip() for v in series]


def key_candidates(columns: list[Column], frame: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """The columns a key could be, each with its values as ordered numbers (None for text): numbers, dates, times
    of day and text levels (true/false and month or weekday names have too few levels to be one)."""
    found: dict[str, np.ndarray | None] = {}
    for column in columns:
        series = frame[column.name]
        if column.kind in ("numeric", "ordinal"):
            found[column.name] = numbers(series, column.name).to_numpy(float)
        elif column.kind in ("date", "datetime"):
            dates = as_dates(series, column.dayfirst)
            found[column.name] = np.array([d.timestamp() if pd.notna(d) else np.nan for d in dates], float)
        elif column.kind == "timeofday":
            found[column.name] = clock_hours(series).to_numpy(float)
        elif column.kind == "categorical":
            found[column.name] = None
    return found


def targets(y: np.ndarray, classes: int) -> np.ndarray:
    """The columns whose shrunk means the statistic keeps: the second class's 0/1 for two classes, one 0/1 column
    per class for more."""
    if classes == 2:
        return (y == 1).astype(float)[:, None]
    return np.eye(classes)[y.astype(int)]


def row_losses(means: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    """Each row's log-loss when `means` (rows x target columns) predicts its class."""
    if classes == 2:
        p = np.clip(means[:, 0], EDGE, 1 - EDGE)
        return -np.where(y == 1, np.log(p), np.log(1 - p))
    return -np.log(np.clip(means[np.arange(len(y)), y.astype(int)], EDGE, 1.0))


def _shrunk(codes: np.ndarray, t: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Per level (0..size-1), the mean of `t` over `rows` shrunk toward their overall mean by M rows."""
    prior = t[rows].mean(axis=0)
    counts = np.bincount(codes[rows], minlength=size)[:, None]
    sums = np.stack([np.bincount(codes[rows], t[rows, j], size) for j in range(t.shape[1])], axis=1)
    return (sums + M * prior) / (counts + M)


def out_of_fold(codes: np.ndarray, t: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each row's shrunk mean of its level from the rows of the other folds only (their prior too)."""
    size, means = int(codes.max()) + 1, np.zeros(t.shape)
    for fold in np.unique(folds):
        held = folds == fold
        means[held] = _shrunk(codes, t, np.flatnonzero(~held), size)[codes[held]]
    return means


def bin_codes(order: np.ndarray) -> np.ndarray:
    """An ordered column's training-quantile bin per row (empty cells a bin of their own)."""
    present = order[~np.isnan(order)]
    if not len(present):
        return np.zeros(len(order), np.int64)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1))[1:-1])
    return np.where(np.isnan(order), len(edges) + 1, np.searchsorted(edges, order, side="right")).astype(np.int64)


def margin(worse: np.ndarray, better: np.ndarray) -> float:
    """How many standard errors the mean per-row loss of `better` lies below that of `worse` (paired rows)."""
    gain = worse - better
    spread = gain.std(ddof=1) / np.sqrt(len(gain))
    return float(gain.mean() / spread) if spread > 0 else 0.0


def key_margin(codes: np.ndarray, coarse: np.ndarray, y: np.ndarray, classes: int, folds: np.ndarray) -> float:
    """The smaller margin (in standard errors, out of fold) of the key's levels over the overall mean and over the
    `coarse` codes (its quantile bins; all zero for a column without an order); 0 when the bins gain more on the
    overall mean than the levels gain on the bins (where a value lies says more than which value it is: a number,
    not a key)."""
    t = targets(y, classes)
    own = row_losses(out_of_fold(codes, t, folds), y, classes)
    prior = row_losses(out_of_fold(np.zeros_like(codes), t, folds), y, classes)
    binned = row_losses(out_of_fold(coarse, t, folds), y, classes)
    if binned.mean() - own.mean() < prior.mean() - binned.mean():
        return 0.0
    return min(margin(prior, own), margin(binned, own))


@dataclass
class KeyStatistic:
    """The fitted statistic of one key column: its levels' target sums and counts, the prior and M."""

    column: str
    classes: list = field(default_factory=list)   # the class names
    levels: list = field(default_factory=list)
    sums: list = field(default_factory=list)      # per level, one sum per target column
    counts: list = field(default_factory=list)
    prior: list = field(default_factory=list)
    m: float = M
    margin: float = 0.0   # its margin in standard errors, as chosen (said in the description)

    @classmethod
    def choose(cls, frame: pd.DataFrame, candidates: dict[str, np.ndarray | None], y: np.ndarray,
               classes: list, folds: np.ndarray, min_levels: int,
               thin: int) -> tuple["KeyStatistic", np.ndarray] | None:
        """The key among `candidates` (column name -> its values as ordered numbers, None for text) of `frame`
        (the training rows; targets `y`: indices into `classes`) and its
        out-of-fold features there, by `folds`; None when no column with at least `min_levels` levels, fewer than
        `thin` rows a level on average (too few for a one-hot, an embedding or a bin to learn one alone) and some
        of them recurring beats the overall mean and its bins by its noise."""
        texts = {name: cell_text(frame[name]) for name in candidates}
        codes = {name: pd.factorize(pd.Series(t))[0] for name, t in texts.items()}
        codes = {name: c for name, c in codes.items()
                 if min_levels <= c.max() + 1 < len(c) < thin * (c.max() + 1) and np.bincount(c).max() > 1}
        if not codes:
            return None
        threshold = NormalDist().inv_cdf(1 - ALPHA / len(codes))
        k = len(classes)
        margins = {name: key_margin(c, np.zeros_like(c) if candidates[name] is None else bin_codes(candidates[name]),
                                    y, k, folds) for name, c in codes.items()}
        name = max(margins, key=margins.get)
        if margins[name] <= threshold:
            return None
        key, t = codes[name], targets(y, k)
        first = pd.Series(np.arange(len(key))).groupby(key).first().to_numpy()
        sums = np.stack([np.bincount(key, t[:, j], len(first)) for j in range(t.shape[1])], axis=1)
        statistic = cls(name, list(classes), [texts[name][row] for row in first], sums.tolist(),
                        np.bincount(key).tolist(), t.mean(axis=0).tolist(), M, round(margins[name], 2))
        return statistic, statistic.scale(out_of_fold(key, t, folds))

    @property
    def names(self) -> list[str]:
        """Its features' names: one, or one per class for 3+ classes."""
        if len(self.classes) > 2:
            return [f"{self.column} ({NAME}: {c})" for c in self.classes]
        return [f"{self.column} ({NAME})"]

    def scale(self, means: np.ndarray) -> np.ndarray:
        """Shrunk means as the model sees them: a logit (two classes), log shares (more)."""
        p = np.clip(means, EDGE, 1 - EDGE)
        return np.log(p / (1 - p)) if len(self.classes) == 2 else np.log(p)

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's features from every training row; a level never seen gets the prior."""
        sums, counts, prior = np.asarray(self.sums, float), np.asarray(self.counts, float), np.asarray(self.prior)
        means = np.vstack([(sums + self.m * prior) / (counts[:, None] + self.m), prior])
        lookup = {level: i for i, level in enumerate(self.levels)}
        rows = [lookup.get(level, len(self.levels)) for level in cell_text(frame[self.column])]
        return self.scale(means[rows])

    def describe(self) -> str:
        """One line for the column description: which column, how many levels, why, and how it is kept leak-free."""
        what = "share of the second class (as a logit)" if len(self.classes) == 2 else "share of each class (as a log)"
        return (f"{self.column}: a repeated key ({len(self.levels)} levels, {self.margin:g} standard errors better "
                f"out of fold than the overall mean and its bins) -> also the training rows' {what} of its level, "
                f"shrunk toward the overall one by {self.m:g} rows; out of fold on the training rows, so none reads "
                "its own target")
