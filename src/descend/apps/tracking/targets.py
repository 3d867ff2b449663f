"""The CLI's `--log TRACKER:WHERE` (tensorboard:DIR, mlflow:URI): read and checked when the options are, turned
into a tracker callback when training starts."""
from __future__ import annotations

from ...core.errors import DescendError
from .mlflow_log import MLflow
from .tensorboard_log import TensorBoard

TRACKERS = {"tensorboard": TensorBoard, "mlflow": MLflow}


def parse_target(text: str) -> str:
    """`text` as given when it names a tracker and a place (tensorboard:runs/tb, mlflow:sqlite:///mlflow.db),
    else a DescendError saying what is expected."""
    name, _, where = str(text).partition(":")
    if name.strip().lower() not in TRACKERS or not where.strip():
        raise DescendError(f"expected TRACKER:WHERE with TRACKER one of {', '.join(TRACKERS)} (tensorboard:DIR, "
                           f"mlflow:URI), got {text!r}")
    return f"{name.strip().lower()}:{where.strip()}"


def from_target(text: str):
    """The tracker callback for a `--log` value (refused in one line when its package is missing); it writes
    nothing until a fit starts."""
    name, _, where = parse_target(text).partition(":")
    return TRACKERS[name](where)


def from_targets(texts) -> list:
    return [from_target(text) for text in texts]
