"""Deciding what each column is (numeric, boolean, small-integer code, categorical, date) and saying why."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...core.errors import DescendError

KINDS = ("numeric", "boolean", "ordinal", "categorical", "date", "datetime")
MAX_ORDINAL_LEVELS = 24   # integer columns with 3..24 values (hour, weekday, season) get one-hot as well
ID_SHARE = 0.5            # a text column with distinct values in more than half the rows looks like an identifier
_TRUE = {"true", "yes", "y", "t"}
_FALSE = {"false", "no", "n", "f"}


@dataclass
class Column:
    """One input column: its kind and, in words, why it was given that kind (shown to the user)."""

    name: str
    kind: str
    reason: str


def _present(series: pd.Series) -> pd.Series:
    values = series.dropna()
    return values[values.astype(str).str.strip() != ""] if values.dtype == object else values


def data_row(series: pd.Series, position: int) -> int:
    """The file's data row (1-based) of a cell: tables read from a file keep each row's position as its label,
    also after rows are left out."""
    label = series.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1


def first_bad(series: pd.Series, bad: pd.Series) -> tuple[int, object]:
    """(data row, value) of the first cell where `bad` holds."""
    position = int(np.flatnonzero(bad.to_numpy())[0])
    return data_row(series, position), series.iloc[position]


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(the cells as floats, NaN where empty or not a number; a mask of the cells holding text, not numbers)."""
    if series.dtype.kind in "biuf":
        return series.astype(float), pd.Series(False, index=series.index)
    text = series.astype("string").str.strip()
    parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
    return parsed.astype(float), (parsed.isna() & text.notna() & (text != "")).astype(bool)


def numbers(series: pd.Series, name: str) -> pd.Series:
    """`series` as floats (empty cells NaN); text among numbers raises naming the column and the first bad row."""
    parsed, bad = parse_numbers(series)
    if bad.any():
        row, value = first_bad(series, bad)
        raise DescendError(f"column {name!r} holds numbers but data row {row} has {str(value).strip()!r}; fix or "
                           f"empty that cell (when fitting, --categorical {name} treats the column as text)")
    return parsed


def _mostly_numbers(values: pd.Series) -> bool:
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return parsed.notna().mean() >= 0.9


def _date_column(name: str, values: pd.Series) -> Column:
    """A date column; one whose times of day vary also gets the hour of the day."""
    stamps = as_dates(values).dropna()
    if (stamps != stamps.dt.normalize()).any():
        return Column(name, "datetime", "date and time: hour of day, weekday and month one-hot, day of year plain "
                      "and as sine/cosine")
    return Column(name, "date", "dates: weekday and month one-hot, day of year plain and as sine/cosine")


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.astype(str).head(200)
    if not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:]").all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce")
    return bool(parsed.notna().all())


def _infer_numeric(name: str, values: pd.Series) -> Column:
    distinct = values.nunique()
    integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if distinct <= 2 and set(values.unique()) <= {0, 1}:
        return Column(name, "boolean", "only 0 and 1")
    if integral and 3 <= distinct <= MAX_ORDINAL_LEVELS:
        return Column(name, "ordinal", f"integers with {distinct} values, used as a number and one-hot "
                      f"(--categorical {name} or --numeric {name} for one of them)")
    return Column(name, "numeric", f"numbers, {distinct} distinct values")


def infer_column(name: str, series: pd.Series, rows: int) -> Column | None:
    """The kind of one column, or None (with no Column) when it carries nothing: empty or constant."""
    values = _present(series)
    if values.nunique() <= 1:
        return None
    if series.dtype == bool:
        return Column(name, "boolean", "true/false")
    if series.dtype.kind in "iuf":
        return _infer_numeric(name, values)
    if pd.api.types.is_datetime64_any_dtype(series):
        return _date_column(name, values)
    lowered = set(values.astype(str).str.strip().str.lower().unique())
    if lowered <= _TRUE | _FALSE and lowered & _TRUE and lowered & _FALSE:
        return Column(name, "boolean", "true/false words")
    if _mostly_numbers(values):
        return _infer_numeric(name, numbers(series, name).dropna())
    if _looks_like_dates(values):
        return _date_column(name, values)
    distinct = values.nunique()
    if distinct > ID_SHARE * rows and distinct > 50:
        return Column(name, "identifier", f"text with {distinct} distinct values in {rows} rows looks like an "
                      f"identifier: left out (--categorical {name} to keep it)")
    return Column(name, "categorical", f"text with {distinct} levels")


def infer_columns(frame: pd.DataFrame, target: str, drop: tuple = (), categorical: tuple = (),
                  numeric: tuple = ()) -> tuple[list[Column], list[str]]:
    """Kinds for every column but the target, honouring the user's overrides; also the notes on left-out columns."""
    for option, names in (("--drop", drop), ("--categorical", categorical), ("--numeric", numeric)):
        for name in names:
            if name not in frame.columns:
                raise DescendError(f"{option} names column {name!r}, which the data does not have; "
                                   f"columns: {', '.join(frame.columns)}")
    columns, notes = [], []
    for name in frame.columns:
        if name == target or name in drop:
            notes += [f"{name}: left out (--drop)"] if name in drop else []
            continue
        if name in categorical:
            columns.append(Column(name, "categorical", "set by --categorical"))
            continue
        if name in numeric:
            numbers(frame[name], name)
            columns.append(Column(name, "numeric", "set by --numeric"))
            continue
        column = infer_column(name, frame[name], len(frame))
        if column is None:
            notes.append(f"{name}: left out (empty or a single value)")
        elif column.kind == "identifier":
            notes.append(f"{name}: {column.reason}")
        else:
            columns.append(column)
    if not columns:
        raise DescendError(f"no usable input columns besides the target {target!r}; the data needs at least one "
                           "column that varies")
    return columns, notes


def level_order(level: str) -> tuple:
    """Sort key for levels and classes: numbers by value first, then text alphabetically."""
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def as_dates(series: pd.Series) -> pd.Series:
    """A date column as datetimes; cells that are not dates become missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(series, errors="coerce")


def as_booleans(series: pd.Series, name: str) -> pd.Series:
    """A boolean column (0/1 or true/false words) as floats 0/1, NaN where empty; anything else raises naming
    the first cell that is neither."""
    if series.dtype.kind in "biuf":
        values = series.astype(float)
    else:
        text = series.astype("string").str.strip().str.lower()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        values[text.isin(_TRUE)] = 1.0
        values[text.isin(_FALSE)] = 0.0
    bad = series.notna() & ~values.isin([0.0, 1.0]) & (series.astype(str).str.strip() != "")
    if bad.any():
        row, value = first_bad(series, bad)
        raise DescendError(f"column {name!r} holds true/false values but data row {row} has {value!r}; use "
                           "0/1, true/false or yes/no, or empty that cell")
    return values.astype(float)
