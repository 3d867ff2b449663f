"""Checks of values a user passes, shared by every layer; each refuses with a message naming the value."""
from __future__ import annotations

import numbers

import torch
from torch import nn

from .errors import DescendError


def align(output: torch.Tensor, target: torch.Tensor, what: str = "this loss",
          labels_take: str = "loss='cross_entropy'") -> torch.Tensor:
    """The output shaped like the target: an (N, 1) output for an (N,) target loses its trailing 1; any other
    mismatch is refused (naming `what` needs them to match, and `labels_take`, what takes class labels instead),
    since broadcasting would compare every output with every target."""
    if output.dim() == target.dim() + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)
    if output.shape != target.shape:
        hint = _class_hint(output, target, labels_take)
        raise DescendError(f"model output has shape {tuple(output.shape)} but the target has shape "
                           f"{tuple(target.shape)}; they must match for {what}{hint}")
    return output


def _class_hint(output: torch.Tensor, target: torch.Tensor, labels_take: str) -> str:
    """For (N, C) outputs against (N,) whole numbers 0..C-1 (class labels under an elementwise loss, most often
    fit's default mse left in place, or an elementwise metric), what takes them."""
    if output.dim() != 2 or target.shape != output.shape[:1] or output.shape[1] < 2:
        return ""
    whole = not target.dtype.is_floating_point or bool((target == target.round()).all())
    if not whole or target.min() < 0 or target.max() >= output.shape[1]:
        return ""
    return (f"; class labels 0..{output.shape[1] - 1} with one output column per class take "
            f"{labels_take}")


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value is finite, by one float64 sum (NaN and Inf carry into it; float64 keeps large finite
    values from overflowing): finite data, the usual case, then needs no elementwise mask."""
    return bool(torch.isfinite(tensor.sum(dtype=torch.float64)))


def plural(noun: str) -> str:
    """English plural of a setting's name: "loss" -> "losses", "metric" -> "metrics"."""
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def check_choice(kind: str, name: str, valid) -> str:
    """Return `name` lower-cased if it is one of `valid`, else raise naming the valid choices."""
    key = str(name).lower()
    if key not in valid:
        raise DescendError(f"unknown {kind} {name!r}; valid {plural(kind)}: {', '.join(sorted(valid))}")
    return key


def check_positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """Return `value` as an int if it is a whole number >= 1 (None passes when `allow_none`), else raise naming it.

    Accepts numpy integers too; refuses bools and floats, since a count given as 2.5 is a mistake, not a request."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DescendError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def unheld_parameters(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
    """The model's trainable parameters that an optimizer instance does not hold, by name, and of how many
    ({"weights": [...], "of": n}); None when it holds them all. fit refuses an optimizer that holds none (built on
    a copy), and the doctor names one that leaves some out at a cost."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name, p in trainable if id(p) not in held]
    return {"weights": missing, "of": len(trainable)} if missing else None
