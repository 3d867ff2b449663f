"""Carving rows into training, validation and test: by time (the future is tested) or at random."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...core.checks import check_choice
from ...core.errors import DescendError
from .columns import first_bad, known_columns
from .dates import as_dates, day_first

SPLITS = ("time", "random")
MIN_ROWS = 10
BACKWARD_SHARE = 0.1   # rows that step back in time more often than this are out of date order for a time split


@dataclass
class Split:
    """Row positions of each part; `fit` rows take gradient steps, `val` rows pick the epoch, `test` rows grade."""

    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def train(self) -> np.ndarray:
        return np.concatenate([self.fit, self.val])


def check_fraction(value: float, option: str, allow_zero: bool = False) -> float:
    """A fraction of the rows: more than 0 (or exactly 0 where `allow_zero`: no such part), at most 0.9."""
    if not (0.0 < value <= 0.9 or (allow_zero and value == 0)):
        low = "0 (none)" if allow_zero else "0"
        raise DescendError(f"{option} must be a fraction between {low} and 0.9, got {value}")
    return value


def time_order(frame: pd.DataFrame, time_column: str | None, dayfirst: bool | None = None) -> np.ndarray:
    """Row positions in time order: as given, or sorted (stably) by `time_column` read as dates (day or month
    first as the data show, else as `dayfirst` says) or numbers."""
    if time_column is None:
        return np.arange(len(frame))
    if time_column not in frame.columns:
        raise DescendError(f"--time-column {time_column!r} is not a column of the data; "
                           f"{known_columns(time_column, frame.columns)}")
    values = frame[time_column]
    key = pd.to_numeric(values, errors="coerce")
    if key.isna().any():
        key = as_dates(values, day_first(values, time_column, dayfirst))
    if key.isna().any():
        row, value = first_bad(values, key.isna())
        cell = "an empty cell" if pd.isna(value) else repr(value)
        raise DescendError(f"--time-column {time_column!r} must hold dates or numbers; data row {row} has {cell}")
    return np.argsort(key.to_numpy(), kind="stable")


def date_order_note(frame: pd.DataFrame, name: str, dayfirst: bool | None) -> str | None:
    """A note when a time split by row order would not test the latest rows: the rows of `frame` run from newest
    to oldest by the date column `name` (as exports of prices and accounts often do), jump back in time often, or
    a few times (a panel saved one series after another: the last rows are then the last series, not the latest
    dates); None when they run forward."""
    dates = as_dates(frame[name], dayfirst).dropna()
    steps = np.sign(np.diff(dates.to_numpy().astype("datetime64[ns]").astype(np.int64)))
    back, forward = int((steps < 0).sum()), int((steps > 0).sum())
    if back == 0:
        return None
    fix = f"--time-column {name} puts them in time order"
    if back <= BACKWARD_SHARE * (back + forward):
        times = "once" if back == 1 else f"{back} times"
        return (f"note: the rows go back in time by {name!r} {times}, as a panel saved one series after another "
                f"does, so the test rows are the last series' rows, not the latest dates; {fix} across the series")
    if forward <= BACKWARD_SHARE * (back + forward):
        first, last = (f"{d:%Y-%m-%d}" for d in (dates.iloc[0], dates.iloc[-1]))
        return (f"note: the rows run from newest to oldest by {name!r} ({first} first, {last} last), so the test "
                f"rows are the oldest, not the newest; {fix}")
    return (f"note: the rows are not in {name!r} order ({back} of {back + forward} steps from one row to the next go "
            f"back in time), so the last rows are not the latest; {fix}, or --split random draws the test rows")


def _tail(count: int, fraction: float) -> int:
    return min(max(1, int(round(count * fraction))), count - 1)


def split_rows(order: np.ndarray, mode: str, test_fraction: float, val_fraction: float, seed: int,
               target: str | None = None) -> Split:
    """Test = the last `test_fraction` in time (or a random share; none when it is 0); validation likewise from
    what is left. `target` names the column in the message for too few rows."""
    mode = check_choice("split", mode, SPLITS)
    if len(order) < MIN_ROWS:
        column = f"a value in the target column {target!r}" if target else "a target"
        raise DescendError(f"the data has {len(order)} row(s) with {column}; fit needs at least {MIN_ROWS} to carve "
                           "training, validation and test rows: add rows, or check --target names the column to "
                           "predict")
    if mode == "random":
        order = np.random.default_rng(seed).permutation(order)
    n_test = _tail(len(order), test_fraction) if test_fraction > 0 else 0
    train, test = order[:len(order) - n_test], order[len(order) - n_test:]
    n_val = _tail(len(train), val_fraction)
    return Split(fit=train[:-n_val], val=train[-n_val:], test=test)
