"""What `minimize` hands back: scipy.optimize's result names, and the status codes they carry."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONVERGED, LIMIT, NO_PROGRESS, DIVERGED = 0, 1, 2, 3
WORDS = {CONVERGED: "converged", LIMIT: "stopped", NO_PROGRESS: "failed", DIVERGED: "failed"}


@dataclass
class MinimizeResult:
    """Where the search ended, named as in scipy.optimize. status: 0 converged (a tolerance was met), 1 stopped by
    a limit (max_steps, max_evals) or the callback, 2 failed: the line search found no lower value, 3 failed: f
    or its gradient stopped being finite, or f ran past -1e300 (x is then the last finite point)."""

    x: Any
    fun: float
    grad: Any
    success: bool
    status: int
    message: str
    nit: int
    nfev: int
    history: list[dict] = field(default_factory=list)
