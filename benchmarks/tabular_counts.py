"""Every table of the suite and the fresh lists (tabular_suite.py, tabular_fresh.py to tabular_fresh5.py) in one
run, so a change to count targets (the Poisson loss) is measured on all of them at once; which tables those are
depends on the target inference (17 on 2026-12-07: see RESULTS.md). Run as the lists run:
    PYTHONPATH=src:benchmarks nice python benchmarks/tabular_counts.py --tables charity,doctorvisits --modes cli
        [--seeds 3] [--cache refs.json] [--reference-seeds 1]
"""
from __future__ import annotations

from tabular_fresh import FRESH
from tabular_fresh2 import FRESH2
from tabular_fresh3 import FRESH3
from tabular_fresh4 import FRESH4
from tabular_fresh5 import FRESH5
from tabular_suite import TABLES, main   # benchmarks/ is on the path when a script in it runs

if __name__ == "__main__":
    main(TABLES + FRESH + FRESH2 + FRESH3 + FRESH4 + FRESH5, __doc__)
