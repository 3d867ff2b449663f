"""Named points in the life of a run where the fault-injection tests kill the process, the way a power cut or
`kill -9` would: DESCEND_KILL_AT=NAME kills at the first pass through point NAME, NAME:N at the N-th.

Points: "history" (half a history line written), "checkpoint" (a checkpoint's files written, not yet renamed into
place), "final" (the final weights written, summary.json not yet), "rename" (a finished run's files complete in
DIR.partial, not yet renamed to DIR), "swap" (descend update's new folder swapped in, the old not yet removed).
"""
from __future__ import annotations

import os
import signal
from typing import Callable

_passes: dict[str, int] = {}


def point(name: str, tear: Callable[[], object] | None = None) -> None:
    """Die here when DESCEND_KILL_AT names this point (and pass count), after `tear()` (half a write); otherwise
    do nothing."""
    wanted = os.environ.get("DESCEND_KILL_AT")
    if not wanted or wanted.partition(":")[0] != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] == int(wanted.partition(":")[2] or 1):
        if tear is not None:
            tear()
        os.kill(os.getpid(), signal.SIGKILL)
