"""Tables in, trained models out: what `descend fit/predict/update/demo` run (CSV or Parquet, no code).

May import: core, optim, doctor, runs, fit, minimize (closed-form baselines), tuning's space
(the search ranges declared with the options) and tracking (the trackers --log sends runs to).
"""
from .io import read_table
from .options import Options
from .run import TabularRun, recording
from .train import fit_table

__all__ = ["read_table", "TabularRun", "recording", "Options", "fit_table"]
