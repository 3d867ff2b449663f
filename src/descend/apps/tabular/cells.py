"""Cells descend can read: one plain value each (a number, text, a date, a truth value, or nothing). Parquet can
hold lists and structs in a cell; those are named before anything tries to count or sort them."""
from __future__ import annotations

from shlex import quote
from typing import Iterable

import numpy as np
import pandas as pd

from ...core.errors import DescendError

NESTED = (list, tuple, dict, set, np.ndarray)


def check_plain(frame: pd.DataFrame, names: Iterable[str], where: str) -> None:
    """Raise naming the first column of `names` in `frame` whose cells hold lists, arrays or structs."""
    for name in names:
        if name not in frame.columns or frame[name].dtype != object:
            continue
        cell = next((value for value in frame[name] if isinstance(value, NESTED)), None)
        if cell is not None:
            raise DescendError(f"column {name!r} of {where} holds {type(cell).__name__} values (a Parquet list or "
                               f"struct column); descend reads one plain value per cell: --drop {quote(name)}, or flatten it "
                               "into columns of their own")
