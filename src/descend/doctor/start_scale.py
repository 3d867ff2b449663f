"""How large each weight starts next to its layer's own default initialization: a start far below it leaves the
signal and the gradient vanishing through the layers (a saddle at zero), which the loss alone reads as a plateau."""
from __future__ import annotations

import math

import torch
from torch import nn

SCALED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _default_rms(module: nn.Module, weight: torch.Tensor) -> float | None:
    """The root mean square PyTorch's own reset_parameters gives `weight` of `module`: U(-1/sqrt(fan_in), ..) for
    linear and convolution layers, U(-1/sqrt(hidden), ..) for recurrent ones, N(0, 1) for embeddings; None for
    other modules (their defaults vary)."""
    if isinstance(module, SCALED):
        return 1 / math.sqrt(3 * max(weight[0].numel(), 1))
    if isinstance(module, nn.RNNBase):
        return 1 / math.sqrt(3 * module.hidden_size)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return 1.0
    return None


def start_scales(model: nn.Module) -> dict[str, float]:
    """Per trained weight (two or more dimensions) of a layer whose default is known: its root mean square over
    that default's, by parameter name, as the run starts (1: PyTorch's default; kaiming's is 2.4x)."""
    found = [(f"{prefix}.{name}" if prefix else name, weight, _default_rms(module, weight))
             for prefix, module in model.named_modules() for name, weight in module.named_parameters(recurse=False)
             if weight.requires_grad and weight.dim() >= 2 and weight.numel()]
    found = [(name, weight, default) for name, weight, default in found if default]
    norms = torch._foreach_norm([weight.detach() for _, weight, _ in found]) if found else []
    return {name: float(norm) / math.sqrt(weight.numel()) / default
            for (name, weight, default), norm in zip(found, norms)}
