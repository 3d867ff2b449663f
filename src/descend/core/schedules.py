"""Schedules: plain functions of the step that drive the learning rate or any other hyperparameter.

A schedule is called as `schedule(step) -> float`. Lengths are given in steps (int) or as a fraction of the
run (float in (0, 1]); a schedule with fractions is bound to the run's total steps with `bind(total)`, which
`fit` does for you. When a schedule drives the learning rate its value multiplies the base `lr`, so shapes
peak at 1.0 by default. `join` chains schedules one after another, each starting from its own step 0.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from .checks import check_positive_int
from .errors import DescendError


NAMES = ("constant", "linear", "cosine", "warmup", "warmup_cosine", "wsd", "one_cycle", "inverse_sqrt", "step",
         "exponential")   # the schedules this module makes, each a function called with its settings


class Schedule:
    """A value as a function of the step over a length; past its length it holds its last value."""

    def __init__(self, shape: Callable[[float], float], length: int | float | None = None, name: str = "schedule"):
        _check_length(length, name)
        self.shape = shape
        self.length = length
        self.name = name

    def bind(self, total_steps: int | None) -> "Schedule":
        """Return this schedule with fractional or open lengths resolved against a run of `total_steps`."""
        return Schedule(self.shape, _resolve(self.length, total_steps, self.name), self.name)

    def steps(self) -> int:
        if self.length is None or isinstance(self.length, float):
            raise DescendError(
                f"{self.name} schedule has length {self.length!r}, which is relative to the run; "
                "call .bind(total_steps) first (fit does this when it knows max_steps or max_epochs)")
        return self.length

    def __call__(self, step: int) -> float:
        n = self.steps()
        return float(self.shape(min(step / n, 1.0) if n > 0 else 1.0))

    def __repr__(self) -> str:
        return f"{self.name}(length={self.length!r})"


def _check_length(length, name: str) -> None:
    if length is None:
        return
    if isinstance(length, bool) or not isinstance(length, (int, float)):
        raise DescendError(f"{name}: length must be steps (int) or a fraction of the run (float), got {length!r}")
    if isinstance(length, float) and not 0.0 <= length <= 1.0:
        raise DescendError(f"{name}: fractional length must be in [0, 1], got {length}; give an int for steps")
    if length < 0:
        raise DescendError(f"{name}: length must be >= 0, got {length}")


def _resolve(length, total_steps: int | None, name: str) -> int | None:
    if isinstance(length, int) or (length is None and total_steps is None):
        return length
    if total_steps is None:
        raise DescendError(f"{name}: a fractional length needs the run's total steps; set max_steps or max_epochs")
    return total_steps if length is None else int(round(length * total_steps))


def constant(value: float = 1.0) -> Schedule:
    """The same value at every step."""
    return Schedule(lambda t: value, 0, "constant")


def _line(start: float, end: float, steps: int | float | None, name: str) -> Schedule:
    return Schedule(lambda t: start + (end - start) * t, steps, name)


def linear(start: float = 1.0, end: float = 0.0, steps: int | float | None = None) -> Schedule:
    """Straight line from `start` to `end` over `steps` (the whole run when None)."""
    return _line(start, end, steps, "linear")


def cosine(steps: int | float | None = None, start: float = 1.0, end: float = 0.0) -> Schedule:
    """Half cosine from `start` down to `end` over `steps` (the whole run when None)."""
    return Schedule(lambda t: end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * t)), steps, "cosine")


def warmup(steps: int | float, start: float = 0.0, end: float = 1.0) -> Schedule:
    """Linear ramp from `start` to `end` over `steps`, then hold `end`."""
    return _line(start, end, steps, "warmup")


def exponential(gamma: float, every: int = 1, name: str = "exponential") -> Schedule:
    """Multiply by `gamma` every `every` steps: value = gamma ** (step // every)."""
    every = check_positive_int(every, f"{name}: every")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma < math.inf:
        raise DescendError(f"{name}: gamma must be a finite number > 0, got {gamma!r}")
    return _Stepwise(lambda step: gamma ** (step // every), name)


def step(every: int, gamma: float = 0.1) -> Schedule:
    """Step decay: multiply by `gamma` every `every` steps."""
    return exponential(gamma, every, "step")


def inverse_sqrt(warmup: int) -> Schedule:
    """Linear warmup to 1 over `warmup` steps, then decay as sqrt(warmup / step) (the Transformer schedule)."""
    warmup = check_positive_int(warmup, "inverse_sqrt: warmup (steps)")
    return _Stepwise(lambda step: min((step + 1) / warmup, math.sqrt(warmup / max(step + 1, 1))), "inverse_sqrt")


class _Stepwise(Schedule):
    """A schedule defined directly on integer steps with no end: it never holds and needs no binding."""

    def __init__(self, fn: Callable[[int], float], name: str):
        super().__init__(lambda t: 0.0, None, name)
        self.fn = fn

    def bind(self, total_steps: int | None) -> Schedule:
        return self

    def steps(self) -> float:
        return math.inf

    def __call__(self, step: int) -> float:
        return float(self.fn(step))


def join(schedules: Sequence[Schedule], total_steps: int | None = None) -> Schedule:
    """Run schedules one after another; each sees its own step counter from 0.

    Every piece but one needs a length; a piece with length None takes whatever the others leave of the run.
    """
    if not schedules:
        raise DescendError("join: give at least one schedule")
    open_pieces = [s for s in schedules if s.length is None and not isinstance(s, _Stepwise)]
    if len(open_pieces) > 1:
        raise DescendError("join: at most one schedule may have an open length (None)")
    share = sum(s.length for s in schedules if isinstance(s.length, float))
    if share > 1.0 + 1e-9:
        raise DescendError(f"join: the fractional lengths add up to {share:g} of the run, more than all of it; "
                           "make them sum to at most 1")
    joined = _Joined(list(schedules))
    return joined.bind(total_steps) if total_steps is not None else joined


class _Joined(Schedule):
    def __init__(self, pieces: list[Schedule]):
        self.pieces = pieces
        self.name = "join"
        fixed = [p.length for p in pieces]
        self.length = sum(fixed) if all(isinstance(x, int) for x in fixed) else None

    def bind(self, total_steps: int | None) -> Schedule:
        bound = [p.bind(total_steps) if p.length is not None else p for p in self.pieces]
        used = sum(p.length for p in bound if isinstance(p.length, int))
        if total_steps is not None and used > total_steps and any(isinstance(p.length, float) for p in self.pieces):
            raise DescendError(f"join: its pieces take {used} steps but the run has {total_steps}; a piece given as "
                               "a fraction of the run should leave room for the others")
        rest = None if total_steps is None else max(total_steps - used, 0)
        bound = [p.bind(rest) if p.length is None else p for p in bound]
        return _Joined(bound)

    def __call__(self, step: int) -> float:
        offset = 0
        for piece in self.pieces[:-1]:
            n = piece.steps()
            if step < offset + n:
                return piece(step - offset)
            offset += n
        return self.pieces[-1](step - offset)


def warmup_cosine(warmup: int | float = 0.05, end: float = 0.0, steps: int | float | None = None) -> Schedule:
    """Linear warmup to 1, then cosine decay to `end` over the rest of the run (or of `steps`)."""
    rest = None if steps is None else _minus(steps, warmup)
    return join([_line(0.0, 1.0, warmup, "warmup"), cosine(rest, 1.0, end)])


def _minus(steps, warmup):
    if isinstance(steps, int) and isinstance(warmup, int):
        return steps - warmup
    if isinstance(steps, float) and isinstance(warmup, float):
        return steps - warmup
    raise DescendError("warmup_cosine: give steps and warmup both as ints (steps) or both as fractions")


_COOLDOWNS = {
    "linear": lambda t: 1.0 - t,
    "cosine": lambda t: 0.5 * (1.0 + math.cos(math.pi * t)),
    "1-sqrt": lambda t: 1.0 - math.sqrt(t),
}


def wsd(warmup: int | float = 0.05, decay: int | float = 0.2, cooldown: str = "1-sqrt", end: float = 0.0) -> Schedule:
    """Warmup-stable-decay: ramp to 1, hold, then cool down to `end` over the last `decay` of the run.

    `cooldown` is "linear", "cosine" or "1-sqrt" (Hägele et al. 2024 found 1-sqrt the strongest).
    """
    if cooldown not in _COOLDOWNS:
        raise DescendError(f"wsd: unknown cooldown {cooldown!r}; valid: {', '.join(_COOLDOWNS)}")
    shape = _COOLDOWNS[cooldown]
    return join([_line(0.0, 1.0, warmup, "warmup"), Schedule(lambda t: 1.0, None, "stable"),
                 Schedule(lambda t: end + (1.0 - end) * shape(t), decay, f"{cooldown} cooldown")])


def one_cycle(warmup: int | float = 0.25, div: float = 25.0, final_div: float = 1e4) -> Schedule:
    """One-cycle policy (Smith 2018): cosine up from 1/div to 1, then cosine down to 1/(div*final_div)."""
    low, final = 1.0 / div, 1.0 / (div * final_div)
    return join([cosine(warmup, low, 1.0), cosine(None, 1.0, final)])
