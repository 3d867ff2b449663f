"""Filter-normalized random directions (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets").

A Gaussian direction is rescaled filter by filter (each slice along the first dimension of a weight tensor) to the
norm of the same filter in the weights, so that a step of 1 along it changes every filter by its own size and the
picture is comparable across layers and models. One-dimensional tensors (biases, norm scales) get a zero direction,
as in the paper: they are left where they are.
"""
from __future__ import annotations

from typing import Mapping

import torch

from ...core.errors import DescendError

Params = Mapping[str, torch.Tensor]


def filter_normalized(direction: Params, weights: Params) -> dict[str, torch.Tensor]:
    """`direction` rescaled so that each filter's norm equals the matching filter's norm in `weights`."""
    out = {}
    for name, w in weights.items():
        d = direction[name]
        if d.shape != w.shape:
            raise DescendError(f"direction for {name!r} has shape {tuple(d.shape)}, weights {tuple(w.shape)}")
        if w.dim() <= 1:
            out[name] = torch.zeros_like(w)
            continue
        d_norm = d.flatten(1).norm(dim=1).clamp_min(torch.finfo(d.dtype).tiny)
        w_norm = w.flatten(1).norm(dim=1)
        out[name] = d * (w_norm / d_norm).view(-1, *([1] * (w.dim() - 1)))
    return out


def random_directions(weights: Params, count: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """`count` filter-normalized Gaussian directions; the same seed and weights give the same directions."""
    if count < 1:
        raise DescendError(f"count={count}: ask for at least one direction")
    generator = torch.Generator().manual_seed(seed)
    drawn = []
    for _ in range(count):
        gauss = {name: torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device)
                 for name, w in weights.items()}
        drawn.append(filter_normalized(gauss, weights))
    return drawn
