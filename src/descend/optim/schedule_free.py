"""Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less Scheduled").

Three sequences replace a learning-rate schedule: z takes plain (SGD or Adam-normalized) steps, x is a weighted
running average of z, and the gradient is taken at their interpolation y:
    y_t = (1 - beta1) z_t + beta1 x_t                       (the weights the model holds while training)
    z_{t+1} = z_t - lr_t * (d_t + weight_decay * y_t)        (d_t = g_t for SGD, Adam-normalized g_t for AdamW)
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},   c_{t+1} = max_{i<=t} lr_i^2 / sum_{i<=t} max_{j<=i} lr_j^2
with lr_t = lr * min(1, t / warmup) and, for AdamW, v_t = beta2 v_{t-1} + (1 - beta2) g_t^2. The two AdamW
variants are the authors' two:
- `ScheduleFreeAdamW` (their `AdamWScheduleFree`, since schedulefree 1.3): d_t = g_t / (sqrt(v_t / (1 - beta2^t))
  + eps). Weight decay is lr * weight_decay from the first step, as in torch's AdamW, and every step at the
  same lr weighs the same in the average.
- `ScheduleFreeAdamWPaper` (their `AdamWScheduleFreePaper`, the paper's and pre-1.3 behaviour): d_t = g_t /
  (sqrt(v_t) + eps) and lr_t carries the bias correction, lr_t = lr * sqrt(1 - beta2^t) * min(1, t / warmup),
  so early steps, their weight decay and their weight in the average are all scaled down.
Evaluate and save at x: call `optimizer.eval()` first and `optimizer.train()` before the next step (`fit` does
both). Only z (and v) are stored; x and y are recovered from each other and z, so memory matches SGD/AdamW.

Defaults are the authors': SGD lr=1.0, momentum=0.9; AdamW lr=0.0025, betas=(0.9, 0.999), eps=1e-8;
weight_decay=0 and warmup_steps=0 for all. Per-group values (momentum too) are honoured and checked. The
authors' polynomial weighting (r) and weight_lr_power are not offered (their defaults, 0 and 2, are what this
computes); docs/optimizers.md lists the differences, measured.
"""
from __future__ import annotations

import math

import torch

from ..core.errors import DescendError
from .base import DescendOptimizer
from .checks import check_count, check_fraction
from .moments import bias_corrections, denominator, update_moments
from .registry import register


class _ScheduleFree(DescendOptimizer):
    """The y/z/x bookkeeping every variant shares; subclasses give beta1, the step direction d_t and its lr."""

    unschedulable = ("grad_clip", "k", "weight_sum", "lr_max")   # the averaging's running counts

    def __init__(self, params, defaults: dict):
        super().__init__(params, {**defaults, "k": 0, "weight_sum": 0.0, "lr_max": -1.0, "train_mode": True})

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        check_count("warmup_steps", hyper["warmup_steps"], minimum=0, where=where)

    def _beta1(self, group: dict) -> float:
        raise NotImplementedError

    def _direction(self, p: torch.Tensor, state: dict, group: dict, t: int) -> torch.Tensor:
        raise NotImplementedError

    def _lr(self, group: dict, t: int) -> float:
        warm = group["warmup_steps"]
        return group["lr"] * (t / warm if t < warm else 1.0)

    def _update(self, group: dict) -> None:
        if not group["train_mode"]:
            raise DescendError("a Schedule-Free optimizer is in eval mode; call optimizer.train() before step()")
        beta1 = self._beta1(group)
        group["k"] = t = group["k"] + 1
        lr = self._lr(group, t)
        group["lr_max"] = max(lr, group["lr_max"])
        weight = group["lr_max"] ** 2
        group["weight_sum"] += weight
        c = weight / group["weight_sum"] if group["weight_sum"] > 0 else 0.0
        for y in group["params"]:
            if y.grad is None:
                continue
            state = self.state[y]
            if "z" not in state:
                state["z"] = y.detach().clone()
            z = state["z"]
            direction = self._direction(y, state, group, t)
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
            beta1 = self._beta1(group)
            weight = 1 - beta1 if to_train else 1 - 1 / beta1   # y = lerp(x, z, 1-beta1) <=> x = lerp(y, z, 1-1/beta1)
            for p in group["params"]:
                if "z" in self.state[p]:
                    p.lerp_(self.state[p]["z"], weight)
            group["train_mode"] = to_train


class ScheduleFreeSGD(_ScheduleFree):
    """Schedule-Free SGD: momentum through interpolation and averaging instead of a momentum buffer."""

    def __init__(self, params, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 warmup_steps: int = 0, grad_clip: float | None = None):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, grad_clip=grad_clip))

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        # eval() computes x = lerp(y, z, 1 - 1/momentum): momentum must not be 0
        check_fraction("momentum", hyper["momentum"], low_open=True, high_open=True, where=where)

    def _beta1(self, group: dict) -> float:
        return group["momentum"]

    def _direction(self, p: torch.Tensor, state: dict, group: dict, t: int) -> torch.Tensor:
        return p.grad.clone()


class ScheduleFreeAdamW(_ScheduleFree):
    """Schedule-Free AdamW as the authors' package has it since 1.3: Adam's debiased normalization on z."""

    def __init__(self, params, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 0, grad_clip: float | None = None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, grad_clip=grad_clip))

    def _check(self, hyper: dict, where: str = "") -> None:
        super()._check(hyper, where)
        # eval() computes x = lerp(y, z, 1 - 1/beta1): beta1 must not be 0
        check_fraction("betas[0]", hyper["betas"][0], low_open=True, high_open=True, where=where)

    def _beta1(self, group: dict) -> float:
        return group["betas"][0]

    def _correction2(self, group: dict, t: int) -> float:
        return bias_corrections(group["betas"], t)[1]

    def _direction(self, p: torch.Tensor, state: dict, group: dict, t: int) -> torch.Tensor:
        if "exp_avg_sq" not in state:
            state["exp_avg_sq"] = torch.zeros_like(p)
        update_moments(None, state["exp_avg_sq"], p.grad, group["betas"])
        return p.grad / denominator(state["exp_avg_sq"], group["eps"], self._correction2(group, t))


class ScheduleFreeAdamWPaper(ScheduleFreeAdamW):
    """Schedule-Free AdamW as in the paper (the authors' AdamWScheduleFreePaper): the bias correction scales lr."""

    def _lr(self, group: dict, t: int) -> float:
        return super()._lr(group, t) * math.sqrt(bias_corrections(group["betas"], t)[1])

    def _correction2(self, group: dict, t: int) -> float:
        return 1.0


register("schedule_free_sgd", ScheduleFreeSGD, "Schedule-Free SGD, no schedule needed (Defazio et al. 2024)")
register("schedule_free_adamw", ScheduleFreeAdamW, "Schedule-Free AdamW, no schedule needed (Defazio et al. 2024)")
register("schedule_free_adamw_paper", ScheduleFreeAdamWPaper,
         "Schedule-Free AdamW as in the paper: bias correction on the lr (Defazio et al. 2024)")
