"""Adam's two moments and their bias correction, written once for every descend optimizer that keeps them.

LAMB, SOAP, Schedule-Free AdamW and Prodigy all keep m = beta1 m + (1 - beta1) g and
v = beta2 v + (1 - beta2) g^2 (Prodigy with g scaled by its estimate d). The operations are the ones the
authors' packages use (multiply, then add), so the parity tests can ask for bit-identical results.
"""
from __future__ import annotations

import torch


def update_moments(exp_avg: torch.Tensor | None, exp_avg_sq: torch.Tensor | None, grad: torch.Tensor,
                   betas: tuple[float, float], scale: float = 1.0) -> None:
    """In place: m = beta1 m + (1 - beta1) scale g and v = beta2 v + (1 - beta2) scale^2 g^2 (either may be None)."""
    beta1, beta2 = betas
    if exp_avg is not None:
        exp_avg.mul_(beta1).add_(grad, alpha=scale * (1 - beta1))
    if exp_avg_sq is not None:
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=scale * scale * (1 - beta2))


def bias_corrections(betas: tuple[float, float], step: int) -> tuple[float, float]:
    """Adam's (1 - beta1^t, 1 - beta2^t) after `step` moment updates."""
    return 1 - betas[0] ** step, 1 - betas[1] ** step


def denominator(exp_avg_sq: torch.Tensor, eps: float, correction2: float = 1.0) -> torch.Tensor:
    """sqrt(v / correction2) + eps, a new tensor (correction2 = 1 - beta2^t debiases v; 1.0 leaves it)."""
    if correction2 == 1.0:   # the same bits without a pass over v
        return exp_avg_sq.sqrt().add_(eps)
    return exp_avg_sq.div(correction2).sqrt_().add_(eps)
