"""Hyperparameter search on Optuna: `tune`, its search-space ranges, and the pruning callback for `fit`.

May import: core, fit, and tabular (the search over a table's options).
"""
from .pruning import ReportToTrial
from .search import TuneResult, tune
from .space import Choice, Float, Int

__all__ = ["tune", "TuneResult", "Float", "Int", "Choice", "ReportToTrial"]
