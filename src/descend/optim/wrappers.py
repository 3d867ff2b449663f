"""Optimizers that wrap another: gradient clipping, Lookahead and an exponential moving average (EMA).

A wrapper is itself a torch.optim.Optimizer sharing the inner one's param_groups and state, so schedules,
`zero_grad` and checkpoints see one optimizer. Every wrapper takes `grad_clip=max_norm` (one global norm over
all its parameters, applied before the inner step). Its own tensors (slow or averaged weights) travel in
`state_dict()["wrapper"]` and are restored by `load_state_dict`.
"""
from __future__ import annotations

import torch

from ..core.errors import DescendError, DescendTypeError
from .base import Closure, undecorated, present_grads, step_clipped, step_unwrapped
from .checks import check_count, check_fraction, check_positive
from .modes import eval_mode, train_mode


class Wrapper(torch.optim.Optimizer):
    """Shares the inner optimizer's groups and state; clips first when asked; subclasses act in `_after_step`."""

    def __init__(self, inner: torch.optim.Optimizer, grad_clip: float | None = None):
        if not isinstance(inner, torch.optim.Optimizer):
            raise DescendTypeError(f"{type(self).__name__} wraps a torch.optim.Optimizer, got {type(inner).__name__}")
        check_positive("grad_clip", grad_clip, allow_none=True)
        if grad_clip is not None and isinstance(inner, torch.optim.LBFGS):
            raise DescendError("lbfgs does not take grad_clip: its line search needs the true gradients; "
                               "leave grad_clip unset")
        self.inner, self.grad_clip = inner, grad_clip
        super().__init__(inner.param_groups, {})
        self.defaults, self.state, self.param_groups = inner.defaults, inner.state, inner.param_groups
        self.unschedulable = getattr(inner, "unschedulable", ())
        self.count = 0
        self.extra: list[dict[str, torch.Tensor]] = [self._slot(p) for p in self._params()]
        self._joined = True   # from here on, add_param_group goes to the inner optimizer

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _slot(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """The wrapper's own tensors for parameter `p` (none here)."""
        return {}

    def add_param_group(self, param_group: dict) -> None:
        """Add the group to the inner optimizer (which checks it) and give its parameters the wrapper's slots."""
        if not getattr(self, "_joined", False):   # torch's __init__ registering the inner optimizer's groups
            undecorated(torch.optim.Optimizer.add_param_group)(self, param_group)   # without torch._dynamo
            return
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        slots = [self._slot(p) for p in params]   # may refuse: then nothing has changed
        self.inner.add_param_group({**param_group, "params": params})
        self.param_groups = self.inner.param_groups
        self.extra += slots

    @torch.no_grad()
    def step(self, closure: Closure | None = None):
        """Step the inner optimizer (on gradients clipped to `grad_clip`), then update the wrapper's own weights.
        A plain step skips the inner optimizer's profiler scope, as `step_unwrapped` does for the outer one."""
        if closure is None and self.grad_clip is None:
            loss = step_unwrapped(self.inner)
        else:
            loss = step_clipped(self.inner.step, lambda: present_grads(self._params()), self.grad_clip, closure)
        self.count += 1
        self._after_step()
        return loss

    def _after_step(self) -> None:
        """Act after each inner step (nothing here)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    def train(self) -> None:
        """Forward train-mode switching (Schedule-Free) to the inner optimizer."""
        train_mode(self.inner)

    def eval(self) -> None:
        """Forward eval-mode switching (Schedule-Free) to the inner optimizer."""
        eval_mode(self.inner)

    def state_dict(self) -> dict:
        out = self.inner.state_dict()
        out["wrapper"] = {"count": self.count, "tensors": [dict(e) for e in self.extra]}
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        mine = state_dict.pop("wrapper", None)
        if mine is None:
            raise DescendError(f"this state_dict has no 'wrapper' entry; it was not saved by {type(self).__name__}")
        self.inner.load_state_dict(state_dict)
        self.param_groups, self.state = self.inner.param_groups, self.inner.state
        self.count = int(mine["count"])
        self.extra = [{k: v.to(p) for k, v in e.items()} for e, p in zip(mine["tensors"], self._params())]


class GradClip(Wrapper):
    """Any optimizer with its gradients clipped to one global Euclidean norm `max_norm` before each step.

    `create(..., grad_clip=x)` returns torch's optimizers wrapped in this; the update is otherwise the inner one's.
    """

    def __init__(self, inner: torch.optim.Optimizer, max_norm: float):
        check_positive("grad_clip", max_norm)
        super().__init__(inner, grad_clip=max_norm)


class Lookahead(Wrapper):
    """Lookahead (Zhang et al. 2019): every k inner steps, slow += alpha (fast - slow) and fast = slow."""

    def __init__(self, inner: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5,
                 grad_clip: float | None = None):
        check_count("k", k)
        check_fraction("alpha", alpha, low_open=True)
        super().__init__(inner, grad_clip)
        self.k, self.alpha = k, alpha

    def _slot(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"slow": p.detach().clone()}

    def _after_step(self) -> None:
        if self.count % self.k:
            return
        for slot, p in zip(self.extra, self._params()):
            p.lerp_(slot["slow"], 1 - self.alpha)   # the operations of pytorch-optimizer's Lookahead
            slot["slow"].copy_(p)


class EMA(Wrapper):
    """Exponential moving average of the weights, debiased like Adam's moments; `eval()` swaps it in.

    avg_t = decay avg_{t-1} + (1 - decay) w_t with avg_0 = 0, read as avg_t / (1 - decay^t), so early
    averages are not pulled towards the initial weights. `eval()` puts the average into the parameters
    (keeping the training weights aside) and `train()` puts the training weights back; `fit` calls both.
    """

    def __init__(self, inner: torch.optim.Optimizer, decay: float = 0.999, grad_clip: float | None = None):
        check_fraction("decay", decay, low_open=True, high_open=True)
        super().__init__(inner, grad_clip)
        self.decay, self.averaged = decay, False
        self.skipped: torch.Tensor | None = None   # steps `found_inf` skipped since the count was last settled
        self.weight: torch.Tensor | None = None    # 1 - decay on found_inf's device, made with `skipped`

    def _slot(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.count:   # the shared debiasing 1 - decay^t would be wrong for an average that starts late
            raise DescendError("EMA cannot take new parameters once it has stepped; add the param group before "
                               "the first step")
        return {"avg": torch.zeros_like(p)}

    def step(self, closure: Closure | None = None):
        """The inner step, then the average's. Where the caller set `found_inf` (a device tensor, 1 on a step
        whose loss or gradients were not finite) both are skipped on the device: the inner optimizer is handed
        it, and the average moves by a weight of 0 and the step is not counted."""
        if self.averaged:
            raise DescendError("the EMA weights are swapped in; call optimizer.train() before step()")
        found_inf = getattr(self, "found_inf", None)
        if found_inf is None:
            return super().step(closure)
        self.inner.found_inf = found_inf
        try:
            return super().step(closure)
        finally:
            del self.inner.found_inf

    def _after_step(self) -> None:
        found_inf, weight = getattr(self, "found_inf", None), 1 - self.decay
        if found_inf is not None:   # two small operations: the weight, 0 on a skipped step, and the skip count
            if self.skipped is None:
                self.skipped, self.weight = torch.zeros_like(found_inf), torch.full_like(found_inf, weight)
            self.skipped.add_(found_inf)
            weight = [torch.sub(self.weight, found_inf, alpha=weight)] * len(self.extra)
        torch._foreach_lerp_([slot["avg"] for slot in self.extra], self._params(), weight)   # one call

    def _settle(self) -> None:
        """Take the skipped steps out of the count (reading them from the device once)."""
        if self.skipped is not None:
            self.count -= int(self.skipped.item())
            self.skipped = None

    def state_dict(self) -> dict:
        self._settle()
        out = super().state_dict()
        out["wrapper"]["averaged"] = self.averaged
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.averaged, self.skipped = bool(state_dict["wrapper"].get("averaged", False)), None

    @torch.no_grad()
    def eval(self) -> None:
        """Put the averaged weights into the parameters, keeping the training weights aside."""
        super().eval()
        self._settle()
        if self.averaged or self.count == 0:
            return
        debias = 1 - self.decay ** self.count
        for slot, p in zip(self.extra, self._params()):
            slot["train"] = p.detach().clone()
            p.copy_(slot["avg"] / debias)
        self.averaged = True

    @torch.no_grad()
    def train(self) -> None:
        """Put the training weights back."""
        if self.averaged:
            for slot, p in zip(self.extra, self._params()):
                p.copy_(slot.pop("train"))
            self.averaged = False
        super().train()
