"""Leaving out what spreadsheets and exporters put around a table: comment lines above the header, columns with
neither a name nor a value (Excel's trailing `;;`), blank rows and a totals row at the bottom, spaces around
names and cells, and the many ways people write "no value here" ("?", "-", "n/a", "#N/A", "NULL", ".").

Each of these would otherwise become data: a trailing empty column a refused duplicate name, "Total" a row whose
target is the sum of all the others, "?" a text level that turns a number column into categories.
"""
from __future__ import annotations

import re
from typing import Callable

import pandas as pd

from .numerals import plain_numbers

Say = Callable[[str], None]

# Cells that mean "no value" besides those pandas already reads as missing ('', 'NA', 'N/A', 'NULL', 'NaN',
# '#N/A', 'None', ...), in any case: unknowns in survey files (?), dashes in reports, SAS and Stata's '.', and the
# error values Excel writes where a formula failed. Words that can also name a class or a level ('none' beside
# 'mild' and 'severe') count only among numbers.
MISSING_MARKERS = frozenset({"?", "-", "--", "---", ".", "na", "n/a", "n.a.", "null", "nan", "#n/a", "#nv",
                             "#div/0!", "#value!", "#ref!", "#name?", "#num!", "#null!"})
MISSING_AMONG_NUMBERS = frozenset({"none", "missing", "unknown"})
TOTAL_WORDS = re.compile(r"(?i)(?:grand\s+|sub-?)?totals?:?|sum:?|summe|gesamt|totaal|totale?")


def comment_lines(lines: list[str]) -> int:
    """How many lines at the top are comments (starting with '#') or blank, as exporters write them above the
    header (a tool's name, a date, the units)."""
    count = 0
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            break
        count += 1
    return count


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and
                                                                                not value.strip())


def strip_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Names and text cells without the spaces around them (`Sales ` is `Sales`); text cells that hold only spaces
    become missing."""
    frame.columns = [str(name).strip() or f"Unnamed: {i}" for i, name in enumerate(frame.columns)]
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.StringDtype):
            text = column.str.strip()
            frame[name] = text.mask(text == "")
        elif pd.api.types.is_object_dtype(column):   # text mixed with other values (R's TRUE/FALSE/NA)
            frame[name] = column.map(lambda v: (v.strip() or None) if isinstance(v, str) else v)
    return frame


def missing_markers(frame: pd.DataFrame, path: object, say: Say) -> pd.DataFrame:
    """Cells holding a MISSING_MARKERS value made missing, with one note counting them."""
    found: dict[str, int] = {}
    for name in frame.columns:
        column = frame[name]
        if not _is_text(column):
            continue
        markers = _markers(column.dropna().unique())
        if not markers:
            continue
        marked = column.isin(markers)
        for value, count in column[marked].value_counts().items():
            found[value] = found.get(value, 0) + int(count)
        frame[name] = column.mask(marked)
    if found:
        shown = ", ".join(repr(v) for v in sorted(found, key=lambda v: (-found[v], v))[:4])
        say(f"note: {path}: {sum(found.values())} cell(s) holding {shown} read as missing")
    return frame


def _markers(distinct) -> list:
    """The values among a column's `distinct` values that mean "no value" (see MISSING_MARKERS)."""
    words = {v: str(v).lower() for v in distinct}
    markers = [v for v, word in words.items() if word in MISSING_MARKERS]
    among = [v for v, word in words.items() if word in MISSING_AMONG_NUMBERS]
    others = pd.Series([v for v in distinct if v not in markers and v not in among], dtype="string")
    if among and len(others) and pd.to_numeric(plain_numbers(others), errors="coerce").notna().all():
        markers += among
    return markers


def unnamed_empty_columns(frame: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """The frame without columns that have no name in the header and no value in any row."""
    names = [frame.columns[i] for i, name in enumerate(header[:frame.shape[1]])
             if not name.strip() and frame.iloc[:, i].isna().all()]
    return frame.drop(columns=names)


def trailing_rows(frame: pd.DataFrame, path: object, say: Say) -> pd.DataFrame:
    """The frame without blank rows at its end and without a last row that names itself a total ('Total',
    'Sum', 'Grand total' as its first filled cell), which a spreadsheet adds under its data; the total is said."""
    end = len(frame)
    while end and all(_blank(value) for value in frame.iloc[end - 1]):
        end -= 1
    frame = frame.iloc[:end]
    word = _totals_word(frame.iloc[-1]) if end else None
    if word is not None:
        say(f"note: {path}: the last data row ({end}) starts {word!r}, a totals row; left out")
        frame = frame.iloc[:-1]
    return frame


def _totals_word(row: pd.Series) -> str | None:
    """The first filled cell of `row` when it is a word like 'Total', else None."""
    filled = [v for v in row if not _blank(v)]
    first = filled[0] if filled else None
    return first if isinstance(first, str) and TOTAL_WORDS.fullmatch(first.strip()) else None
