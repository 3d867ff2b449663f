"""Reading date cells the way they were written: day/month/year or month/day/year, decided from the data.

Dates written with numbers only (15/01/2001, 01.02.2001, 1-2-01) do not say which number is the day. A first
number above 12 can only be a day, a second number above 12 only a day too; when no cell settles it, guessing
would silently swap days and months in every derived feature, so the user is asked once (--dayfirst or
--no-dayfirst). Dates with the year first (2001-01-15) or with month names have no such doubt.
"""
from __future__ import annotations

import warnings

import pandas as pd

from ...core.errors import DescendError

NUMERIC_DATE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})(?:\D|$)"
ZONED = r"\d:\d\d.*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)\s*$"
ZONE = r"(\d:\d\d(?::\d\d(?:[.,]\d+)?)?)\s*(?:Z|UTC|GMT)?(?:[+-]\d\d(?::?\d\d)?)?\s*$"   # 08:30+02:00
EXCEL_EPOCH = "1899-12-30"   # day 0 of Excel's serial dates (its 1900 leap-year bug makes day 60 the 29 February)
EXCEL_DAYS = (18264, 73051)   # serial numbers of 1950-01-01 and 2100-01-01: the dates a spreadsheet column holds
DATE_WORDS = {"date", "day", "datum", "fecha", "data", "dag", "dia", "when", "time"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NAMED = {"month": (MONTHS, 1), "weekday": (WEEKDAYS, 0)}   # kind: (the names in order, the first one's number)


def _readings(example: str, first: int, second: int) -> str:
    """Both readings of an ambiguous date in words: 'day/month/year (3 April)' and 'month/day/year (March 4)'."""
    return (f"add --dayfirst to read {example!r} as {first} {MONTHS[second - 1]}, or --no-dayfirst to read it as "
            f"{MONTHS[first - 1]} {second}")


def day_first(values: pd.Series, name: str, dayfirst: bool | None) -> bool | None:
    """Whether the dates in `values` put the day first: True or False from the data (a number above 12 in the
    first or second place) or, when no cell settles it, from `dayfirst`; None when the dates are not written as
    number/number/year. Raises when the data settle nothing and `dayfirst` is None, or contradict it."""
    parts = _numbers(values)
    if parts.empty:
        return None
    first, second = parts[0].astype(int), parts[1].astype(int)
    day_in_first, day_in_second = _days_in(parts)
    if day_in_first == day_in_second:   # neither settles it (or both: then these are not dates)
        if day_in_first or dayfirst is not None:
            return dayfirst
        at = int((first != second).to_numpy().argmax())   # an example that changes when read the other way
        example = str(values.loc[parts.index[at]]).strip()
        raise DescendError(f"column {name!r} has dates such as {example!r} that read as day/month or as month/day "
                           f"(no number above 12 says which); "
                           + _readings(example, int(first.iloc[at]), int(second.iloc[at])))
    found = day_in_first
    if dayfirst is not None and dayfirst != found:
        row = parts.index[int(((first if found else second) > 12).to_numpy().argmax())]
        raise DescendError(f"column {name!r} has {str(values.loc[row]).strip()!r}, which is "
                           f"{'day/month' if found else 'month/day'}/year, but "
                           f"{'--dayfirst' if dayfirst else '--no-dayfirst'} was given; drop that option")
    return found


def check_dates(series: pd.Series, name: str, dayfirst: bool | None, where: str) -> None:
    """Raise naming the first filled cell of a date column that reads as no date (a model given new rows would
    otherwise take it for the training median date without a word), or, for a model that met no number/number/year
    dates in training, new ones that no number above 12 settles (they would be guessed month first)."""
    parts = _numbers(series)
    if dayfirst is None and len(parts) and _days_in(parts) == (False, False):
        swapped = parts[0] != parts[1]
        if swapped.any():
            cell = str(series.loc[parts.index[int(swapped.to_numpy().argmax())]]).strip()
            raise DescendError(f"column {name!r} of {where} has dates such as {cell!r}, which read as day/month or "
                               "as month/day (no number above 12 says which), and the model met none such in "
                               "training; write them year first (2001-01-15)")
    filled = series.notna() & (series.astype("string").str.strip() != "")
    unread = filled & as_dates(series, dayfirst).isna()
    if unread.any():
        row = int(unread.to_numpy().argmax())
        raise DescendError(f"column {name!r} of {where} has {str(series.iloc[row]).strip()!r} in data row {row + 1}, "
                           "which is not a date; correct it, or empty the cell to have it read as unknown")


def _name_number(cell: object, kind: str) -> float:
    """The number of a month (1-12) or weekday (0 Monday - 6 Sunday) written as its name, full or cut to three or
    more letters, any case, a trailing dot allowed (Jan, sept., THURS); NaN for an empty cell or another word."""
    word = str(cell).strip().rstrip(".").lower() if pd.notna(cell) else ""
    names, first = NAMED[kind]
    found = [i for i, name in enumerate(names) if len(word) >= 3 and name.lower().startswith(word)]
    return float(found[0] + first) if found else float("nan")


def calendar_kind(values: pd.Series) -> str | None:
    """The kind of names a text column holds: "month" when every filled cell names a month, "weekday" when every
    one names a weekday (an ordered, cyclic quantity rather than unordered text); else None."""
    distinct = pd.Series(values.dropna().astype(str).unique())
    named = [kind for kind in NAMED if len(distinct) and distinct.map(lambda c: _name_number(c, kind)).notna().all()]
    return named[0] if named else None


def calendar_numbers(series: pd.Series, kind: str, name: str) -> pd.Series:
    """A month or weekday column's names as their numbers, NaN where empty; another word raises naming the cell
    (a model given it would otherwise take it for the training median without a word)."""
    numbers = series.map(lambda cell: _name_number(cell, kind)).astype(float)
    bad = numbers.isna() & series.notna() & (series.astype("string").str.strip() != "")
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DescendError(f"column {name!r} holds {kind} names but data row {row + 1} has "
                           f"{str(series.iloc[row]).strip()!r}; write a {kind} name ({NAMED[kind][0][0]} or "
                           f"{NAMED[kind][0][0][:3]}) or empty the cell")
    return numbers


def _numbers(values: pd.Series) -> pd.DataFrame:
    """The first, second and year numbers of the cells written number/number/year (other cells left out)."""
    return values.astype("string").str.extract(NUMERIC_DATE).dropna()


def _days_in(parts: pd.DataFrame) -> tuple[bool, bool]:
    """Whether some first number, and whether some second number, is above 12 (so only a day)."""
    return bool((parts[0].astype(int) > 12).any()), bool((parts[1].astype(int) > 12).any())


def excel_serials(words: set[str], values: pd.Series) -> bool:
    """Whether numbers under a name with a date word in it (`words`: the name's words) are Excel's serial dates,
    days since 1899-12-30: all of them between 1950 and 2100 (29613 is 27 January 1981). Without the name's word
    such numbers are as likely amounts or codes."""
    return bool(words & DATE_WORDS) and bool(values.between(*EXCEL_DAYS).all())


def from_serials(series: pd.Series) -> pd.Series:
    """Excel serial dates (days since 1899-12-30, a fraction for the time of day) as datetimes."""
    return pd.to_datetime(series, unit="D", origin=EXCEL_EPOCH)


def as_dates(series: pd.Series, dayfirst: bool | None = None) -> pd.Series:
    """A date column as datetimes; cells that are not dates become missing. Cells written number/number/year
    read day first when `dayfirst` says so, or, where it is None (a model that met no such cells in training,
    now given some), when their own numbers settle it. Cells with the year first or a month name are read as
    written whatever `dayfirst` says (pandas would read 2001-01-02 as 1 February under dayfirst). Numbers are
    Excel's serial dates."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_localize(None)
    if pd.api.types.is_numeric_dtype(series):   # a date column of numbers: spreadsheet serials (see infer_column)
        return from_serials(series)
    series = _wall_clock(series)
    parts = _numbers(series)
    if dayfirst is None and len(parts):
        day_in_first, day_in_second = _days_in(parts)
        dayfirst = day_in_first and not day_in_second
    numeric = series.index.isin(parts.index)
    if not numeric.any():
        return _parse(series, False)
    if numeric.all():
        return _parse(series, bool(dayfirst))
    dates = _parse(series.where(~numeric), False)
    dates[numeric] = _parse(series[numeric], bool(dayfirst))
    return dates


def _parse(series: pd.Series, dayfirst: bool) -> pd.Series:
    """pandas' reading of the cells in the format of the first; cells written otherwise (2001-01-15 beside
    2001-01-15 08:30, as spreadsheets write midnight) are then read one by one, so they are not lost."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(series, errors="coerce", dayfirst=dayfirst)
        again = dates.isna() & series.notna()
        if again.any():
            dates[again] = pd.to_datetime(series[again], errors="coerce", dayfirst=dayfirst, format="mixed")
    return dates


def _wall_clock(series: pd.Series) -> pd.Series:
    """Date-times as the clock on the wall showed them: a time zone written after the time (Z, +02:00, UTC) left
    off, so 08:00+02:00 is hour 8, as the shop's own hours are, and offsets that change with summer time still
    read as one column."""
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series
    text = series.astype("string")
    zoned = text.str.contains(ZONED).fillna(False).astype(bool)
    return text.where(~zoned, text[zoned].str.replace(ZONE, r"\1", regex=True)) if zoned.any() else text
