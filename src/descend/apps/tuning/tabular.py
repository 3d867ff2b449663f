"""The tabular job's search: which settings `descend tune DATA --target COL` varies, and how one draw of them
becomes the options of `descend fit` (so best.json's "config" can be handed back to `descend fit --config`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...core.loop import Callback
from ..tabular.train import SCHEDULES
from .pruning import ReportToTrial
from .space import Choice, Float, Int

TABULAR_SPACE = {
    "lr": Float(1e-4, 3e-2, log=True),
    "weight_decay": Float(1e-6, 1e-1, log=True),
    "width": Int(16, 512, log=True),
    "depth": Int(1, 4),
    "batch_size": Choice([32, 64, 128, 256, 512]),
    "schedule": Choice(sorted(SCHEDULES)),
}


def options_for(params: dict, base: dict) -> dict:
    """`base` fit options with the drawn ones put in: lr, weight_decay, batch_size, schedule as they are, and
    width x depth as the hidden layer sizes (`hidden`: depth layers of width units)."""
    options = dict(base)
    for key in ("lr", "weight_decay", "batch_size", "schedule"):
        if key in params:
            options[key] = params[key]
    if "width" in params or "depth" in params:
        options["hidden"] = [params.get("width", 128)] * params.get("depth", 2)
    return options


Train = Callable[[str, dict, list[Callback]], object]


class TabularObjective:
    """Trains one draw: `train(data, options, callbacks)` runs the tabular fit on the table in `data` with those
    options and callbacks (the pruning reporter among them) and returns a FitResult or the validation score.
    Picklable when `train` is a module-level function, so worker processes can run it."""

    def __init__(self, train: Train, data: str, base: dict, metric: str = "val_loss"):
        self.train, self.data, self.base, self.metric = train, str(data), dict(base), metric

    def __call__(self, params: dict, trial):
        return self.train(self.data, options_for(params, self.base), [ReportToTrial(trial, self.metric)])

    def config_for(self, params: dict) -> dict:
        """best.json's "config": what `descend fit --config best.json` reads to train the winner again."""
        return {"data": str(Path(self.data).resolve()), "options": options_for(params, self.base)}
