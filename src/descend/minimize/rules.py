"""minimize's stopping rules on the shared loop, each tagged with the result status it means.

scipy's convergence tests (gtol, ftol, xtol) and the reasons a search ends without converging: a limit, a line
search that found no lower value, or an objective that ran away (f past -1e300: unbounded).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..core import stop as stop_lib
from ..core.loop import Callback
from .task import MinimizeTask

RUNAWAY = 1e300     # |f| beyond this is taken as unbounded: the next steps would overflow to inf
SMALL_MOVE = 0.1    # a fixed-lr run that hit its limit having moved x by less than this fraction of x's size


class Tagged(stop_lib.Rule):
    """A stopping rule plus the result status it means, remembered when it fires."""

    def __init__(self, rule: stop_lib.Rule, status: int):
        self.rule, self.status, self.fired = rule, status, False

    def setup(self, state):
        self.rule.setup(state)

    def check(self, state, record):
        reason = self.rule.check(state, record)
        self.fired = reason is not None
        return reason

    def finish(self, state):
        self.rule.finish(state)


class Tolerances(stop_lib.Rule):
    """scipy's convergence tests: largest (projected) gradient component <= gtol, relative change of f <= ftol,
    largest change of any x component <= xtol (None turns a test off). The f and x tests only count steps that
    moved x: a step that stood still has learned nothing about convergence."""

    def __init__(self, gtol: float, ftol: float | None, xtol: float | None, projected: bool = False):
        self.gtol, self.ftol, self.xtol, self.projected = gtol, ftol, xtol, projected

    def check(self, state, record):
        step = state.step
        if record["grad_max"] <= self.gtol:
            if self.projected:   # .grad is the whole gradient, which a binding constraint leaves large
                return f"converged: projected gradient below gtol {self.gtol:g} (largest component " \
                       f"{record['grad_max']:.2e}; the result's grad is the unprojected gradient, which pushes " \
                       f"against the constraints where they bind) at step {step}"
            return f"converged: gradient below gtol {self.gtol:g} (largest component {record['grad_max']:.2e}) " \
                   f"at step {step}"
        return self.small_change(step, record)

    def small_change(self, step: int, record: dict) -> str | None:
        """The ftol and xtol tests: a sentence when the step moved x and changed f or x within them, else None."""
        f = record["loss"]
        if not record["x_change"] > 0:
            return None
        scale = max(abs(f), abs(f - record["f_change"]), 1.0)
        if self.ftol is not None and abs(record["f_change"]) <= self.ftol * scale:
            return f"converged: f changed by {abs(record['f_change']) / scale:.2e} (relative), within ftol " \
                   f"{self.ftol:g}, at step {step}"
        if self.xtol is not None and record["x_change"] <= self.xtol:
            return f"converged: x moved by {record['x_change']:.2e}, within xtol {self.xtol:g}, at step {step}"
        return None


class Jump(stop_lib.Rule):
    """Stop without converging when f or x stalled within ftol or xtol beside a jump in fun (see
    MinimizeTask.jump_words): a search that creeps up to a discontinuity changes f less and less without nearing a
    minimum, and its gradient stays large. Asked before `tolerances`, whose claim it replaces."""

    def __init__(self, tolerances: Tolerances, task: MinimizeTask):
        self.tolerances, self.task = tolerances, task

    def check(self, state, record):
        if record["grad_max"] <= self.tolerances.gtol or self.tolerances.small_change(state.step, record) is None:
            return None
        words = self.task.jump_words(self.tolerances.gtol)
        return f"failed: at step {state.step}, f stopped changing, but {words}" if words else None


class LineSearchFailed(stop_lib.Rule):
    """Stop when the line search found no better point. The search minimizes sign * fun, and its words say so
    ("a lower value", "downhill"); a maximize run is told that they are about -fun."""

    def __init__(self, maximize: bool):
        self.note = "; the search runs on -fun (maximize=True): a lower -fun is a higher fun" if maximize else ""

    def check(self, state, record):
        return f"failed: at step {state.step}, {record['failed']}{self.note}" if "failed" in record else None


class Runaway(stop_lib.Rule):
    """Stop when f (minimized) falls below -1e300: fun is unbounded along the path the method took."""

    def __init__(self, maximize: bool):
        self.side = "above" if maximize else "below"

    def check(self, state, record):
        if record["loss"] >= -RUNAWAY:
            return None
        return f"failed: fun is unbounded {self.side} along the search (it reached {record['fun']:.3g} at step " \
               f"{state.step}); bound x or add a constraint"


class MaxEvals(stop_lib.Rule):
    """Stop when `task` has used its evaluation budget, also when that happened inside a line search."""

    def __init__(self, n: int, task: MinimizeTask):
        self.n, self.task = n, task

    def check(self, state, record):
        if record.get("out_of_evals"):
            return f"stopped: reached max_evals ({self.n} evaluations) inside the line search of step " \
                   f"{state.step}; x is where that step began"
        if self.task.out_of_evaluations():
            return f"stopped: reached max_evals ({self.n} evaluations) at step {state.step}"
        return None


class UserCallback(Callback, stop_lib.Rule):
    """`callback(x, record)` as a loop hook, so it sees every step, the last one too, and as the last stopping
    rule, so a true return value stops the run unless another rule already did."""

    def __init__(self, callback: Callable, task: MinimizeTask):
        self.callback, self.task, self.asked = callback, task, False

    def on_step(self, state, record):
        self.asked = bool(self.callback(self.task.layout.export(self.task.x), record))

    def check(self, state, record):
        return f"stopped: the callback asked to stop at step {state.step}" if self.asked else None


def small_steps(start: torch.Tensor, x: torch.Tensor, steps: int, lr: float) -> str:
    """What to add to a limit's message when a fixed-lr run moved x by a small fraction of its size (largest
    component of x0, at least 1). On benchmarks/fixed_lr_stalls.py a 10x-10,000x larger lr closed most of the gap
    in 103 of 138 such runs and 23 were scaled beyond it; the other 12 started near the answer of an ill-conditioned
    fun, where lbfgs still helps and a larger lr does not. Empty when x moved further."""
    moved, size = float((x - start).abs().max()), max(float(start.abs().max()), 1.0)
    if not moved < SMALL_MOVE * size:
        return ""
    return (f"; in {steps} steps x moved at most {moved:.3g}, {moved / size:.2%} of its size ({size:.3g}): if the "
            f"answer lies further, steps of lr {lr:g} are small for x's scale; give a larger lr=, or leave method= at "
            "'lbfgs' (the default), which sizes its own steps")
