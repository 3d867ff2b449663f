"""Aggregates over workloads: performance profiles (Dolan & More 2002, as AlgoPerf uses them) and the
geometric-mean time-to-target relative to a reference entrant, where a miss counts as infinite."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def ratios(times: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """times[entrant][workload] -> each time divided by the fastest entrant's on that workload (inf for misses)."""
    workloads = {w for per in times.values() for w in per}
    best = {w: min(per.get(w, math.inf) for per in times.values()) for w in workloads}
    return {e: {w: (t / best[w] if math.isfinite(t) and best[w] > 0 else math.inf) for w, t in per.items()}
            for e, per in times.items()}


def profile(ratio_row: dict[str, float], taus: np.ndarray) -> np.ndarray:
    """rho(tau): the share of workloads on which the entrant is within a factor tau of the fastest."""
    values = np.array(list(ratio_row.values()), dtype=float)
    if values.size == 0:
        return np.zeros_like(taus)
    return (values[None, :] <= taus[:, None]).mean(axis=1)


def taus(rows: dict[str, dict[str, float]], least: float = 4.0, points: int = 400) -> np.ndarray:
    """The ratios a profile is drawn over: 1 to past the largest finite ratio (at least `least`), evenly on a log
    scale, so every workload an entrant reached shows as its step, however slow (a fixed 1-4 hid the ones beyond)."""
    finite = [r for row in rows.values() for r in row.values() if math.isfinite(r)]
    return np.geomspace(1.0, max([least, *finite]) * 1.1, points)


@dataclass(frozen=True)
class Geomean:
    """An entrant's time relative to the reference over the `count` workloads the reference reached.

    `ratio` is the geometric mean of time / reference time, infinite when the entrant missed any of them (`missed`
    says how many); `shared` is the geometric mean over the workloads both reached (nan when there are none).
    Workloads the reference missed cannot give a ratio and are left out of both."""

    ratio: float
    count: int
    missed: int
    shared: float


def geomean_ratio(times: dict[str, float], reference: dict[str, float]) -> Geomean:
    """The Geomean of `times` against `reference` (both keyed by workload, inf for a miss)."""
    counted = [w for w in times if math.isfinite(reference.get(w, math.inf))]
    both = [w for w in counted if math.isfinite(times[w])]
    logs = [math.log(times[w] / reference[w]) for w in both]
    shared = math.exp(sum(logs) / len(logs)) if logs else math.nan
    missed = len(counted) - len(both)
    return Geomean(math.inf if missed else shared, len(counted), missed, shared)
