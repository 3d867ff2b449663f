"""Hyperparameter search on Optuna: `tune`, its search-space ranges, and the pruning callback for `fit`.

May import: core, fit, and tabular (the search over a table's options).
The search and the pruning callback load Optuna (about 0.4 s) on first use, so that `descend fit`, whose options
only declare their search ranges here, starts without it.
"""
from __future__ import annotations

import importlib

from .space import Choice, Float, Int

_LAZY = {"tune": ".search", "TuneResult": ".search", "ReportToTrial": ".pruning"}

__all__ = ["tune", "TuneResult", "Float", "Int", "Choice", "ReportToTrial"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
