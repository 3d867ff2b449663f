"""What `optimizer="auto"` can see before the first step: whether every step sees the same data, whether the
model computes the same loss twice on it, and how large the model is."""
from __future__ import annotations

import torch
from torch import nn

from ..data import first_batch, to_device


def batches_per_epoch(source) -> int | None:
    """How many batches one pass over the training data takes, when the source can tell."""
    try:
        return len(source)
    except TypeError:
        return None


def same_loss_twice(model: nn.Module, loss_fn, source, device: torch.device) -> bool:
    """Whether two forward passes over the first batch give bit-identical losses (no dropout or other noise in
    training mode); no shuffle is drawn and the global random generator is put back, so the run draws what it
    would have drawn."""
    rng = torch.get_rng_state()
    try:
        x, y = (to_device(t, device) for t in first_batch(source)[:2])
        with torch.no_grad():
            first, second = loss_fn(model(x), y), loss_fn(model(x), y)
        return bool(torch.equal(first, second))
    finally:
        torch.set_rng_state(rng)


def observe(model: nn.Module, loss_fn, source, *, accumulate: int, device: torch.device) -> dict:
    """The observations the choice reads, as plain data (they go into the Choice and config.json)."""
    params = [p for p in model.parameters() if p.requires_grad]
    per_epoch = batches_per_epoch(source)
    full_batch = per_epoch is not None and per_epoch <= accumulate
    return {"batches_per_epoch": per_epoch, "full_batch": full_batch,
            "deterministic": full_batch and same_loss_twice(model, loss_fn, source, device),
            "parameters": sum(p.numel() for p in params),
            "bytes_per_parameter": max((p.element_size() for p in params), default=4),
            "tensors": len(params)}
