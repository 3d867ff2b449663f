"""Checks of values a user passes, shared by every layer; each refuses with a message naming the value."""
from __future__ import annotations

import torch

from .errors import DescendError


def align(output: torch.Tensor, target: torch.Tensor, what: str = "this loss") -> torch.Tensor:
    """The output shaped like the target: an (N, 1) output for an (N,) target loses its trailing 1; any other
    mismatch is refused (naming `what` needs them to match), since broadcasting would compare every output with
    every target."""
    if output.dim() == target.dim() + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)
    if output.shape != target.shape:
        raise DescendError(f"model output has shape {tuple(output.shape)} but the target has shape "
                           f"{tuple(target.shape)}; they must match for {what}")
    return output
