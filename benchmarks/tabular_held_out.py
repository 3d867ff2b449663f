"""Held-out tables for the tabular model: bundled public tables that `benchmarks/tabular_suite.py` does not use, run
the same way (the same contenders, splits, seeds and modes), so that a change kept for the suite is also checked on
data it was not chosen on. None has dates (the dated tables have their own held-out list).

- iris (scikit-learn, 150 rows, 3 classes) and digits (scikit-learn, 1,797 rows, 64 pixel counts, 10 classes);
- engel (statsmodels, 235 rows: food spending from income, spread growing with income);
- cancer (statsmodels, 301 rows: cancer deaths, a count, from the county's population);
- modechoice (statsmodels, 840 rows: whether a traveller chose this mode, from its times, costs and income);
- randhie_disea (statsmodels' RAND health data, rows 10,000-20,189, which the suite's randhie10k leaves out:
  the chronic-disease index from the other columns; 8,152 rows, so one validation slice, not folds).
Run (a few minutes on 2 busy cores):
    PYTHONPATH=src nice python benchmarks/tabular_held_out.py [--tables iris,engel] [--modes cli] [--seeds 3]
"""
from __future__ import annotations

import pandas as pd

from tabular_suite import Table, _sklearn, _statsmodels, main   # benchmarks/ is on the path when a script in it runs


def _modechoice() -> pd.DataFrame:   # four rows per traveller (one per mode); the traveller's number is no feature
    frame = _statsmodels("modechoice").drop(columns=["individual"])
    frame["choice"] = frame["choice"].map({0.0: "no", 1.0: "yes"})
    return frame


def _randhie_rest() -> pd.DataFrame:
    return _statsmodels("randhie").iloc[10_000:].reset_index(drop=True)


HELD_OUT = [
    Table("iris", _sklearn("load_iris", "species", labels=True), "species", "classification"),
    Table("digits", _sklearn("load_digits", "digit", labels=True), "digit", "classification"),
    Table("engel", lambda: _statsmodels("engel"), "foodexp", "regression"),
    Table("cancer", lambda: _statsmodels("cancer"), "cancer", "regression"),
    Table("modechoice", _modechoice, "choice", "classification"),
    Table("randhie_disea", _randhie_rest, "disea", "regression"),
]

if __name__ == "__main__":
    main(HELD_OUT, __doc__)
