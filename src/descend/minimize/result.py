"""What `minimize` hands back: scipy.optimize's result names, and the status codes they carry."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CONVERGED, LIMIT, NO_PROGRESS, DIVERGED = 0, 1, 2, 3
WORDS = {CONVERGED: "converged", LIMIT: "stopped", NO_PROGRESS: "failed", DIVERGED: "failed"}


@dataclass
class MinimizeResult:
    """Where the search ended, named as in scipy.optimize. status: 0 converged (a tolerance was met), 1 stopped by
    a limit (max_steps, max_evals) or the callback, 2 failed: the line search found no lower value, or f stalled
    beside a jump in fun, 3 failed: f or its gradient stopped being finite, or f ran past -1e300 (x is then the last
    finite point)."""

    x: Any
    fun: float
    grad: Any
    success: bool
    status: int
    message: str
    nit: int
    nfev: int
    history: list[dict] = field(default_factory=list)

    def __repr__(self) -> str:
        """What `print(res)` shows: the fields in scipy's order of interest, long arrays summarized, and the
        history counted, not listed (a run of 1,000 steps printed 300 KB)."""
        rows = [f"  {name}: {_shown(getattr(self, name))}"
                for name in ("message", "success", "status", "fun", "x", "grad", "nit", "nfev")]
        return "\n".join(["MinimizeResult", *rows, f"  (.history: {len(self.history)} records, one a step)"])


def _shown(value) -> str:
    """A value on one line: arrays as numpy prints them, at most 10 elements; words as they are; anything else as
    its repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        return np.array2string(value, threshold=10, edgeitems=3, max_line_width=10_000)
    return repr(value)
