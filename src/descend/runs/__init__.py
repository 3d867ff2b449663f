"""Runs that survive: run directories written as training goes, exact resume from checkpoints, and reports.

`fit(..., run_dir=DIR)` records a run; `fit(..., run_dir=DIR, resume=True)` continues it; `descend report DIR`
and `descend compare DIR ...` show it; `read_run(DIR)` reads one back (Jupyter shows it as a summary, the loss curve
and the findings).

May import: core, optim.
"""
from .directory import Run, open_run
from .recorder import Recorder

__all__ = ["Run", "open_run", "Recorder", "RunRecord", "read_run"]


def __getattr__(name: str):
    """read_run and RunRecord bring pandas and matplotlib along: loaded on first use, so `fit` starts without them."""
    if name in ("read_run", "RunRecord"):
        from . import records
        return getattr(records, name)
    if name == "compare":   # the command's name: say where its page is written from
        raise AttributeError("module 'descend.runs' has no attribute 'compare'; descend.runs.report."
                             "write_comparison(['runs/a', 'runs/b'], 'compare.html') writes the page `descend compare "
                             "runs/a runs/b` writes, and read_run(folder).history gives each run's records to compare")
    raise AttributeError(f"module 'descend.runs' has no attribute {name!r}")
