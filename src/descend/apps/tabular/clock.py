"""Reading times of day written without a date ("13:15", "7:05:30", "1:15 PM"): a clock, not a date.

pandas reads "13:15" as 13:15 on the day it runs, so such a column would pass for dates of today: the table would
count as dated (chained validation, clipped numbers) and gain today's weekday, month and years since 2000, parts that
say nothing. What the cells do say is the hour of the day, read here as hours since midnight; a cell that is no
time of day (a typo such as 9.12) is read as empty, as a date column's unreadable cells are.
"""
from __future__ import annotations

import pandas as pd

CLOCK = r"^\s*(\d{1,2}):([0-5]\d)(?::([0-5]\d(?:[.,]\d+)?))?\s*(?:([AaPp])\.?\s*[Mm]\.?)?\s*$"


def clock_hours(series: pd.Series) -> pd.Series:
    """Each cell's time of day as hours since midnight (13:15 -> 13.25, 1:15 PM -> 13.25, 12:30 AM -> 0.5); NaN
    for an empty cell and for one that is no time of day (a date, a word, 25:00, 13:15 PM)."""
    parts = series.astype("string").str.extract(CLOCK).astype(object).fillna("")
    hour, minute, second = (pd.to_numeric(parts[i].str.replace(",", "."), errors="coerce") for i in range(3))
    half = parts[3].str.lower()
    hours = hour.where((half == "") & (hour < 24), (hour % 12 + 12 * (half == "p")).where(hour.between(1, 12)))
    return (hours + minute / 60 + second.fillna(0.0) / 3600).astype(float)
