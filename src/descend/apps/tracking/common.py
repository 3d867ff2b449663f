"""What the trackers share: the optional package check, the numbers of a history record, flat hyperparameters,
the findings as data and the final model as safetensors bytes."""
from __future__ import annotations

import importlib
import json
import math
import numbers

from ...core.errors import DescendError
from ...runs.checkpoint import weights_bytes

NOT_SCALARS = ("step",)   # the x-axis, not a series


def require(module: str, extra: str, tracker: str):
    """Import `module`, or refuse in one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DescendError(f"{tracker} logging needs the {extra} package, which is not installed: "
                           f"pip install 'descend[{extra}]'") from None


def scalars(record: dict) -> dict[str, float]:
    """The numbers of one history record (loss, lr, grad_norm, epoch, val_* ...), under the history's names."""
    return {key: float(value) for key, value in record.items()
            if key not in NOT_SCALARS and isinstance(value, numbers.Real) and not isinstance(value, bool)}


def flat_settings(settings: dict) -> dict[str, str | float | int | bool]:
    """fit's described settings as one level of plain values: numbers, booleans and text stay, everything else
    (None, lists, schedules, rules) becomes its JSON text."""
    return {key: value if isinstance(value, (str, bool, int, float)) else json.dumps(value)
            for key, value in settings.items()}


def findings_data(findings) -> list[dict]:
    return [finding.to_dict() for finding in findings]


def best_metrics(best: dict) -> dict[str, float]:
    """The best record's finite numbers, named best_<key>: the run's results beside its hyperparameters."""
    return {f"best_{key}": value for key, value in scalars(best).items() if math.isfinite(value)}


def model_bytes(model) -> bytes:
    """The final model's weights as a safetensors file."""
    return weights_bytes(model.state_dict())
