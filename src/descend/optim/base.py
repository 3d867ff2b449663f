"""The frame every descend optimizer shares: checked hyperparameters, closure, optional gradient clipping.

Subclasses describe one update in `_update(group)` (or `_update_all()` when groups share statistics, as in
Prodigy) and extend `_check(hyper, where)` with their own hyperparameters; this class checks the defaults and
every param group (at construction and in `add_param_group`), runs the closure, clips the global gradient norm
when `grad_clip` is set, and loops.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.optim import optimizer as _torch_optimizer

from ..core.errors import DescendError
from .checks import check_positive, validate
from .denormals import flushed
from .naming import named_group

Closure = Callable[[], torch.Tensor]


def clip_grad_norm(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scale all gradients together so their joint Euclidean norm is at most `max_norm` (as clip_grad_norm_)."""
    if not grads:
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, scale)


def run_closure(closure: Closure | None):
    """Evaluate an optimizer closure with gradients enabled (steps run under no_grad); None gives None."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def step_clipped(step: Callable, grads: Callable[[], list[torch.Tensor]], max_norm: float | None,
                 closure: Closure | None):
    """Call `step(closure)` so that it sees gradients clipped to one global norm `max_norm` (None: no clipping).

    Without a closure the gradients are clipped first; with one, after each evaluation of it, so an optimizer
    that calls the closure itself (inside its step) still gets clipped gradients.
    """
    if max_norm is None:
        return step(closure)
    if closure is None:
        clip_grad_norm(grads(), max_norm)
        return step()

    def clipped():
        loss = closure()
        clip_grad_norm(grads(), max_norm)
        return loss
    return step(clipped)


def present_grads(params) -> list[torch.Tensor]:
    """The gradients of `params` that exist."""
    return [p.grad for p in params if p.grad is not None]


def undecorated(method: Callable) -> Callable:
    """One of torch.optim.Optimizer's methods that torch wraps to keep torch.compile from tracing them
    (add_param_group, zero_grad, state_dict, load_state_dict), without that wrapper outside torch.compile: it
    imports torch._dynamo on its first call (1-3 s, as long as importing torch), which made it most of a small
    fit's start-up, and descend's optimizers otherwise never need it. The undecorated method is functools.wraps'
    `__wrapped__`; where a torch version has none, the method is used as it is."""
    if torch.compiler.is_compiling():
        return method
    return getattr(method, "__wrapped__", method)


def step_unwrapped(optimizer: torch.optim.Optimizer) -> None:
    """`optimizer.step()`, without torch's per-step profiler scope where nothing relies on it. torch.optim runs
    every step inside a profiler scope (a dispatcher call on entry and on exit: ~20 us a step here, more than a
    small model's fused update) around its step hooks. With no `step` patched on the instance (an LR scheduler's
    call tracking), no profiler running and outside torch.compile, the method under the wrapper (functools.wraps'
    `__wrapped__`) makes the same update, between the step hooks (global and the optimizer's, in torch's order,
    a pre-hook's new arguments passed on, as torch's wrapper does: the doctor's sampled steps have hooks);
    otherwise, or where a torch version lacks any of these attributes, the wrapped step runs. On the CPU the
    update flushes denormal floats to zero (see denormals.py: Adam's moments of weights whose gradients are 0
    otherwise make every step many times slower), whichever optimizer it is."""
    with flushed(_device(optimizer)):
        _step_unscoped(optimizer)


def _device(optimizer: torch.optim.Optimizer) -> torch.device:
    """The device of the optimizer's first parameter (the CPU for an optimizer without any)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            return p.device
    return torch.device("cpu")


def _step_unscoped(optimizer: torch.optim.Optimizer) -> None:
    method = getattr(type(optimizer).step, "__wrapped__", None)
    hooks = (getattr(_torch_optimizer, "_global_optimizer_pre_hooks", None),
             getattr(optimizer, "_optimizer_step_pre_hooks", None),
             getattr(optimizer, "_optimizer_step_post_hooks", None),
             getattr(_torch_optimizer, "_global_optimizer_post_hooks", None))
    if (method is None or None in hooks or "step" in vars(optimizer)
            or torch.autograd._profiler_enabled() or torch.compiler.is_compiling()):
        optimizer.step()
    elif any(hooks):
        _hooked_step(optimizer, method, *hooks)
    else:
        method(optimizer)


def _hooked_step(optimizer, method: Callable, global_pre, pre, post, global_post) -> None:
    """torch's step wrapper without its profiler scope: pre-hooks (global first; one may return new (args,
    kwargs)), the update, post-hooks (the optimizer's first)."""
    args, kwargs = (optimizer,), {}
    for hook in [*global_pre.values(), *pre.values()]:
        result = hook(optimizer, args, kwargs)
        if result is not None:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(f"an optimizer step pre-hook must return None or (new_args, new_kwargs), got "
                                   f"{result!r}")
            args, kwargs = result
    method(*args, **kwargs)
    for hook in [*post.values(), *global_post.values()]:
        hook(optimizer, args, kwargs)


class DescendOptimizer(torch.optim.Optimizer):
    """A torch.optim.Optimizer whose hyperparameters are checked up front, per group too, and that can clip."""

    unschedulable: tuple[str, ...] = ("grad_clip",)   # group entries no schedule may set: grad_clip is read once
    names_new_groups = True   # add_param_group names an unnamed group when the others are named

    def __init__(self, params, defaults: dict):
        self._check(defaults)
        super().__init__(params, defaults)

    def _check(self, hyper: dict, where: str = "") -> None:
        """Refuse out-of-range hyperparameters, naming the parameter (and `where`: which param group)."""
        validate(hyper, where)
        check_positive("grad_clip", hyper.get("grad_clip"), allow_none=True, where=where)

    def add_param_group(self, param_group: dict) -> None:
        """torch's add_param_group, with the group's values checked like the constructor's first (names made up
        for an unnamed group when the others have names)."""
        where = f" in param group {len(self.param_groups)}"
        if param_group.get("grad_clip", self.defaults.get("grad_clip")) != self.defaults.get("grad_clip"):
            raise DescendError(f"grad_clip is one global norm over all groups; set it on the optimizer, not{where}")
        self._check({**self.defaults, **param_group}, where)
        undecorated(torch.optim.Optimizer.add_param_group)(self, named_group(self, param_group))

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's load_state_dict; a group entry the saved groups lack (a checkpoint from an older descend, before
        e.g. Prodigy's d_coef) keeps this optimizer's value instead of vanishing."""
        current = [dict(group) for group in self.param_groups]
        undecorated(torch.optim.Optimizer.load_state_dict)(self, state_dict)
        for group, before in zip(self.param_groups, current):
            for key, value in before.items():
                group.setdefault(key, value)

    def state_dict(self) -> dict:
        """torch's state_dict (see `undecorated`)."""
        return undecorated(torch.optim.Optimizer.state_dict)(self)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's zero_grad (see `undecorated`)."""
        undecorated(torch.optim.Optimizer.zero_grad)(self, set_to_none)

    def _grads(self) -> list[torch.Tensor]:
        return present_grads(p for group in self.param_groups for p in group["params"])

    @torch.no_grad()
    def step(self, closure: Closure | None = None):
        """One update; `closure` (re-evaluating the loss with gradients) is called first when given."""
        loss = run_closure(closure)
        self._before_update()
        if self.defaults.get("grad_clip") is not None:   # one global norm over all groups
            clip_grad_norm(self._grads(), self.defaults["grad_clip"])
        self._update_all()
        return loss

    def _before_update(self) -> None:
        """Hook run after the closure and before clipping (AdamWFlat re-attaches gradients here)."""

    def _update_all(self) -> None:
        for group in self.param_groups:
            self._update(group)

    def _update(self, group: dict) -> None:
        raise NotImplementedError
