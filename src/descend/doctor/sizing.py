"""How many training rows the doctor reads before the first step, sized to the run it watches.

The reading (a float64 table of the rows, column statistics, leak checks) grows with rows. A run that trains on
a million rows pays for the full sample without noticing; a run of a few hundred steps on a big table paid more
for it than for many of its steps. So the rows read are capped at a share of the rows the run will train on
(its planned steps times the rows a step takes), and never fewer than the rows the references are fitted and
compared on (reference.ROWS): the readings the rules weigh against the references (the constant prediction's
loss, the class shares, the column sizes) then cover at least the same rows. Fewer rows than that changed what
the rules decided on short runs (a 2-epoch digits run read 1000 of its 1300 rows: the class entropy moved
enough to name a plateau instead of underfitting), so data with up to that many rows is read in full, as before.
The comparison at the end keeps its rows for the same reason: the linear references fitted on fewer rows are
weaker references.
"""
from __future__ import annotations

from .reference import ROWS

READ_SHARE = 8   # at most one row read for every READ_SHARE rows the run trains on: a row read costs about a
                 # tenth of a row's training step on a small network, so the reading stays near 1% of the run


def rows_read(planned: int | None, available: int) -> int:
    """Rows to read of the `available` ones, for a run that trains on `planned` rows in all (None: not known,
    so all of them): a READ_SHARE-th of the planned rows, and no fewer than ROWS."""
    if planned is None:
        return available
    return min(available, max(ROWS, planned // READ_SHARE))
