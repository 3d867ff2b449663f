"""Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less Scheduled").

Three sequences replace a learning-rate schedule: z takes plain (SGD or Adam-normalized) steps, x is a weighted
running average of z, and the gradient is taken at their interpolation y:
    y_t = (1 - beta1) z_t + beta1 x_t                       (the weights the model holds while training)
    z_{t+1} = z_t - lr_t * (d_t + weight_decay * y_t)        (d_t = g_t for SGD, g_t / (sqrt(v_t) + eps) for AdamW)
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},   c_{t+1} = lr_t^2 / sum_{i<=t} lr_i^2
with, for AdamW, v_t = beta2 v_{t-1} + (1 - beta2) g_t^2 and lr_t = lr * sqrt(1 - beta2^t) * min(1, t / warmup).
Evaluate and save at x: call `optimizer.eval()` first and `optimizer.train()` before the next step (`fit` does
both). Only z (and v) are stored; x and y are recovered from each other and z, so memory matches SGD/AdamW.

Defaults are the authors': SGD lr=1.0, momentum(beta1)=0.9; AdamW lr=0.0025, betas=(0.9, 0.999), eps=1e-8;
weight_decay=0 and warmup_steps=0 for both. Differences from the authors' code: the average's weight is the
current lr_t^2, as in the paper, where their code uses the largest lr seen so far (the two agree unless the
learning rate is lowered during training); their polynomial weighting option (r) is not offered.
"""
from __future__ import annotations

import math

import torch

from ..core.errors import DescendError
from .base import DescendOptimizer
from .checks import check_count, check_fraction
from .registry import register


class _ScheduleFree(DescendOptimizer):
    """The y/z/x bookkeeping both variants share; subclasses give the step direction d_t and its lr."""

    unschedulable = ("grad_clip", "k", "weight_sum")   # k and weight_sum are the averaging's running counts

    def __init__(self, params, defaults: dict):
        super().__init__(params, {**defaults, "k": 0, "weight_sum": 0.0, "train_mode": True})

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        # eval() computes x = lerp(y, z, 1 - 1/beta1): beta1 must not be 0
        check_fraction("betas[0]", hyper["betas"][0], low_open=True, high_open=True, where=where)
        check_count("warmup_steps", hyper["warmup_steps"], minimum=0, where=where)

    def _direction(self, p: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        raise NotImplementedError

    def _lr(self, group: dict, t: int) -> float:
        warm = group["warmup_steps"]
        return group["lr"] * (min(1.0, t / warm) if warm else 1.0)

    def _update(self, group: dict) -> None:
        if not group["train_mode"]:
            raise DescendError("a Schedule-Free optimizer is in eval mode; call optimizer.train() before step()")
        beta1 = group["betas"][0]
        group["k"] += 1
        lr = self._lr(group, group["k"])
        group["weight_sum"] += lr ** 2
        c = lr ** 2 / group["weight_sum"] if group["weight_sum"] > 0 else 0.0
        for y in group["params"]:
            if y.grad is None:
                continue
            state = self.state[y]
            if "z" not in state:
                state["z"] = y.detach().clone()
            z = state["z"]
            direction = self._direction(y, state, group)
            if group["weight_decay"]:
                direction.add_(y, alpha=group["weight_decay"])
            # y_{t+1} = (1 - c) y_t + c z_t + lr (beta1 (1 - c) - 1) u_t, then z_{t+1} = z_t - lr u_t
            y.lerp_(z, c).add_(direction, alpha=lr * (beta1 * (1 - c) - 1))
            z.sub_(direction, alpha=lr)

    @torch.no_grad()
    def eval(self) -> None:
        """Put the averaged weights x into the parameters (for evaluation and checkpoints)."""
        self._switch(to_train=False)

    @torch.no_grad()
    def train(self) -> None:
        """Put the gradient point y back into the parameters (before the next step)."""
        self._switch(to_train=True)

    def _switch(self, to_train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == to_train:
                continue
            beta1 = group["betas"][0]
            weight = 1 - beta1 if to_train else 1 - 1 / beta1   # y = lerp(x, z, 1-beta1) <=> x = lerp(y, z, 1-1/beta1)
            for p in group["params"]:
                if "z" in self.state[p]:
                    p.lerp_(self.state[p]["z"], weight)
            group["train_mode"] = to_train


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-Free SGD: momentum through interpolation and averaging instead of a momentum buffer."""

    def __init__(self, params, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 warmup_steps: int = 0, grad_clip: float | None = None):
        check_fraction("momentum", momentum, low_open=True, high_open=True)
        super().__init__(params, dict(lr=lr, betas=(momentum, 0.0), weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, grad_clip=grad_clip))

    def _direction(self, p: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        return p.grad.clone()


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-Free AdamW: Adam's per-coordinate normalization on the z sequence, decoupled decay at y."""

    def __init__(self, params, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 0, grad_clip: float | None = None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, grad_clip=grad_clip))

    def _lr(self, group: dict, t: int) -> float:
        return super()._lr(group, t) * math.sqrt(1 - group["betas"][1] ** t)

    def _direction(self, p: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        beta2 = group["betas"][1]
        if "exp_avg_sq" not in state:
            state["exp_avg_sq"] = torch.zeros_like(p)
        v = state["exp_avg_sq"]
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        return p.grad / v.sqrt().add_(group["eps"])


register("schedule_free_sgd", ScheduleFreeSGD, "Schedule-Free SGD, no schedule needed (Defazio et al. 2024)")
register("schedule_free_adamw", ScheduleFreeAdamW, "Schedule-Free AdamW, no schedule needed (Defazio et al. 2024)")
