"""FitObserver: a callback that `fit` also tells its settings before the first step and hands the FitResult at
the end, when the doctor's findings and the final model exist. Experiment trackers (descend.apps.tracking) are
observers; any callback can be one."""
from __future__ import annotations

from typing import Sequence

from ..core.loop import Callback
from ..runs.config import describe


class FitObserver(Callback):
    """A `descend.loop.Callback` with two more hooks, which `fit` calls on observers among its `callbacks`."""

    def on_settings(self, settings: dict) -> None:
        """fit's settings that decide the result (config.json's "run" section, as JSON values), before on_start."""

    def on_result(self, result) -> None:
        """The FitResult (model, history, findings, stop reason, chosen lr), after the loop's on_end."""


def tell_settings(callbacks: Sequence[Callback], settings: dict) -> None:
    described = {name: describe(value) for name, value in settings.items()}
    for callback in callbacks:
        if isinstance(callback, FitObserver):
            callback.on_settings(described)


def tell_result(callbacks: Sequence[Callback], result) -> None:
    for callback in callbacks:
        if isinstance(callback, FitObserver):
            callback.on_result(result)
