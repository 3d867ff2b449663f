"""LAMB: Adam with a layer-wise trust ratio (You et al. 2020, "Large Batch Optimization for Deep Learning").

For each parameter tensor w with gradient g (step t, bias-corrected moments as in Adam):
    m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
    u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + weight_decay * w
    w = w - lr * (||w|| / ||u||) * u          (the ratio is 1 when either norm is 0)
Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, bias_correction=True (the paper's
Algorithm 2 with phi the identity). `bias_correction=False` drops the 1 - beta^t divisions, as
pytorch-optimizer's Lamb does by default. Which tensors decay is decided by param groups
(`descend.optim.create` leaves 1-D parameters undecayed). docs/optimizers.md lists every difference from
pytorch-optimizer's Lamb, measured.
"""
from __future__ import annotations

import torch

from .base import DescendOptimizer
from .moments import bias_corrections, denominator, update_moments
from .registry import register


class LAMB(DescendOptimizer):
    """Layer-wise Adaptive Moments for Batch training: per-tensor step size ||w|| / ||update||."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.01, bias_correction: bool = True, grad_clip: float | None = None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      bias_correction=bias_correction, grad_clip=grad_clip))

    def _update(self, group: dict) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:   # a Python int step: bias corrections need no device sync
                state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            state["step"] += 1
            update_moments(state["exp_avg"], state["exp_avg_sq"], p.grad, group["betas"])
            c1, c2 = bias_corrections(group["betas"], state["step"]) if group["bias_correction"] else (1.0, 1.0)
            update = (state["exp_avg"] / c1).div_(denominator(state["exp_avg_sq"], group["eps"], c2))
            if group["weight_decay"]:
                update.add_(p, alpha=group["weight_decay"])
            w_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
            ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
            p.addcmul_(update, ratio * -group["lr"])   # p - lr ratio update, without a host sync for the ratio


register("lamb", LAMB, "LAMB, Adam with a per-tensor trust ratio (You et al. 2020)")
