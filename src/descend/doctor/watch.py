"""What `fit(doctor=...)` attaches to a run: instruments, the fix-mode guard, and the findings at the end."""
from __future__ import annotations

import sys

import torch
from torch import nn

from ..core.errors import DescendError
from ..core.loop import Callback
from .findings import summary
from .fix import Guard
from .inputs import column_scales, constant_baseline, majority_share, varying_columns
from .instruments import Instruments, Readings
from .rules import diagnose

MODES = (True, False, "fix")


def check_mode(mode) -> None:
    """Refuse a `doctor=` that is not True, False or "fix"."""
    if mode not in MODES or isinstance(mode, int) and not isinstance(mode, bool):
        raise DescendError(f"doctor must be True (watch and report), 'fix' (also roll back divergence) or "
                           f"False (off), got {mode!r}")


class Doctor(Callback):
    """Watches one run (doctor=True), also repairs divergence (doctor="fix"), or does nothing (doctor=False).

    `callbacks` go to the loop, `guard(task)` wraps the task in fix mode, `findings` is filled when the run ends
    and printed as a short summary when `progress` is on. `state_dict()` holds what was measured so far and the
    guard's memory, so that a resumed run reports what the uninterrupted one would.
    """

    def __init__(self, mode: bool | str, model: nn.Module, sample, loss, progress: bool | int = False,
                 every: int = 25, val_size: int | None = None):
        self.mode, self.progress, self.findings, self.fixer = mode, progress, [], None
        self.readings = Readings(history=[], val_size=val_size)
        if mode and sample is not None:
            self.readings.input_scales = column_scales(sample[0])
            self.readings.input_varying = varying_columns(sample[0])
            self.readings.target_baseline = constant_baseline(loss, sample[1])
            self.readings.majority_share = majority_share(sample[1])
        self.callbacks = [Instruments(model, self.readings, every), self] if mode else []

    def guard(self, task, optimizer: torch.optim.Optimizer):
        """The task itself, or in fix mode the task wrapped so that divergence is rolled back."""
        if self.mode == "fix":
            self.fixer = Guard(task, optimizer, self.readings)
            return self.fixer
        return task

    def note_auto_lr(self, lr: float) -> None:
        """Remember what lr="auto" chose, so that findings can quote it (and a checkpoint keeps it)."""
        self.readings.auto_lr = lr

    def on_end(self, state) -> None:
        self.findings = diagnose(self.readings)
        if self.progress:
            print(summary(self.findings), file=sys.stderr, flush=True)

    def state_dict(self) -> dict:
        """For a checkpoint: the readings measured so far and, in fix mode, the guard's memory."""
        return {"readings": self.readings.state_dict(), "guard": self.fixer.state_dict() if self.fixer else None}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()` after a resume."""
        self.readings.load_state_dict(state["readings"])
        if self.fixer is not None and state["guard"] is not None:
            self.fixer.load_state_dict(state["guard"])

