"""What fit says about the data before training: columns that give the answer away, and levels that only the
held-out rows have.

A column that alone predicts the target almost perfectly is usually the answer in disguise (the same day's
return beside the market's direction, a total beside its parts): the model looks superb and fails when that
column is not known yet. Each column (with every feature made from it) is judged by a small decision tree fitted
on the training rows and scored on the validation rows. The bar is high, so that a merely strong column (petal
width among irises: about 95% right) is not called a leak.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .preprocess import Preprocessor
from .split import Split
from .target import Target
from .tree import tree_predictions

LEAK_R2 = 0.98              # a single column explaining this much of the validation variance ...
LEAK_ACCURACY = 0.98        # ... or right this often, and erring at most LEAK_ERROR_SHARE of the majority
LEAK_ERROR_SHARE = 0.1      # class's errors (so 99.9% on a 99% majority)
MIN_LEAK_ROWS = 20          # fewer validation rows than this judge nothing
LEAVES = 32


def _leak_score(values: np.ndarray, y: np.ndarray, split: Split, classes: bool) -> tuple[float, float]:
    """(the column's validation score alone, the score that makes it a leak): R2 and LEAK_R2 for numbers;
    accuracy and the accuracy of a near-perfect column for classes."""
    fit, val = split.fit, split.val
    predicted = tree_predictions(values[fit], y[fit], values[val], classes, LEAVES, min_leaf=3)
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
        score, bar = _leak_score(inputs[:, places], answers, split, classes)
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
        if not len(rows):
            continue
        _, _, unseen = only_text.transform(frame.iloc[rows])
        notes += [f"note: {count} of {len(rows)} {part} rows have a {name!r} level that training never saw; the "
                  "model gives it no effect of its own" for name, count in unseen.items()]
    return notes
