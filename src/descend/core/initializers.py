"""Parameter initialization by name, through torch.nn.init."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .checks import check_choice

_SCHEMES = {
    "xavier": nn.init.xavier_uniform_,
    "glorot": nn.init.xavier_uniform_,
    "he": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "orthogonal": nn.init.orthogonal_,
}
SCHEMES = sorted(_SCHEMES)


def scheme(name: str | None) -> Callable[[torch.Tensor], object] | None:
    """The torch.nn.init function for scheme `name` (None for None); an unknown name raises, listing SCHEMES."""
    return None if name is None else _SCHEMES[check_choice("init scheme", name, _SCHEMES)]


def initialize(model: nn.Module, name: str | None) -> None:
    """Re-initialize the weights of linear and convolution layers with scheme `name`; biases become zero.

    `None` leaves the model as it was built. Other modules (norms, embeddings) keep their own initialization.
    """
    init_weight = scheme(name)
    if init_weight is None:
        return
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            init_weight(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
