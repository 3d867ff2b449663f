"""Hyperparameter checks shared by `create` and every descend optimizer; each refusal names the parameter.

`where` (e.g. " in param group 1") is appended to a message so a bad per-group value is found at once.
"""
from __future__ import annotations

import math
import numbers

import torch

from ..core.errors import DescendError


def as_number(value) -> float | None:
    """`value` as a float when it is a real number or a one-element tensor (never a bool or a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, torch.Tensor):
        return float(value) if value.numel() == 1 else None
    return float(value) if isinstance(value, numbers.Real) else None


def check_nonnegative(name: str, value, where: str = "") -> None:
    """Refuse anything but a finite number >= 0 (NaN, inf, strings and bools included)."""
    number = as_number(value)
    if number is None or not math.isfinite(number):
        raise DescendError(f"{name} must be a finite number >= 0, got {value!r}{where}")
    if number < 0:
        raise DescendError(f"{name} must be >= 0, got {value!r}{where}")


def check_positive(name: str, value, *, allow_none: bool = False, where: str = "") -> None:
    """Refuse anything but a finite number > 0 (None passes with `allow_none`)."""
    if value is None and allow_none:
        return
    number = as_number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise DescendError(f"{name} must be a finite number > 0, got {value!r}{where}")


def check_count(name: str, value, minimum: int = 1, where: str = "") -> None:
    """Refuse anything but an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DescendError(f"{name} must be an integer >= {minimum}, got {value!r}{where}")


def check_fraction(name: str, value, *, low_open: bool = False, high_open: bool = False, where: str = "") -> None:
    """Refuse a value outside [0, 1] (ends excluded with `low_open`/`high_open`)."""
    number = as_number(value)
    inside = number is not None and (0 < number if low_open else 0 <= number) and (
        number < 1 if high_open else number <= 1)
    if not inside:
        raise DescendError(f"{name} must be in {'(' if low_open else '['}0, 1{')' if high_open else ']'}, "
                           f"got {value!r}{where}")


def validate(hyper: dict, where: str = "") -> None:
    """Refuse the common hyperparameters out of range: lr, weight_decay, eps >= 0; momentum and betas in [0, 1).

    Keys that are absent or None are left alone; a tuple `eps` (Adafactor's pair) is left to torch.
    """
    for key in ("lr", "weight_decay", "eps"):
        value = hyper.get(key)
        if value is not None and not (key == "eps" and isinstance(value, tuple)):
            check_nonnegative(key, value, where)
    if hyper.get("momentum") is not None:
        check_fraction("momentum", hyper["momentum"], high_open=True, where=where)
    betas = hyper.get("betas")
    if betas is None:
        return
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise DescendError(f"betas must be a pair (beta1, beta2), e.g. (0.9, 0.999), got {betas!r}{where}")
    for i, beta in enumerate(betas):
        check_fraction(f"betas[{i}]", beta, high_open=True, where=where)
