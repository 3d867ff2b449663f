"""The tabular job's search: which settings `descend tune DATA --target COL` varies, and how one draw of them
becomes the options of `descend fit` (so best.json's "config" can be handed back to `descend fit --config`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...core.loop import Callback
from ..tabular.options import search_space, searched
from .pruning import ReportToTrial

TABULAR_SPACE = search_space()   # declared with the options (apps/tabular/options.py): lr, weight decay, width
                                 # and depth of the hidden layers, batch size, schedule


def options_for(params: dict, base: dict) -> dict:
    """`base` fit options with the drawn ones put in (width x depth become `hidden`: depth layers of width)."""
    return {**base, **searched(params)}


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
