"""SOAP: Adam run in Shampoo's eigenbasis (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam").

A weight W (viewed as a matrix, first dimension by the rest) with gradient G keeps Shampoo's two statistics
    L = b L + (1 - b) G G^T,   R = b R + (1 - b) G^T G      (b = shampoo_beta, default beta2)
and every `precondition_frequency` steps (and at step 1) takes their eigenvectors Q_L, Q_R. Adam then runs in
that rotated basis: with G' = Q_L^T G Q_R,
    M = beta1 M + (1 - beta1) G          (kept in the original basis, rotated when used)
    V = beta2 V + (1 - beta2) G'^2        (kept in the rotated basis)
    N = Q_L [ (Q_L^T M Q_R / (1 - beta1^t)) / (sqrt(V / (1 - beta2^t)) + eps) ] Q_R^T
    W = W (1 - lr weight_decay) - lr N
A side longer than `max_precond_dim` is left unrotated; 1-D tensors get plain AdamW.
Defaults are the authors': lr=3e-3, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01, precondition_frequency=10,
max_precond_dim=10000. Differences from the authors' code: they use step 1 only to build the statistics (no
weight update), refresh the basis with one power-iteration step and QR (re-sorting V to follow it) where this
computes exact eigenvectors with eigh, apply the bias correction to the step size (eps is not rescaled),
decay the weights after the step, and precondition every dimension of a >2-D tensor where this flattens it to
a matrix.
"""
from __future__ import annotations

import torch

from .base import DescendOptimizer
from .checks import check_count, check_fraction
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
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self._state(p, group)
            state["step"] = t = state["step"] + 1
            g = p.grad.reshape(state["exp_avg_sq"].shape)
            self._refresh_basis(state, g, group, t)
            rotated = _rotate(g, state, back=False)
            state["exp_avg"].lerp_(g, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(rotated, rotated, value=1 - beta2)
            m_hat = _rotate(state["exp_avg"], state, back=False) / (1 - beta1 ** t)
            v_hat = state["exp_avg_sq"] / (1 - beta2 ** t)
            direction = _rotate(m_hat / v_hat.sqrt().add_(group["eps"]), state, back=True)
            if group["weight_decay"]:
                p.mul_(1 - group["lr"] * group["weight_decay"])
            p.add_(direction.view_as(p), alpha=-group["lr"])

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

    def _refresh_basis(self, state: dict, g: torch.Tensor, group: dict, t: int) -> None:
        b = group["shampoo_beta"] if group["shampoo_beta"] is not None else group["betas"][1]
        if "L" in state:
            state["L"].mul_(b).add_(g @ g.T, alpha=1 - b)
        if "R" in state:
            state["R"].mul_(b).add_(g.T @ g, alpha=1 - b)
        if (t - 1) % group["precondition_frequency"] == 0:
            for side in ("L", "R"):
                if side in state:
                    state["Q" + side] = torch.linalg.eigh(state[side]).eigenvectors


def _rotate(x: torch.Tensor, state: dict, back: bool) -> torch.Tensor:
    """Express matrix `x` in the eigenbasis (Q_L^T x Q_R), or bring it back (Q_L x Q_R^T) with `back`."""
    x = x.reshape(state["exp_avg_sq"].shape)
    if "QL" in state:
        x = (state["QL"] if back else state["QL"].T) @ x
    if "QR" in state:
        x = x @ (state["QR"].T if back else state["QR"])
    return x


register("soap", SOAP, "SOAP, Adam in Shampoo's eigenbasis (Vyas et al. 2024)")
