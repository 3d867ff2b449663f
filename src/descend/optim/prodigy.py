"""Prodigy: Adam whose step size d is estimated on the fly (Mishchenko & Defazio 2023, "Prodigy: An
Expeditiously Adaptive Parameter-Free Learner"), so `lr` stays 1.0 and only scales the estimate.

Step k (lr_k the group's lr, d_k the current estimate, x_0 the starting weights, beta3 = sqrt(beta2)):
    m = beta1 m + (1 - beta1) d_k g,          v = beta2 v + (1 - beta2) d_k^2 g^2
    r = beta3 r + (d_k / d_0) lr_k d_k <g, x_0 - x>,   s = beta3 s + (d_k / d_0) lr_k d_k g
    d_{k+1} = max(d_k, d_coef r / ||s||_1)
    x = x - lr_k d_k (m / (sqrt(v) + d_{k+1} eps) + weight_decay x)
r and ||s||_1 are sums over every parameter in every group, so one d serves the whole model (as in the paper).
The scale of r and s (the paper has 1 - beta3 where the code has d_k / d_0) cancels in their ratio; like the
authors' code, the eps term takes the new estimate d_{k+1}, and a step whose gradients are all zero changes
nothing. Defaults are the authors': lr=1.0, betas=(0.9, 0.999), beta3=sqrt(beta2), eps=1e-8, weight_decay=0
(decoupled), d0=1e-6, d_coef=1.0 (their recommended knob: below 1 for smaller steps, above for larger).
docs/optimizers.md lists the differences from their package (options not offered, per-group lr).
"""
from __future__ import annotations

import torch

from .base import DescendOptimizer
from .checks import check_fraction, check_positive
from .moments import denominator, update_moments
from .registry import register


class Prodigy(DescendOptimizer):
    """Learning-rate-free Adam: d grows from d0 to the distance-to-solution scale the gradients reveal."""

    unschedulable = ("grad_clip", "d", "d0", "numerator")   # d and its numerator are the estimate Prodigy keeps

    def __init__(self, params, lr: float = 1.0, betas: tuple[float, float] = (0.9, 0.999),
                 beta3: float | None = None, eps: float = 1e-8, weight_decay: float = 0.0, d0: float = 1e-6,
                 d_coef: float = 1.0, grad_clip: float | None = None):
        check_positive("d0", d0)
        super().__init__(params, dict(lr=lr, betas=betas, beta3=beta3, eps=eps, weight_decay=weight_decay,
                                      d=d0, d0=d0, d_coef=d_coef, numerator=0.0, grad_clip=grad_clip))

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        check_positive("d_coef", hyper["d_coef"], where=where)
        if hyper["beta3"] is not None:
            check_fraction("beta3", hyper["beta3"], where=where)

    def _update_all(self) -> None:
        live = [(g, p) for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not live:
            return
        first = self.param_groups[0]
        d, d0 = first["d"], first["d0"]
        beta3 = first["beta3"] if first["beta3"] is not None else first["betas"][1] ** 0.5
        dots, sums, scales = [], [], []   # brought to the host together: one sync per step, not two per tensor
        for group, p in live:
            state = self._state(p)
            scales.append((d / d0) * (d * group["lr"]))
            dots.append(torch.dot(p.grad.flatten(), (state["x0"] - p).flatten()))
            update_moments(state["exp_avg"], state["exp_avg_sq"], p.grad, group["betas"], scale=d)
            state["s"].mul_(beta3).add_(p.grad, alpha=scales[-1])
            sums.append(state["s"].abs().sum())
        values = _stack(dots + sums, live[0][1].device).tolist()
        added, s_norm = 0.0, 0.0
        for scale, dot, size in zip(scales, values[:len(live)], values[len(live):]):   # in order, as the authors
            added += scale * dot
            s_norm += size
        if s_norm == 0:
            return
        numerator = first["numerator"] * beta3 + added
        new_d = max(d, first["d_coef"] * numerator / s_norm)
        for group in self.param_groups:
            group["d"], group["numerator"] = new_d, numerator
        for group, p in live:
            step = d * group["lr"]
            if group["weight_decay"]:
                p.add_(p, alpha=-group["weight_decay"] * step)
            state = self.state[p]
            p.addcdiv_(state["exp_avg"], denominator(state["exp_avg_sq"], new_d * group["eps"]), value=-step)

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
