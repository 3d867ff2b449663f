"""What fit says about the data before training: columns that give the answer away, and levels that only the
held-out rows have.

A column that alone predicts the target almost perfectly is usually the answer in disguise (the same day's
return beside the market's direction, a total beside its parts): the model looks superb and fails when that
column is not known yet. Each column is judged by the simplest predictor there is, the training rows' average
(or commonest class) in each of its value bins, scored on the validation rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .preprocess import Preprocessor
from .split import Split
from .target import Target

LEAK_R2 = 0.95              # a single column explaining this much of the validation variance ...
LEAK_ERROR_SHARE = 0.2      # ... or erring at most this share of the majority class's errors (accuracy >= 0.95)
LEAK_ACCURACY = 0.95
MIN_LEAK_ROWS = 20          # fewer validation rows than this judge nothing
BINS = 32


def _bins(values: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Bin numbers of every row: the value itself when the training rows have few, else training quantiles."""
    levels = np.unique(values[fit])
    edges = levels if len(levels) <= 2 * BINS else np.unique(np.quantile(values[fit], np.linspace(0, 1, BINS + 1)))
    return np.searchsorted(edges, values)


def _binned_predictions(bins: np.ndarray, y: np.ndarray, fit: np.ndarray, val: np.ndarray, classes: bool):
    """Each validation row's prediction: its bin's training mean (or commonest class); the overall one for a bin
    the training rows never filled."""
    frame = pd.DataFrame({"bin": bins[fit], "y": y[fit]})
    if classes:
        per_bin, overall = frame.groupby("bin")["y"].agg(lambda s: s.mode().iloc[0]), pd.Series(y[fit]).mode().iloc[0]
    else:
        per_bin, overall = frame.groupby("bin")["y"].mean(), float(np.mean(y[fit]))
    return pd.Series(bins[val]).map(per_bin).fillna(overall).to_numpy()


def _leak_score(values: np.ndarray, y: np.ndarray, split: Split, classes: bool) -> tuple[float, float]:
    """(the single column's validation score, the score that makes it a leak): R2 and LEAK_R2 for numbers;
    accuracy and the accuracy a near-perfect column reaches for classes."""
    fit, val = split.fit, split.val
    predicted = _binned_predictions(_bins(values, fit), y, fit, val, classes)
    if classes:
        majority = float(np.mean(y[val] == pd.Series(y[fit]).mode().iloc[0]))
        bar = max(LEAK_ACCURACY, 1 - LEAK_ERROR_SHARE * (1 - majority))
        return float(np.mean(predicted == y[val])), bar
    spread = float(np.sum((y[val] - y[val].mean()) ** 2))
    return (1 - float(np.sum((predicted - y[val]) ** 2)) / spread if spread > 0 else 0.0), LEAK_R2


def leak_warnings(pre: Preprocessor, x: torch.Tensor, y: torch.Tensor, target: Target, split: Split) -> list[str]:
    """One warning per input column that alone predicts the target almost perfectly on the validation rows."""
    if len(split.val) < MIN_LEAK_ROWS:
        return []
    classes = target.task == "classification"
    inputs, answers, found = x.numpy(), y.numpy(), []
    for name, places in pre.feature_positions().items():
        score, bar = max(_leak_score(inputs[:, place], answers, split, classes) for place in places)
        if score >= bar:
            what = f"accuracy {score:.3f}" if classes else f"R2 {score:.3f}"
            found.append(f"warning: column {name!r} alone predicts {target.name!r} almost perfectly on the validation "
                         f"rows ({what}); if it is not known when you predict, it leaks the answer: --drop {name}")
    return found


def unseen_level_notes(pre: Preprocessor, frame: pd.DataFrame, split: Split) -> list[str]:
    """A note per text column whose validation or test rows hold levels the training rows never had (months and
    whole-number codes are left unsaid: their numeric side still carries them)."""
    text = [c for c in pre.columns if c.kind == "categorical"]
    names = {c.name for c in text}
    only_text = Preprocessor(text, [], [spec for spec in pre.categorical if spec.name in names])
    notes = []
    for part, rows in (("validation", split.val), ("test", split.test)):
        _, _, unseen = only_text.transform(frame.iloc[rows])
        notes += [f"note: {count} of {len(rows)} {part} rows have a {name!r} level that training never saw; the "
                  "model gives it no effect of its own" for name, count in unseen.items()]
    return notes
