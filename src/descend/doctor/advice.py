"""What rules share to phrase a fix where the user is: the run's own settings, the references it is compared
with, and a fix's words with the `descend fit` options that apply it (only options that exist)."""
from __future__ import annotations

import math

from .findings import FLAGS
from .instruments import Readings
from .reference import References, constant_reference, references


def refs(r: Readings) -> References | None:
    """The references for this run's loss on its sample, fitted the first time a rule asks."""
    if r.references is None and r.sample is not None and r.model_losses is not None:
        r.references = references(r.settings.get("loss"), r.sample)
    return r.references if r.model_losses is not None else None


def constant_losses(r: Readings):
    """The best constant prediction's loss per comparison row (cheap: nothing is fitted); None when unknown."""
    if r.sample is None or r.model_losses is None:
        return None
    return constant_reference(r.settings.get("loss"), r.sample)


def with_flags(words: str, change: dict) -> str:
    """`words`, followed by the `descend fit` options that make `change` where such options exist."""
    flags = [f"{FLAGS[k]} {_flag_value(v)}" for k, v in change.items() if k in FLAGS]
    return f"{words} (descend fit: {' '.join(flags)})" if flags else words


def _flag_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.1e}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def setting(r: Readings, name: str, default=None):
    """A fit argument of this run (None and missing both give `default`)."""
    value = r.settings.get(name)
    return default if value is None else value


def restores_best(r: Readings) -> bool:
    """Whether a stop rule of the run puts back its best weights at the end."""
    return any(getattr(rule, "restore_best", False) for rule in setting(r, "stop", ()))


def longer(r: Readings, factor: int = 4) -> dict:
    """The change that lets the run take `factor` times as many steps, in the unit the run was limited by."""
    steps = r.history[-1]["step"] if r.history else 0
    if setting(r, "max_steps") is not None:
        return {"max_steps": int(factor * max(steps, 1))}
    epochs = setting(r, "max_epochs") or max(r.history[-1].get("epoch", 1), 1) if r.history else 1
    return {"max_epochs": int(factor * epochs)}


def finite(values) -> list[float]:
    return [v for v in values if math.isfinite(v)] or [math.inf]
