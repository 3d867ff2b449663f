"""A new user's thirteenth review: the report's epoch count one short in each part whose first step finished an
epoch (a table of a few rows trains one step an epoch), fit's warnings pointing past the caller's line, and a
generator of batches refused without saying how to pass one."""
from pathlib import Path

import pandas as pd

from descend.runs.records import RunRecord


def test_a_part_whose_every_step_ends_an_epoch_counts_each_of_them():
    """24 training rows and batch 32 make one step an epoch: the report said "epochs 39 (fit: 27, refit: 12)" for a
    fit of 28 epochs and a refit of 13, as a record's epoch counts the epochs done by its step."""
    history = pd.DataFrame({"step": range(1, 6), "epoch": [1, 2, 3, 1, 2], "loss": 1.0,
                            "phase": [None, None, None, "refit", "refit"]})
    assert dict(RunRecord(Path("run"), history).summary_rows())["epochs"] == "5 (fit: 3, refit: 2)"
