"""The bridge from fit's evaluations to Optuna's pruners: report each validation score, stop when told to."""
from __future__ import annotations

import math

import optuna

from ...core.loop import Callback, LoopState


class ReportToTrial(Callback):
    """Report `metric` to an Optuna trial after every evaluation and raise optuna.TrialPruned when its pruner
    judges the trial poor, so a bad setting stops after a few evaluations instead of running to the end.

    Pass it to `fit(callbacks=[...])` inside an objective; `tune` adds it itself when the objective returns fit
    settings.
    """

    def __init__(self, trial: optuna.Trial, metric: str = "val_loss"):
        self.trial, self.metric = trial, metric

    def on_evaluate(self, state: LoopState, record: dict) -> None:
        value = record.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), state.step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {state.step} with {self.metric} {value:.4g}")
