"""Weights as one flat vector and back: PCA, Lanczos and Hutchinson work on flat vectors, models on named tensors."""
from __future__ import annotations

from typing import Mapping

import torch

Params = Mapping[str, torch.Tensor]


def flatten(params: Params) -> torch.Tensor:
    """All tensors of `params`, in their order, as one vector."""
    return torch.cat([t.detach().reshape(-1) for t in params.values()])


def unflatten(vector: torch.Tensor, like: Params) -> dict[str, torch.Tensor]:
    """`vector` cut into tensors named and shaped like `like` (views, no copy)."""
    pieces = torch.split(vector, [t.numel() for t in like.values()])
    return {name: piece.view_as(t) for (name, t), piece in zip(like.items(), pieces)}


def all_finite(params: Params) -> bool:
    """Whether no tensor of `params` holds a NaN or an Inf (a diverged run's weights do)."""
    return all(bool(t.isfinite().all()) for t in params.values())
