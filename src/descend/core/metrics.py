"""Evaluation metrics by name, computed on a whole validation set's outputs."""
from __future__ import annotations

from typing import Callable

import torch

from .checks import align, check_choice
from .errors import DescendError

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def _flat(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Output and target as float tensors of one shape (see losses.align), for the regression metrics."""
    labels_take = "metrics=['accuracy'] (mse, rmse and mae compare numbers)"
    return align(output, target, "this metric", labels_take).float(), target.float()


def accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Share of correct classes: argmax over outputs, or a positive logit for a single output. Targets are
    class labels, one per row; anything else (one-hot rows, say) is refused with what to pass instead."""
    if target.dim() != 1 and not (target.dim() == 2 and target.shape[1] == 1):
        raise DescendError(f"metric 'accuracy' needs one class label per row, but the targets have shape "
                           f"{tuple(target.shape)}; for one-hot rows pass y.argmax(1) as class labels and train with "
                           f"loss='cross_entropy'")
    target = target.reshape(-1)
    if output.dim() >= 2 and output.shape[-1] > 1:
        predicted = output.argmax(dim=-1)
    else:
        predicted = (output.reshape(target.shape) > 0).long()
    return (predicted == target.long()).float().mean().item()


def mse(output, target) -> float:
    out, y = _flat(output, target)
    return torch.mean((out - y) ** 2).item()


def rmse(output, target) -> float:
    return mse(output, target) ** 0.5


def mae(output, target) -> float:
    out, y = _flat(output, target)
    return torch.mean(torch.abs(out - y)).item()


METRICS: dict[str, Metric] = {"accuracy": accuracy, "mse": mse, "rmse": rmse, "mae": mae}


def resolve(metrics) -> dict[str, Metric]:
    """Names or callables -> {name: fn}; a callable is named after its __name__."""
    out = {}
    for metric in metrics:
        if callable(metric):
            out[getattr(metric, "__name__", "metric")] = metric
        else:
            name = check_choice("metric", metric, METRICS)
            out[name] = METRICS[name]
    return out
