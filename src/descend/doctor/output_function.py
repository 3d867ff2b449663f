"""The bounded function that made a model's output, read in the forward pass the doctor already makes on the
comparison rows: an output activation applied as a function in `forward` (`torch.sigmoid(self.head(h))`,
`F.softplus(...)`, `x.tanh()`, `torch.clamp(x, 0, 1)`) is no module, so module hooks never see it. A torch function
mode sees every torch call of that pass, a module's (nn.Sigmoid calls torch.sigmoid) as much as a function's, and
keeps the last call of a function with a bounded range, with that range read from its own arguments (a clamp's
limits, a Hardtanh's min_val and max_val, an ELU's alpha). No forward pass is added."""
from __future__ import annotations

import contextlib
import math

import torch
from torch.overrides import TorchFunctionMode

from .probes import made_output

# torch function name (an in-place "_" dropped) -> the name findings use (torch's module for it) and its range
FIXED_RANGES = {"sigmoid": ("Sigmoid", 0.0, 1.0), "tanh": ("Tanh", -1.0, 1.0), "softplus": ("Softplus", 0.0, math.inf),
                "relu": ("ReLU", 0.0, math.inf), "relu6": ("ReLU6", 0.0, 6.0), "hardsigmoid": ("Hardsigmoid", 0.0, 1.0),
                "softsign": ("Softsign", -1.0, 1.0), "softmax": ("Softmax", 0.0, 1.0), "exp": ("exp", 0.0, math.inf)}
# functions whose range comes from arguments: name -> (the name findings use, (position, keywords, default) of the
# low and of the high end); an ELU's low end is minus its alpha
ARGUED_RANGES = {"clamp": ("clamp", (1, ("min",), -math.inf), (2, ("max",), math.inf)),
                 "clip": ("clamp", (1, ("min",), -math.inf), (2, ("max",), math.inf)),
                 "clamp_min": ("clamp", (1, ("min",), -math.inf), None),
                 "clamp_max": ("clamp", None, (1, ("max",), math.inf)),
                 "hardtanh": ("Hardtanh", (1, ("min_val",), -1.0), (2, ("max_val",), 1.0)),
                 "elu": ("ELU", (1, ("alpha",), 1.0), None), "celu": ("CELU", (1, ("alpha",), 1.0), None)}


class _LastBounded(TorchFunctionMode):
    """Keeps [name, low, high, result, result's version counter] of the last bounded function called."""

    def __init__(self):
        super().__init__()
        self.last: list = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "").rstrip("_")
        if isinstance(result, torch.Tensor) and (name in FIXED_RANGES or name in ARGUED_RANGES):
            self.last[:] = (*bounds(name, args, kwargs), result, result._version)
        return result


def bounds(name: str, args: tuple, kwargs: dict) -> tuple[str, float, float]:
    """(the name findings use, low, high) of torch function `name` called with `args` and `kwargs`."""
    if name in FIXED_RANGES:
        return FIXED_RANGES[name]
    shown, low, high = ARGUED_RANGES[name]
    low_value = _argument(args, kwargs, *low) if low else -math.inf
    if name in ("elu", "celu"):
        low_value = -low_value
    return shown, low_value, _argument(args, kwargs, *high) if high else math.inf


def _argument(args: tuple, kwargs: dict, position: int, keywords: tuple[str, ...], default: float) -> float:
    """A number argument given by position or keyword (a one-value tensor counts); `default` when it is not given,
    is None, or is a tensor of several values (an elementwise limit has no one range)."""
    value = args[position] if len(args) > position else next((kwargs[k] for k in keywords if k in kwargs), None)
    if isinstance(value, torch.Tensor):
        value = float(value) if value.numel() == 1 else None
    return default if value is None else float(value)


@contextlib.contextmanager
def last_bounded():
    """While it is open, [name, low, high, output, the output's version counter] of the last bounded torch
    function called (see FIXED_RANGES, ARGUED_RANGES); one output is held at a time. Empty without one."""
    mode = _LastBounded()
    with mode:
        yield mode.last


def output_bound(last: list, out: torch.Tensor) -> tuple[str, float, float] | None:
    """(name, low, high) of the bounded function that made the model's output `out` (see last_bounded and
    probes.made_output); None when something changed its output after it, or none ran."""
    return (last[0], last[1], last[2]) if last and made_output(last[3], last[4], out) else None
