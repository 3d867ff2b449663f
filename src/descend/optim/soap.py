"""SOAP: Adam run in Shampoo's eigenbasis (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam").

A weight W (viewed as a matrix, first dimension by the rest) with gradient G keeps Shampoo's two statistics
    L = b L + (1 - b) G G^T,   R = b R + (1 - b) G^T G      (b = shampoo_beta, default beta2)
and takes their eigenvectors Q_L, Q_R after step 1 and then every `precondition_frequency` steps. Adam runs in
that rotated basis: with G' = Q_L^T G Q_R and k = t - 1 moment updates so far,
    M = beta1 M + (1 - beta1) G          (kept in the original basis, rotated when used)
    V = beta2 V + (1 - beta2) G'^2        (kept in the rotated basis)
    W = W - lr sqrt(1 - beta2^k) / (1 - beta1^k) Q_L [ (Q_L^T M Q_R) / (sqrt(V) + eps) ] Q_R^T
    W = W (1 - lr weight_decay)
As in the authors' code, step 1 only collects the statistics (no weight update), L and R take each gradient
after the step it drives (a gradient never enters its own projection), the bias correction scales the step
size, and decay follows the step. A side longer than `max_precond_dim` is left unrotated; 1-D tensors get
plain Adam. Defaults are the authors': lr=3e-3, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01,
precondition_frequency=10, max_precond_dim=10000. Differences from their code (docs/optimizers.md, measured):
the basis is always an exact eigendecomposition (theirs refreshes it with one power-iteration step and QR,
re-sorting V), and a >2-D tensor is flattened to a matrix (theirs preconditions every dimension).
"""
from __future__ import annotations

import math

import torch

from .base import DescendOptimizer
from .checks import check_count, check_fraction
from .moments import bias_corrections, denominator, update_moments
from .registry import register


class SOAP(DescendOptimizer):
    """Shampoo-preconditioned Adam: Adam's moments in the eigenbasis of Shampoo's Kronecker factors."""

    def __init__(self, params, lr: float = 3e-3, betas: tuple[float, float] = (0.95, 0.95), eps: float = 1e-8,
                 weight_decay: float = 0.01, precondition_frequency: int = 10, max_precond_dim: int = 10000,
                 shampoo_beta: float | None = None, grad_clip: float | None = None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      precondition_frequency=precondition_frequency,
                                      max_precond_dim=max_precond_dim, shampoo_beta=shampoo_beta,
                                      grad_clip=grad_clip))

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        check_count("precondition_frequency", hyper["precondition_frequency"], where=where)
        check_count("max_precond_dim", hyper["max_precond_dim"], where=where)
        if hyper["shampoo_beta"] is not None:
            check_fraction("shampoo_beta", hyper["shampoo_beta"], where=where)

    def _update(self, group: dict) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self._state(p, group)
            state["step"] = t = state["step"] + 1
            g = p.grad.reshape(state["exp_avg_sq"].shape)
            if t > 1:   # step 1 only builds the basis
                self._adam_step(p, g, state, group, t - 1)
            self._accumulate(state, g, group)
            if (t - 1) % group["precondition_frequency"] == 0:
                for side in ("L", "R"):
                    if side in state:
                        state["Q" + side] = torch.linalg.eigh(state[side]).eigenvectors

    def _adam_step(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict, k: int) -> None:
        """Adam's k-th update in the current eigenbasis, then decoupled decay."""
        update_moments(state["exp_avg"], None, g, group["betas"])
        update_moments(None, state["exp_avg_sq"], _rotate(g, state, back=False), group["betas"])
        c1, c2 = bias_corrections(group["betas"], k)
        rotated = _rotate(state["exp_avg"], state, back=False) / denominator(state["exp_avg_sq"], group["eps"])
        p.add_(_rotate(rotated, state, back=True).view_as(p), alpha=-(group["lr"] * (math.sqrt(c2) / c1)))
        if group["weight_decay"]:
            p.mul_(1 - group["weight_decay"] * group["lr"])

    def _accumulate(self, state: dict, g: torch.Tensor, group: dict) -> None:
        b = group["shampoo_beta"] if group["shampoo_beta"] is not None else group["betas"][1]
        if "L" in state:
            state["L"].lerp_(g @ g.T, 1 - b)
        if "R" in state:
            state["R"].lerp_(g.T @ g, 1 - b)

    def _state(self, p: torch.Tensor, group: dict) -> dict:
        state = self.state[p]
        if state:
            return state
        rows, cols = (p.shape[0], p.numel() // p.shape[0]) if p.ndim >= 2 else (1, p.numel())
        state.update(step=0, exp_avg=torch.zeros(rows, cols, dtype=p.dtype, device=p.device),
                     exp_avg_sq=torch.zeros(rows, cols, dtype=p.dtype, device=p.device))
        for side, size in (("L", rows), ("R", cols)):
            if p.ndim >= 2 and size <= group["max_precond_dim"]:
                state[side] = torch.zeros(size, size, dtype=p.dtype, device=p.device)
        return state


def _rotate(x: torch.Tensor, state: dict, back: bool) -> torch.Tensor:
    """Express matrix `x` in the eigenbasis (Q_L^T x Q_R), or bring it back (Q_L x Q_R^T) with `back`."""
    x = x.reshape(state["exp_avg_sq"].shape)
    if "QL" in state:
        x = (state["QL"] if back else state["QL"].T) @ x
    if "QR" in state:
        x = x @ (state["QR"].T if back else state["QR"])
    return x


register("soap", SOAP, "SOAP, Adam in Shampoo's eigenbasis (Vyas et al. 2024)")
