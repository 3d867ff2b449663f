"""Numbers as people write them in cells: "1,234.5" and "1.234,5", "1 234", a currency sign ("$1,234.50",
"1.234,50 €", "(12.00)" for -12), a percent sign ("12%") or a unit ("12 kg") shared by the whole column.

A column is read as written, not cell by cell: its cells together say whether a comma is a decimal mark or groups
thousands, and a sign or unit counts only when every cell that has one has the same one ("12 kg" beside "500 g"
stays text: the numbers are not in one unit). Values keep the unit they were written in: "12%" is 12.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

THOUSANDS = r"[-+]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?"   # 1,234 and 1,234,567.5: commas grouping digits
DECIMAL_COMMA = r"[-+]?\d+,\d+"                          # 3,5 (and 1,234 in a column of decimal commas)
POINT_GROUPS = r"[-+]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"      # 1.234 and 1.234.567,5: points grouping digits
POINT_THEN_COMMA = r"[-+]?\d{1,3}(?:\.\d{3})+,\d+"       # 1.234,5: only a decimal comma reads it
DECIMAL_POINT = r"[-+]?\d*\.\d+"                          # 3.5 (or 1.234, which POINT_GROUPS reads too)
CURRENCY = "$€£¥₹"
MINUS = "\u2212"
_WRITTEN = (rf"^(?P<sign>[-+]?)(?P<pre>[{CURRENCY}]?)\s*(?P<body>[-+]?\d[\d.,' \u00a0\u202f]*?)\s*"
            rf"(?P<post>%|‰|[{CURRENCY}]|°[CF]|[^\W\d_](?:[^\W\d_]|[/°²³]){{0,7}}\.?)?$")
_BRACKETED = rf"^\((?=[-+\d{CURRENCY}])([^()]*\d[^()]*)\)$"   # (1,234.50) for -1234.5
_NOT_A_DIGIT_MARK = r"[^-+\d.,'() \u00a0\u202f]"   # a sign or a unit's letter: cells worth reading for one
_NUMBER_LIKE = rf"[-+(]?[{CURRENCY}]?\s*[-+]?\.?\d[\d.,' \u00a0\u202f]*\)?\s*[^\d\s]{{0,8}}"   # no date, no time
_SPACE_GROUP = r"(?<=\d)[ '\u00a0\u202f](?=\d{3}(?:\D|$))"   # 1 234 567 and 1'234: spaces grouping digits
MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january",
          "february", "march", "april", "june", "july", "august", "september", "october", "november", "december"}


def _matches(text: pd.Series, pattern: str) -> pd.Series:
    return text.str.fullmatch(pattern).fillna(False).astype(bool)


def affix(text: pd.Series) -> tuple[str, pd.Series] | None:
    """(the sign or unit the column's numbers are written with, the cells without it) when every cell that has
    one has the same one (a plural aside) and it is no month's name (15 Jan is a date); None when no cell has one
    or they differ."""
    parts = text.str.extract(_WRITTEN)
    marked = parts["pre"].fillna("").str.len().gt(0) | parts["post"].notna()
    if not marked.any():
        return None
    written = (parts["pre"].fillna("") + "|" + parts["post"].fillna(""))[marked]
    if written.map(_singular).nunique() > 1:
        return None
    pre, post = written.iloc[0].split("|")
    if post.lower().rstrip(".") in MONTHS:
        return None
    bare = (parts["sign"].fillna("") + parts["body"].fillna("")).where(marked, text)
    return pre or post, bare


def _singular(sign: str) -> str:
    """A unit as one word whether written once or many times: '1 year' and '2 years' share 'year' (plurals of four
    letters or more only: 'days' is 'day', 'ms' is not 'm')."""
    return sign[:-1] if len(sign) >= 4 and sign.endswith("s") else sign


def plain_numbers(text: pd.Series) -> pd.Series:
    """`text` (stripped cells) as pandas reads numbers: without a shared currency sign or unit, without spaces
    grouping digits, and with the column's decimal mark as a point. The mark is a comma when some cell can only be
    read that way (3,5 or 1.234,5) and none only the other way (3.5 or 1,234.5); elsewhere commas group
    thousands. Each distinct cell is read once (every decision above depends only on which cells occur), and only
    cells shaped like a number are looked at."""
    codes, distinct = pd.factorize(text)
    cells = pd.Series(distinct, dtype=object)   # Python's regular expressions: no compiling per call
    if cells.str.contains(MINUS, regex=False).any():   # typeset minus signs, as copied from documents
        cells = cells.str.replace(MINUS, "-", regex=False)
    numeric = _matches(cells, _NUMBER_LIKE)
    if not numeric.any():
        return text
    read = cells.where(~numeric, _plain(cells[numeric])).to_numpy(dtype=object)
    return pd.Series(np.where(codes >= 0, read[np.maximum(codes, 0)], None), index=text.index, dtype="string")


def _plain(text: pd.Series) -> pd.Series:
    if text.str.startswith("(").any():
        text = text.str.replace(_BRACKETED, r"-\1", regex=True)   # accountants write negative amounts in brackets
    written = affix(text) if text.str.contains(_NOT_A_DIGIT_MARK).any() else None
    if written is not None:
        text = written[1]
    if text.str.contains(r"\d[ '\u00a0\u202f]\d").any():
        text = text.str.replace(_SPACE_GROUP, "", regex=True)
    comma_only = (_matches(text, DECIMAL_COMMA) & ~_matches(text, THOUSANDS)) | _matches(text, POINT_THEN_COMMA)
    point_only = ((_matches(text, DECIMAL_POINT) & ~_matches(text, POINT_GROUPS))
                  | (_matches(text, THOUSANDS) & text.str.contains(".", regex=False).fillna(False)))
    if comma_only.any() and not point_only.any():
        european = _matches(text, POINT_GROUPS) | _matches(text, DECIMAL_COMMA)
        return text.where(~european, text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    grouped = _matches(text, THOUSANDS)
    return text.where(~grouped, text.str.replace(",", "", regex=False))
