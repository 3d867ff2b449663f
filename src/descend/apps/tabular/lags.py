"""Finding the target's own earlier values among the number columns: the lags a forecaster adds to a dated table.

Where a dated target trends, its later values leave the training range, and so do its lags, one step behind:
the straight line through them (an autoregression) is the forecast. Clipping them to the training range, as the
networks clip every number, would hold the forecast at the highest level training saw. So the linear model takes
a lag as it is, and clips only the other numbers (whose drift beyond the training range need not carry on along
a straight line). A lag is found by its values, not its name: in time order, the column equals the target k rows
earlier on nearly every row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import parse_numbers

MAX_LAG = 400   # rows: more than a year of days, many years of weeks or months
MATCHING = 0.9   # share of the rows (with both values present) on which a lag equals the target k rows earlier


def lag_of(values: np.ndarray, target: np.ndarray) -> int | None:
    """The k >= 1 for which values[i] == target[i - k] on at least MATCHING of the rows where both are present
    (the smallest such k up to MAX_LAG), else None; both arrays are in time order. Candidates come from the last
    present value's earlier occurrences in the target, so the check costs a pass per candidate, not per k."""
    present = np.flatnonzero(~np.isnan(values))
    if not len(present):
        return None
    last = present[-1]
    earlier = np.flatnonzero(np.isclose(target[max(0, last - MAX_LAG):last], values[last]))
    for k in sorted(min(last, MAX_LAG) - earlier):
        now, before = values[k:], target[:-k]
        both = ~np.isnan(now) & ~np.isnan(before)
        if both.sum() >= 2 and np.isclose(now[both], before[both]).mean() >= MATCHING:
            return int(k)
    return None


def target_lags(frame: pd.DataFrame, target: str, columns: list[str]) -> dict[str, int]:
    """The columns (among `columns`, numbers) that hold the target's earlier values, with their lag in rows;
    `frame` holds the training rows in time order; the target holds numbers."""
    y = parse_numbers(frame[target])[0].to_numpy(float)
    found = {}
    for name in columns:
        k = lag_of(parse_numbers(frame[name])[0].to_numpy(float), y)
        if k is not None:
            found[name] = k
    return found
