"""Early stopping for a table validated on one slice of its rows: patience that grows with the run.

A network whose validation loss was best after its first epoch or two (a table whose signal a few passes
exhaust) has little to gain from 15 more epochs, whose weights early stopping then throws away; one that kept
improving for 60 epochs may still find a better epoch after a long flat stretch. So after a best at evaluation n
the run waits max(floor, min(patience, n)) evaluations, which is the full patience from evaluation `patience` on
(the restored weights, and so the predictions, are the fixed patience's wherever the best evaluation comes no
earlier than that or no later one beats it).
"""
from __future__ import annotations

import math

from ...core import stop as stop_lib

FLOOR = 5   # evaluations waited at least, however early the best came


class GrowingPatience(stop_lib.Patience):
    """`Patience` (of val_loss, the best evaluation's weights restored) waiting max(FLOOR, min(patience, n))
    evaluations after a best at evaluation n."""

    def __init__(self, patience: int):
        super().__init__(patience, restore_best=True)
        self.most = self.patience

    def setup(self, state):
        super().setup(state)
        self.evaluations, self.patience = 0, min(FLOOR, self.most)

    def check(self, state, record):
        value = record.get(self.key)
        if value is not None and math.isfinite(value):
            self.evaluations += 1
        reason = super().check(state, record)
        if self.wait == 0 and self.best_step == state.step:   # a new best at this evaluation
            self.patience = max(min(FLOOR, self.most), min(self.most, self.evaluations))
        return reason

    def state_dict(self):
        return {**super().state_dict(), "evaluations": self.evaluations, "patience": self.patience}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.evaluations = state.get("evaluations", 0)
        self.patience = state.get("patience", self.most)   # a checkpoint from before: the fixed patience
