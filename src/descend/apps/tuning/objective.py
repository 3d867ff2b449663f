"""What a trial runs: the user's objective, called with one draw of settings, turned into one number.

The objective takes the settings dict (and, if it accepts a second argument, the Optuna trial) and returns
either a number, a FitResult, or a dict of `fit` keyword arguments. For the dict, the trial runs `fit` itself
with a ReportToTrial callback, so the pruner can stop it after any evaluation.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import optuna

from ...core import metrics as metric_lib
from ...core.errors import DescendError, DescendTypeError
from ...core.stop import missing_hint
from ...fit import FitResult, fit
from .pruning import ReportToTrial
from .space import Param, suggest_all


def takes_trial(objective: Callable) -> bool:
    """True when the objective accepts (params, trial), False for (params); raise when it takes neither."""
    if not callable(objective):
        raise DescendTypeError(f"the objective must be callable (params -> number, FitResult or fit settings), "
                               f"got {type(objective).__name__}")
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):
        return False
    for args in (({}, None), ({},)):
        try:
            signature.bind(*args)
            return len(args) == 2
        except TypeError:
            continue
    raise DescendTypeError(f"the objective must take (params) or (params, trial); its signature is {signature}")


def history_best(history: list[dict], metric: str, direction: str) -> float:
    """The best finite value of `metric` over a run's history; NaN when the run never produced one."""
    values = [r[metric] for r in history if metric in r and math.isfinite(r[metric])]
    if not values:
        if not any(metric in r for r in history):
            keys = sorted({k for r in history for k in r})
            raise DescendError(f"metric {metric!r} is not in the run's history (it has {', '.join(keys)}); "
                               "give val= to fit, or pick metric= from those")
        return math.nan
    return min(values) if direction == "minimize" else max(values)


class Objective:
    """Picklable trial function for Optuna: draw settings, run the user's objective, return its score."""

    def __init__(self, objective: Callable, space: dict[str, Param], metric: str, direction: str):
        self.objective, self.space, self.metric, self.direction = objective, space, metric, direction
        self.with_trial = takes_trial(objective)

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest_all(self.space, trial)
        try:
            out = self.objective(params, trial) if self.with_trial else self.objective(params)
            return self.score(out, trial)
        except optuna.TrialPruned:
            raise
        except Exception as err:   # the user's own error, its type kept, with the trial that met it
            err.add_note(f"descend.tune: raised in trial {trial.number} ({settings_text(params)}); no later trial ran")
            err.descend_trial = trial.number
            raise

    def score(self, out: Any, trial: optuna.Trial) -> float:
        if isinstance(out, dict):
            out = self._fit(out, trial)
        if isinstance(out, FitResult):
            trial.set_user_attr("stop_reason", out.stop_reason)
            trial.set_user_attr("steps", len(out.history))
            return history_best(out.history, self.metric, self.direction)
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            trial.set_user_attr("plain", True)   # the objective's own number: no metric of a run's history
            return float(out)
        raise DescendTypeError(f"the objective returned {type(out).__name__}; return a number, a FitResult or "
                               "a dict of fit() settings")

    def _fit(self, settings: dict, trial: optuna.Trial) -> FitResult:
        settings = dict(settings)
        settings["callbacks"] = [*settings.get("callbacks", ()), ReportToTrial(trial, self.metric)]
        settings.setdefault("progress", False)
        self._check_metric(settings)
        try:
            inspect.signature(fit).bind(**settings)
        except TypeError as err:
            raise DescendTypeError(f"the fit settings returned by the objective do not match fit(): {err}") from err
        return fit(**settings)

    def _check_metric(self, settings: dict) -> None:
        """Refuse a val_* metric that these settings' evaluations cannot give, before the first trial trains
        (only val_loss and one val_<name> per metrics= entry come from evaluations; other names may come from
        callbacks, so they are left to the run's history)."""
        if not self.metric.startswith("val_"):
            return
        if settings.get("val") is None:
            raise DescendError(f"metric={self.metric!r} is a validation value, but the fit settings the objective "
                               "returned have no val=; give val= or pick a training value such as 'loss'")
        given = ["val_loss", *(f"val_{name}" for name in metric_lib.resolve(settings.get("metrics", ())))]
        if self.metric not in given:
            raise DescendError(f"metric={self.metric!r} is not a value these runs record: their evaluations give "
                               f"only {', '.join(given)}; {missing_hint(self.metric, given)}")


def settings_text(params: dict) -> str:
    """Drawn settings as one line, floats to 3 significant digits: lr=0.00123, width=16."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
