"""The torch module an estimator trains: the default MLP, or the user's module, class or factory, built for the
data's numbers of inputs and outputs."""
from __future__ import annotations

import copy
from typing import Sequence

from torch import nn

from ...core.checks import check_choice
from ...core.errors import DescendTypeError

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU}


def mlp(n_inputs: int, n_outputs: int, hidden: Sequence[int] = (128, 64), activation: str = "relu") -> nn.Sequential:
    """Linear layers of the `hidden` widths, each followed by `activation`, then a linear output layer."""
    layer = ACTIVATIONS[check_choice("activation", activation, ACTIVATIONS)]
    widths, layers = [n_inputs, *hidden], []
    for width_in, width_out in zip(widths, widths[1:]):
        layers += [nn.Linear(width_in, width_out), layer()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], n_outputs))


def build(module, n_inputs: int, n_outputs: int, hidden: Sequence[int], activation: str) -> nn.Module:
    """A fresh module for a fit: the default MLP (module=None), a copy of a module instance (every fit starts from
    the same weights; an estimator never trains the object it was given), or `module(n_inputs, n_outputs)` for a
    class or factory."""
    if module is None:
        return mlp(n_inputs, n_outputs, tuple(hidden), activation)
    if isinstance(module, nn.Module):
        return copy.deepcopy(module)
    if not callable(module):
        raise DescendTypeError(f"module must be None (the default MLP), a torch.nn.Module, or a class or factory "
                               f"called as module(n_inputs, n_outputs); got {module!r}")
    built = module(n_inputs, n_outputs)
    if not isinstance(built, nn.Module):
        raise DescendTypeError(f"module({n_inputs}, {n_outputs}) returned {type(built).__name__}, not a "
                               "torch.nn.Module; give a class or factory that builds one for these input and "
                               "output sizes")
    return built
