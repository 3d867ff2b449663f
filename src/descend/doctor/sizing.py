"""How many rows the doctor reads and compares on, sized to the run it watches.

Its fixed work grows with rows: the reading of the data (a float64 table, column statistics, leak checks) and,
at the end, the trained model run on the comparison rows and the linear references fitted on them. A run that
trains on a million rows pays for the full sample without noticing; a run of a few hundred steps pays more for
it than for many of its steps. So each is capped at a share of the rows the run will train on (its planned steps
times the rows a step takes), and never fewer than FLOOR rows: the paired comparisons decide by two standard
errors, and below about a thousand rows a gain of NEGLIGIBLE (5%) on a constant prediction stops being
resolvable for noisy targets. Data with fewer rows than the cap is read in full, as before.
"""
from __future__ import annotations

FLOOR = 1000          # rows read and compared on at least (when the data holds them)
READ_SHARE = 8        # the reading: at most one row for every READ_SHARE rows the run trains on (each row read
                      # costs about a tenth of a training step's row on a small network)
COMPARE_SHARE = 16    # the comparison: one model evaluation per row, a third of a training step's row


def rows(planned: int | None, share: int, most: int) -> int:
    """Rows to use out of at most `most`, for a run that trains on `planned` rows in all (None: not known, so
    `most`): a `share`-th of them, no fewer than FLOOR."""
    if planned is None:
        return most
    return max(FLOOR, min(most, planned // share))
