"""AdamW over one flat buffer per param group: one fused kernel per group, whatever the number of tensors.

When a group is added (at construction or by `add_param_group`) its parameters are copied into one contiguous
buffer and rebound as views of it (`p.data`), and their gradients become views of a second buffer that
backward accumulates into. A step is then a single fused AdamW call (torch's own kernel) over the whole group,
so a model of 1000 small tensors steps with one kernel launch instead of 1000. The update is
torch.optim.AdamW's (same defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2).

Differences from torch.optim.AdamW, all consequences of the shared buffer:
- `zero_grad()` zeroes the gradient buffer instead of setting gradients to None, and a parameter that got
  no gradient is stepped with a zero gradient (its moments decay and weight decay applies) where torch skips it.
- a parameter or gradient rebound to new storage (`model.zero_grad()`, `p.data = ...`) is copied back into
  the buffer at the next step, before clipping; a parameter whose dtype, device or size changed
  (`model.double()`, `model.to("cuda")` after construction) is refused with an error naming it: create the
  optimizer after moving the model.
- the state is per group (the moments of the whole group as flat tensors, stored under the group's first
  parameter), so a state_dict loads into another AdamWFlat over the same groups, not into torch.optim.AdamW.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.optim.adam import adam as functional_adam

from ..core.errors import DescendError
from .base import DescendOptimizer
from .registry import register


class Flat(NamedTuple):
    """One group's flat parameter and gradient buffers, and the size of each parameter's slice."""

    values: torch.Tensor
    grads: torch.Tensor
    sizes: list[int]


class AdamWFlat(DescendOptimizer):
    """torch.optim.AdamW's update, with each group's parameters and gradients living in one flat buffer."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, grad_clip: float | None = None):
        self.buffers: dict[int, Flat] = {}   # keyed by id of the group's first parameter
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, grad_clip=grad_clip))

    def add_param_group(self, param_group: dict) -> None:
        """Check and add a group, then move its parameters into a flat buffer of their own."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if not group["params"]:
            return
        try:
            self.buffers[id(group["params"][0])] = _flatten(group)
        except DescendError:
            self.param_groups.pop()   # leave the optimizer as it was
            raise

    def _grads(self) -> list[torch.Tensor]:
        return [flat.grads for flat in self.buffers.values()]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero every gradient buffer (gradients stay allocated as views; see the module notes)."""
        for flat in self.buffers.values():
            flat.grads.zero_()

    def _before_update(self) -> None:
        for group in self.param_groups:
            if group["params"]:
                _reattach(group, self.buffers[id(group["params"][0])])

    def _update(self, group: dict) -> None:
        if not group["params"]:
            return
        first = group["params"][0]
        flat = self.buffers[id(first)]
        state = self.state[first]
        if not state:
            state.update(step=torch.tensor(0.0, device=flat.values.device), exp_avg=torch.zeros_like(flat.values),
                         exp_avg_sq=torch.zeros_like(flat.values))
        beta1, beta2 = group["betas"]
        functional_adam([flat.values], [flat.grads], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
                        fused=True, decoupled_weight_decay=True, amsgrad=False, beta1=beta1, beta2=beta2,
                        lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"], maximize=False)


def _flatten(group: dict) -> Flat:
    """Move the group's parameters (and gradients) into one flat buffer each and rebind them as views."""
    params = group["params"]
    kinds = {(p.dtype, p.device) for p in params}
    if len(kinds) > 1:
        raise DescendError(f"adamw_flat needs one dtype and device per param group, got {sorted(map(str, kinds))}; "
                           f"put the others in their own param group")
    sizes = [p.numel() for p in params]
    values = torch.empty(sum(sizes), dtype=params[0].dtype, device=params[0].device)
    flat = Flat(values, torch.zeros_like(values), sizes)
    _reattach(group, flat, force=True)
    return flat


@torch.no_grad()
def _reattach(group: dict, flat: Flat, force: bool = False) -> None:
    """Make each parameter and gradient a view of its slice again, copying in any that were rebound."""
    offset, size = 0, flat.values.element_size()
    values_at, grads_at = flat.values.data_ptr(), flat.grads.data_ptr()   # addresses as ints: no tensor per param
    for i, (p, n) in enumerate(zip(group["params"], flat.sizes)):
        if force or p.data_ptr() != values_at + offset * size:
            if not force:
                _check_rebound(group, i, flat)
            flat.values[offset:offset + n].copy_(p.detach().reshape(-1))
            p.data = flat.values[offset:offset + n].view_as(p)
        if p.grad is None or p.grad.data_ptr() != grads_at + offset * size:
            if p.grad is None:
                flat.grads[offset:offset + n].zero_()
            else:
                flat.grads[offset:offset + n].copy_(p.grad.reshape(-1))
            p.grad = flat.grads[offset:offset + n].view_as(p)
        offset += n


def _check_rebound(group: dict, index: int, flat: Flat) -> None:
    """Refuse a rebound parameter that no longer fits its slice (copying it in would silently convert it)."""
    p = group["params"][index]
    if (p.dtype, p.device, p.numel()) == (flat.values.dtype, flat.values.device, flat.sizes[index]):
        return
    names = group.get("param_names")
    label = repr(names[index]) if names else f"{index} of its param group"
    raise DescendError(f"adamw_flat: parameter {label} is now {p.dtype} on {p.device} with {p.numel()} elements, "
                       f"but its flat buffer holds {flat.values.dtype} on {flat.values.device} with "
                       f"{flat.sizes[index]}; it was moved or converted (model.to(), model.double()) after the "
                       f"optimizer was built: create the optimizer after moving the model")


register("adamw_flat", AdamWFlat, "AdamW over one flat buffer per group: one fused kernel per step (fast)")
