"""Whole numbers that code the group a row belongs to (a brood, a site, a subject's id) are read as categories,
not amounts (columns.py `_grouping_code`), and whole-number levels keep one name with or without empty cells."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from descend.apps.tabular.columns import infer_column, infer_columns
from descend.apps.tabular.preprocess import Preprocessor


def _codes(groups: int, rows: int, start: int = 600, seed: int = 0) -> pd.Series:
    """`rows` draws among `groups` whole-number codes from `start`, spaced 1 to 9 apart (as codes often are)."""
    rng = np.random.default_rng(seed)
    levels = start + np.cumsum(rng.integers(1, 10, groups))
    return pd.Series(rng.choice(levels, rows))


@pytest.mark.parametrize("name", ["BROOD", "site_id", "SubjectCode", "county"])
def test_recurring_codes_named_as_groups_are_categories(name):
    column = infer_column(name, _codes(100, 400), 400)
    assert column.kind == "categorical"
    levels = _codes(100, 400).nunique()
    assert column.reason.startswith(f"whole numbers with {levels} values, {400 / levels:.1f} rows each on average, "
                                    "named as a group's code")
    assert f"--numeric {name} for numbers" in column.reason


@pytest.mark.parametrize("name, values, kind", [
    ("weight", _codes(100, 400), "numeric"),                 # an amount's name: the same numbers stay numbers
    ("brood", _codes(300, 400, seed=1), "numeric"),          # most levels once: too few repeats to learn a group
    ("site", _codes(20, 400), "ordinal"),                    # few levels: the integer reading one-hots them already
    ("state", _codes(30, 1500), "numeric"),                  # 50 rows a level: enough to learn them as numbers
    ("site", _codes(100, 400) - 1200, "numeric"),            # below 0: no code
    ("site", _codes(100, 400) + 0.5, "numeric"),             # not whole numbers
])
def test_other_columns_keep_their_reading(name, values, kind):
    assert infer_column(name, values, len(values)).kind == kind


def test_a_code_with_an_empty_cell_has_the_same_levels():
    """A whole-number code read as floats (one empty cell) names its levels as written, so a file without gaps
    (read as integers) finds every level it saw in training."""
    codes = _codes(40, 200)
    gapped = pd.DataFrame({"plot": codes.astype(float).where(codes.index != 5), "y": np.arange(200.0)})
    whole = pd.DataFrame({"plot": codes, "y": np.arange(200.0)})
    pre = Preprocessor.fit(infer_columns(gapped, "y")[0], gapped)
    levels = pre.categorical[0].levels
    assert "(missing)" in levels and str(codes.iloc[0]) in levels and not any(".0" in str(v) for v in levels)
    x_whole, x_gap = pre.transform(whole)[1][:, 0], pre.transform(gapped)[1][:, 0]
    assert (x_whole != 0).all()   # no unseen level (code 0)
    assert (x_whole == x_gap)[codes.index != 5].all()
