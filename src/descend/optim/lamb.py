"""LAMB: Adam with a layer-wise trust ratio (You et al. 2020, "Large Batch Optimization for Deep Learning").

For each parameter tensor w with gradient g (step t, bias-corrected moments as in Adam):
    m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
    u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + weight_decay * w
    w = w - lr * (||w|| / ||u||) * u          (the ratio is 1 when either norm is 0)
Defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01 (the paper's Algorithm 2 with phi the
identity). Differences from common implementations: some (e.g. NVIDIA apex) make Adam's bias correction
optional and TensorFlow Addons excludes tensors from decay by name; here bias correction is always applied,
as in the paper's algorithm, and which tensors decay is decided by param groups (`descend.optim.create`
leaves 1-D parameters undecayed).
"""
from __future__ import annotations

import torch

from .base import DescendOptimizer
from .registry import register


class LAMB(DescendOptimizer):
    """Layer-wise Adaptive Moments for Batch training: per-tensor step size ||w|| / ||update||."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.01, grad_clip: float | None = None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, grad_clip=grad_clip))

    def _update(self, group: dict) -> None:
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:   # a Python int step: bias corrections need no device sync
                state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            state["step"] = t = state["step"] + 1
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            update = (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt_().add_(group["eps"]))
            if group["weight_decay"]:
                update.add_(p, alpha=group["weight_decay"])
            w_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
            ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
            p.sub_(group["lr"] * ratio * update)


register("lamb", LAMB, "LAMB, Adam with a per-tensor trust ratio (You et al. 2020)")
