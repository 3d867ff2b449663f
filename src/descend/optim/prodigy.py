"""Prodigy: Adam whose step size d is estimated on the fly (Mishchenko & Defazio 2023, "Prodigy: An
Expeditiously Adaptive Parameter-Free Learner"), so `lr` stays 1.0 and only scales the estimate.

Step k (lr_k the group's lr, d_k the current estimate, x_0 the starting weights, beta3 = sqrt(beta2)):
    m = beta1 m + (1 - beta1) d_k g,          v = beta2 v + (1 - beta2) d_k^2 g^2
    r = beta3 r + (1 - beta3) lr_k d_k^2 <g, x_0 - x>,   s = beta3 s + (1 - beta3) lr_k d_k^2 g
    d_{k+1} = max(d_k, r / ||s||_1)
    x = x - lr_k d_k (m / (sqrt(v) + d_k eps) + weight_decay x)
r and ||s||_1 are sums over every parameter in every group, so one d serves the whole model (as in the paper).
Defaults are the authors': lr=1.0, betas=(0.9, 0.999), beta3=sqrt(beta2), eps=1e-8, weight_decay=0 (decoupled),
d0=1e-6. Differences from the authors' code: their step uses the new estimate d_{k+1} inside the eps term
and omits the (1 - beta3) factors (they cancel in r / ||s||_1); their options for bias correction, a growth
limit and "safeguard warmup" are not offered.
"""
from __future__ import annotations

import torch

from .base import DescendOptimizer
from .checks import check_fraction, check_positive
from .registry import register


class Prodigy(DescendOptimizer):
    """Learning-rate-free Adam: d grows from d0 to the distance-to-solution scale the gradients reveal."""

    unschedulable = ("grad_clip", "d", "numerator")   # d and its numerator are the estimate Prodigy keeps

    def __init__(self, params, lr: float = 1.0, betas: tuple[float, float] = (0.9, 0.999),
                 beta3: float | None = None, eps: float = 1e-8, weight_decay: float = 0.0, d0: float = 1e-6,
                 grad_clip: float | None = None):
        check_positive("d0", d0)
        super().__init__(params, dict(lr=lr, betas=betas, beta3=beta3, eps=eps, weight_decay=weight_decay,
                                      d=d0, numerator=0.0, grad_clip=grad_clip))

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        if hyper["beta3"] is not None:
            check_fraction("beta3", hyper["beta3"], where=where)

    def _update_all(self) -> None:
        live = [(g, p) for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not live:
            return
        first = self.param_groups[0]
        d = first["d"]
        beta3 = first["beta3"] if first["beta3"] is not None else first["betas"][1] ** 0.5
        dots, scales, s_sums = [], [], []   # summed on the device: one host sync per step, not two per tensor
        for group, p in live:
            state = self._state(p)
            beta1, beta2 = group["betas"]
            scales.append((1 - beta3) * group["lr"] * d * d)
            dots.append(torch.dot(p.grad.flatten(), (state["x0"] - p).flatten()))
            state["s"].mul_(beta3).add_(p.grad, alpha=scales[-1])
            s_sums.append(state["s"].abs().sum())
            state["exp_avg"].mul_(beta1).add_(p.grad, alpha=(1 - beta1) * d)
            state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=(1 - beta2) * d * d)
        for group, p in live:
            state = self.state[p]
            step = group["lr"] * d
            if group["weight_decay"]:
                p.mul_(1 - step * group["weight_decay"])
            p.addcdiv_(state["exp_avg"], state["exp_avg_sq"].sqrt().add_(d * group["eps"]), value=-step)
        device = live[0][1].device
        added = (_stack(dots, device) * torch.tensor(scales, dtype=torch.float64, device=device)).sum()
        added, s_norm = torch.stack([added, _stack(s_sums, device).sum()]).tolist()
        numerator = beta3 * first["numerator"] + added
        new_d = max(d, numerator / s_norm) if s_norm > 0 else d
        for group in self.param_groups:
            group["d"], group["numerator"] = new_d, numerator

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:
            state.update(x0=p.detach().clone(), s=torch.zeros_like(p), exp_avg=torch.zeros_like(p),
                         exp_avg_sq=torch.zeros_like(p))
        return state


def _stack(values: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Per-tensor scalars as one float64 vector on `device` (parameters may live on several devices)."""
    return torch.stack([v.to(device=device, dtype=torch.float64) for v in values])


register("prodigy", Prodigy, "Prodigy, learning-rate-free Adam (Mishchenko & Defazio 2023)")
