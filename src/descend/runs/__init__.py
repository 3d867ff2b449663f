"""Runs that survive: run directories written as training goes, exact resume from checkpoints, and reports.

`fit(..., run_dir=DIR)` records a run; `fit(..., run_dir=DIR, resume=True)` continues it; `descend report DIR`
and `descend compare DIR ...` show it.

May import: core, optim.
"""
from .directory import Run, open_run
from .recorder import Recorder

__all__ = ["Run", "open_run", "Recorder"]
