"""Early stopping for a table validated on one slice of its rows: patience that grows with the run.

A network whose validation loss was best after its first epoch or two (a table whose signal a few passes
exhaust) has little to gain from 15 more epochs, whose weights early stopping then throws away; one that kept
improving for 60 epochs may still find a better epoch after a long flat stretch. So after a best at evaluation n
the run waits max(floor, min(patience, n)) evaluations, which is the full patience from evaluation `patience` on
(the restored weights, and so the predictions, are the fixed patience's wherever the best evaluation comes no
earlier than that or no later one beats it). The floor is FLOOR epochs and at least MIN_STEPS steps: on a tiny
table an epoch is a few steps and its dozen validation rows swing over several epochs (the dated Nile table's,
3 steps an epoch, fell again 8 epochs after a best at epoch 4), so there the wait stays the full patience.
"""
from __future__ import annotations

import math

from ...core import stop as stop_lib

FLOOR = 5   # evaluations (epochs) waited at least, however early the best came
MIN_STEPS = 100   # and at least this many steps


def least_wait(patience: int, steps_per_epoch: int) -> int:
    """The evaluations waited at least: FLOOR epochs and MIN_STEPS steps, at most `patience`."""
    return min(patience, max(FLOOR, math.ceil(MIN_STEPS / max(steps_per_epoch, 1))))


class GrowingPatience(stop_lib.Patience):
    """`Patience` (of val_loss, the best evaluation's weights restored, one evaluation an epoch) waiting
    max(least, min(patience, n)) evaluations after a best at evaluation n; `least`: see `least_wait`."""

    def __init__(self, patience: int, steps_per_epoch: int):
        super().__init__(patience, restore_best=True)
        self.most, self.least = self.patience, least_wait(self.patience, steps_per_epoch)

    @property
    def setting_label(self) -> str:
        """The rule in words for reports (config.json's labels), instead of this class's name."""
        return (f"early stopping on {self.monitor or 'val_loss'}: after {self.least} to {self.most} evaluations "
                "without a better one (as many as the best took), the best weights restored")

    def setup(self, state):
        super().setup(state)
        self.evaluations, self.patience = 0, self.least

    def check(self, state, record):
        value = record.get(self.key)
        if value is not None and math.isfinite(value):
            self.evaluations += 1
        reason = super().check(state, record)
        if self.wait == 0 and self.best_step == state.step:   # a new best at this evaluation
            self.patience = max(self.least, min(self.most, self.evaluations))
        return reason

    def state_dict(self):
        return {**super().state_dict(), "evaluations": self.evaluations, "patience": self.patience}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.evaluations = state.get("evaluations", 0)
        self.patience = state.get("patience", self.most)   # a checkpoint from before: the fixed patience
