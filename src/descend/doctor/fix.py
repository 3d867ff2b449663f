"""doctor="fix": a task wrapper that undoes divergence instead of letting it end (or ruin) the run.

Every `every` healthy steps it keeps a copy of the model's training weights and the optimizer state. When a
step's loss or gradient is non-finite, or the smoothed loss climbs above `factor` times its best, it restores the
last copy, multiplies the learning rate by `cut` and takes the step again. Each intervention is recorded and
becomes a `rollback` finding. NaN coming from the input data is not something a smaller step can fix, so it is
left to the NonFinite rule. The guard's memory is part of a checkpoint, so a resumed run decides as the
uninterrupted one would.
"""
from __future__ import annotations

import copy
import math

import torch

from ..core.loop import LR_SCALE
from .instruments import Readings

NON_FINITE = "non-finite loss or gradient"   # why a step is taken again; data with NaN/Inf is left to NonFinite


class Guard:
    """Wraps a task (see descend.loop.Task); everything but `step` is the wrapped task's."""

    def __init__(self, task, optimizer: torch.optim.Optimizer, readings: Readings, *, every: int = 20,
                 factor: float = 5.0, cut: float = 0.1, max_interventions: int = 8, beta: float = 0.9):
        self.task, self.optimizer, self.readings = task, optimizer, readings
        self.every, self.factor, self.cut, self.beta = every, factor, cut, beta
        self.max_interventions = max_interventions
        self.count, self.smooth, self.best, self.good = 0, None, math.inf, None

    def __getattr__(self, name):
        return getattr(self.task, name)

    def _smoothed(self, loss: float) -> float:
        self.smooth = loss if self.smooth is None else self.beta * self.smooth + (1 - self.beta) * loss
        return self.smooth

    def _keep(self) -> None:
        """Copy the training point itself: model.state_dict() as the optimizer sees it (for Schedule-Free and
        EMA that is not the evaluated, averaged weights that task.snapshot() returns)."""
        weights = {k: v.detach().clone() for k, v in self.task.model.state_dict().items()}
        self.good = {"step": self.count, "model": weights, "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                     "smooth": self.smooth}

    def _trouble(self, record: dict) -> str | None:
        if not (math.isfinite(record["loss"]) and math.isfinite(record.get("grad_norm", 0.0))):
            return None if self.task.non_finite_origin.from_data else NON_FINITE
        smooth = self._smoothed(record["loss"])
        self.best = min(self.best, smooth)
        if smooth > self.factor * self.best:
            return f"smoothed loss {smooth:.4g} > {self.factor:g}x its best {self.best:.4g}"
        return None

    def step(self) -> dict:
        if self.good is None:
            self._keep()
        self.count += 1
        record = self.task.step()
        why = self._trouble(record)
        while why is not None and len(self.readings.interventions) < self.max_interventions:
            if why == NON_FINITE:
                self.readings.saw_non_finite(self.count)  # the record is replaced, so count it here
            self._roll_back(why)
            record = self.task.step()
            why = self._trouble(record)
        if why is None and self.smooth is not None and self.count % self.every == 0 and self.smooth <= 1.5 * self.best:
            self._keep()
        return record

    def _roll_back(self, why: str) -> None:
        lrs = [(g["lr"], g.get("initial_lr")) for g in self.optimizer.param_groups]
        self.task.model.load_state_dict(self.good["model"])
        self.optimizer.load_state_dict(copy.deepcopy(self.good["optimizer"]))
        self.smooth = self.good["smooth"]
        for group, (lr, initial) in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr * self.cut
            if initial is not None:
                group["initial_lr"] = initial * self.cut
        first = self.optimizer.param_groups[0]   # the run's lr, as the history records it
        self.readings.interventions.append({"at_step": self.count, "from_step": self.good["step"], "why": why,
                                            "lr": first["lr"] / first.get(LR_SCALE, 1.0)})

    def state_dict(self) -> dict:
        """The guard's memory (step count, smoothed and best loss, the last good copy) for a checkpoint: tensors
        and plain data, readable with torch.load(weights_only=True)."""
        return {"count": self.count, "smooth": self.smooth, "best": self.best, "good": self.good}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()` after a resume."""
        self.count, self.smooth, self.best, self.good = state["count"], state["smooth"], state["best"], state["good"]
