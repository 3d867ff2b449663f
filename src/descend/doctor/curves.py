"""Readings taken from a finished run's history: the smoothed training loss, its swings (oscillation) and the gap
between training and validation loss. The history is recorded anyway, so these cost nothing while the run goes.
"""
from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

SMOOTHING = 0.9     # EMA factor for the training loss (about a 10-step window)
SWING = 2.0         # a rebound: the smoothed loss climbs to at least SWING x its last low
MATTERS = 0.1       # ... by at least this share of its fall from the start (noise at a tiny loss is no swing)
CARRIED = 3         # ... on at least this many raw losses above SWING x the low (one outlier batch is no swing)


@dataclass(frozen=True)
class Swing:
    """One rebound of the smoothed training loss: from `low` at `low_step` up to `peak` at `peak_step`."""

    low_step: int
    low: float
    peak_step: int
    peak: float


@dataclass
class Curve:
    """The smoothed training loss (bias-corrected EMA of the finite losses), its rebounds, and at every evaluation
    the smoothed training loss next to the validation loss."""

    steps: list[int] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    swings: list[Swing] = field(default_factory=list)
    gap: list[tuple[int, float, float]] = field(default_factory=list)   # (step, train, val)

    def at(self, step: int) -> float:
        """The smoothed training loss at `step` (or the last step before it); NaN before the first."""
        i = bisect.bisect_right(self.steps, step) - 1
        return self.smoothed[i] if i >= 0 else math.nan


def ema(raw: list[float]) -> list[float]:
    """The bias-corrected EMA of the finite training losses `raw`, one value for each."""
    values, average = [], 0.0
    for i, loss in enumerate(raw):
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        values.append(average / (1 - SMOOTHING ** (i + 1)))
    return values


def smoothed_share(index: int) -> float:
    """The variance of the smoothed loss at `index` (0: the first finite loss) as a share of one batch's: the sum of
    the squared EMA weights over their sum squared; 1 at the first loss, falling to (1 - b) / (1 + b)."""
    n, b = index + 1, SMOOTHING
    return (1 - b) / (1 + b) * (1 - b ** (2 * n)) / (1 - b ** n) ** 2


def batch_noise(raw: list[float]) -> float:
    """The spread of one batch's log loss about the curve, from the finite training losses `raw` (a standard
    deviation, robustly from the median change between consecutive batches, which a trend barely moves); 0 where a
    loss is not positive or there are too few."""
    if len(raw) < 3 or min(raw) <= 0:
        return 0.0
    changes = sorted(abs(math.log(b / a)) for a, b in zip(raw, raw[1:]))
    return changes[len(changes) // 2] / (0.6745 * math.sqrt(2))


def finite_pairs(history: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of each record of `history` whose `key` is a finite number, in order."""
    return [(x["step"], x[key]) for x in history if key in x and math.isfinite(x[key])]


def swings(steps: list[int], smoothed: list[float], raw: list[float]) -> list[Swing]:
    """The rebounds of the smoothed curve: it climbs to SWING x its last low (by a rise that matters) on at least
    CARRIED raw losses that high, then counts as falling again once it halves from the peak. A single huge batch
    loss (an outlier row) makes no rebound; steps that overshoot make several."""
    found: list[Swing] = []
    if not smoothed or min(smoothed) <= 0:
        return found
    start, low_i, peak_i = smoothed[0], 0, None

    def close() -> None:
        if sum(v >= SWING * smoothed[low_i] for v in raw[low_i + 1:peak_i + 1]) >= CARRIED:
            found.append(Swing(steps[low_i], smoothed[low_i], steps[peak_i], smoothed[peak_i]))

    for i, value in enumerate(smoothed):
        if peak_i is not None:
            if value > smoothed[peak_i]:
                peak_i = i
            elif value <= smoothed[peak_i] / SWING:
                close()
                low_i, peak_i = i, None
        elif value < smoothed[low_i]:
            low_i = i
        elif value >= SWING * smoothed[low_i] and value - smoothed[low_i] >= MATTERS * (start - smoothed[low_i]):
            peak_i = i
    if peak_i is not None:
        close()
    return found


def measure(history: list[dict], finite: Callable[[str], list[tuple[int, float]]] | None = None) -> Curve:
    """Every reading of this module for one run's history. `finite(key)` gives the (step, value) pairs of a column's
    finite values (Readings.finite, which keeps them for the rules that read them again); without it they are read
    from `history` here."""
    finite = finite or functools.partial(finite_pairs, history)
    losses = finite("loss")
    steps, raw = [step for step, _ in losses], [loss for _, loss in losses]
    curve = Curve(steps, ema(raw))
    curve.swings = swings(steps, curve.smoothed, raw)
    curve.gap = [(step, curve.at(step), val) for step, val in finite("val_loss")]   # (step, train, val)
    return curve
