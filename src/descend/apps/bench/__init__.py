"""descend.bench: a fair optimizer benchmark that runs offline in minutes.

Every optimizer gets the same step budget per workload; the tuned track searches the same log-spaced
learning-rate grid per optimizer and keeps each seed's best trial, the untuned track runs defaults only (and
descend's own default, optimizer="auto"). Results are time-to-target in steps and seconds (a miss is infinite),
aggregated with performance profiles and the geometric-mean time relative to tuned AdamW. `descend bench` on the
command line; `run(...)` and `report.write(...)` from Python.

May import: core, optim, runs, fit.
"""
from .protocol import Entrant, Trial
from .report import write
from .suite import DEFAULT_OPTIMIZERS, WORKLOADS, BenchResult, run
from .workload import Problem, Workload

__all__ = ["run", "write", "WORKLOADS", "DEFAULT_OPTIMIZERS", "BenchResult", "Entrant", "Trial", "Problem",
           "Workload"]
