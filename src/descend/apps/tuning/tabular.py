"""The tabular job's search: which settings `descend tune DATA --target COL` varies, and how one draw of them
becomes the options of `descend fit` (so best.json's "config" can be handed back to `descend fit --config`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...core.loop import Callback
from ..tabular.options import search_space, searched
from .pruning import ReportToTrial
from .space import Choice

TABULAR_SPACE = search_space()   # declared with the options (apps/tabular/options.py): lr, weight decay, width
                                 # and depth of the hidden layers, batch size, schedule


def space_for(rows: int) -> tuple[dict, str]:
    """TABULAR_SPACE with its batch sizes capped at `rows`, the training rows, and a line naming those it
    capped ("" when none): a batch above them is the whole set, the same as one of exactly `rows`, so each such
    choice would only repeat another's trial."""
    sizes = TABULAR_SPACE["batch_size"].options
    capped = [size for size in sizes if size > rows]
    if not capped:
        return TABULAR_SPACE, ""
    note = (f"batch sizes {', '.join(map(str, capped))} capped at the {rows} training rows (a larger batch is the "
            "whole set)")
    return {**TABULAR_SPACE, "batch_size": Choice(sorted({min(size, rows) for size in sizes}))}, note


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
