"""Tables from a statistics textbook that nothing in this repository was ever tuned on: the data sets of "An
Introduction to Statistical Learning" (James, Witten, Hastie, Tibshirani, Taylor), as the ISLP package (BSD
licence) ships them, run as `benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and
modes: `descend fit` with no flags against ridge/logistic regression, LightGBM, CatBoost and scikit-learn's MLP).

- Auto (mpg, 392 cars; the car's name is text nearly unique per row), Boston (medv, 506 tracts),
  Carseats (Sales, 400 stores, three text columns), College (Apps, 777 colleges: a skewed count),
  Credit (Balance, 400 card holders, many exactly 0; its ID column, a row number, is left out);
- Hitters (Salary, 263 players: the 59 without a salary are left out, as every contender would);
- Wage (wage, 3,000 men; logwage, the target's logarithm, is left out);
- Default (default, 10,000 card holders, 3.3% Yes: an imbalanced class), OJ (Purchase, 1,070 juice buyers),
  Caravan (Purchase, 5,822 customers, 85 coded columns, 6% Yes);
- Weekly (Direction of the stock market, 1,089 weeks 1990-2010, from the previous weeks' returns and volume;
  Today, the week's own return, is left out since it is the answer; kept in time order, so the test weeks are the
  last ones, as the book splits it).
The CSVs are read from the ISLP wheel (`pip download ISLP==0.6.0 --no-deps`; --wheel, default
/tmp/islp/islp-0.6.0-py3-none-any.whl) or, when that file is absent, from an installed ISLP package (found, never
imported: its dependencies are heavy). Nothing is copied into the repository.
Run (about 20 min on 2 busy cores):
    PYTHONPATH=src nice python benchmarks/islp_tables.py [--wheel PATH] [--tables Auto,OJ] [--modes cli] [--seeds 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import zipfile
from pathlib import Path
from typing import Callable

import pandas as pd

from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

WHEEL = Path("/tmp/islp/islp-0.6.0-py3-none-any.whl")
_source: dict[str, Path] = {}


def read_islp(name: str) -> pd.DataFrame:
    """ISLP's data set `name` as the book's CSV holds it, from the wheel or the installed package."""
    wheel = _source.get("wheel", WHEEL)
    if wheel.is_file():
        with zipfile.ZipFile(wheel) as archive:
            return pd.read_csv(io.BytesIO(archive.read(f"ISLP/data/{name}.csv")))
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"no ISLP data: {wheel} is not a file and no ISLP package is installed; fetch the wheel "
                         "with `pip download ISLP==0.6.0 --no-deps` and pass it as --wheel")
    return pd.read_csv(Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.csv")


def _book(name: str, leave_out: tuple[str, ...] = ()) -> Callable[[], pd.DataFrame]:
    return lambda: read_islp(name).drop(columns=list(leave_out))


ISLP_TABLES = [
    Table("Auto", _book("Auto"), "mpg", "regression"),
    Table("Boston", _book("Boston"), "medv", "regression"),
    Table("Carseats", _book("Carseats"), "Sales", "regression"),
    Table("College", _book("College"), "Apps", "regression"),
    Table("Credit", _book("Credit", ("ID",)), "Balance", "regression"),
    Table("Hitters", _book("Hitters"), "Salary", "regression"),
    Table("Wage", _book("Wage", ("logwage",)), "wage", "regression"),
    Table("Default", _book("Default"), "default", "classification"),
    Table("OJ", _book("OJ"), "Purchase", "classification"),
    Table("Caravan", _book("Caravan"), "Purchase", "classification"),
    Table("Weekly", _book("Weekly", ("Today",)), "Direction", "classification", ordered=True),
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--wheel", type=Path, default=WHEEL, help="the ISLP wheel (a zip holding ISLP/data/*.csv)")
    known, rest = parser.parse_known_args()
    _source["wheel"] = known.wheel
    main(ISLP_TABLES, __doc__, rest)
