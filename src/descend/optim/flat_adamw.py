"""Adam and AdamW over flat buffers: one fused kernel per param group, whatever the number of tensors.

When a group is added (at construction or by `add_param_group`) the parameters of every group are copied into
one contiguous buffer (one per dtype and device, each group a slice of it) and rebound as views of it (`p.data`),
and their gradients become views of a second buffer that backward accumulates into. A step is then one fused
AdamW call (torch's own kernel, called directly) per group, so a model of 1000 small tensors steps with one
kernel launch instead of 1000, and `grad_norm()` and `zero_grad()` are one operation over the gradient buffer.
The update is torch.optim.AdamW's (same defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2);
AdamFlat's is torch.optim.Adam's (weight decay added to the gradient, default 0). Like torch's fused optimizers,
a step honours `optimizer.found_inf` (a tensor set by the caller, as torch's GradScaler does): where it is 1 the
update is skipped on the device, with no host synchronization.

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

from ..core.errors import DescendError
from .base import DescendOptimizer
from .denormals import flushed
from .registry import register


class Flat(NamedTuple):
    """One group's slices of the flat parameter and gradient buffers, and the size of each parameter's slice."""

    values: torch.Tensor
    grads: torch.Tensor
    sizes: list[int]


class Layout(NamedTuple):
    """Every parameter of every group, and the addresses where its value's and its gradient's slice start:
    compared in one pass before every step to find parameters or gradients rebound since."""

    params: list[torch.Tensor]
    value_ptrs: list[int]
    grad_ptrs: list[int]


class AdamWFlat(DescendOptimizer):
    """torch.optim.AdamW's update, with each group's parameters and gradients living in one flat buffer."""

    decoupled = True   # weight decay shrinks the weights (AdamW); False adds it to the gradient (Adam)

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, grad_clip: float | None = None):
        self.buffers: dict[int, Flat] = {}   # keyed by id of the group's first parameter
        self.storage: list[torch.Tensor] = []   # the gradient buffers that hold every group's slice, one per kind
        self.layout = Layout([], [], [])
        self._layout_checked = False   # see grad_norm(steps_next=True)
        self._constructing = True   # the groups given here are laid out once, after the last is added
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, grad_clip=grad_clip))
        self._constructing = False
        self._lay_out()

    def add_param_group(self, param_group: dict) -> None:
        """Check and add a group, then lay every group's parameters out in the flat buffers again (the new group's
        slices after the others')."""
        super().add_param_group(param_group)
        if not self.param_groups[-1]["params"]:
            return
        try:
            _one_kind(self.param_groups[-1])
        except DescendError:
            self.param_groups.pop()   # leave the optimizer as it was
            raise
        if not self._constructing:
            self._lay_out()

    def _lay_out(self) -> None:
        self._layout_checked = False
        self.buffers, self.storage, self.layout = _flatten([group for group in self.param_groups if group["params"]])

    def _grads(self) -> list[torch.Tensor]:
        return [flat.grads for flat in self.buffers.values()]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the gradient buffers (gradients stay allocated as views; see the module notes)."""
        self._layout_checked = False
        for grads in self.storage:
            grads.zero_()

    def grad_norm(self, *, steps_next: bool = False) -> torch.Tensor:
        """The Euclidean norm of every gradient together, as a device tensor: one reduction over the buffer that
        holds them (rebound gradients are copied back in first). `steps_next`: the caller steps right after,
        with nothing between that could rebind a parameter or gradient (fit's step), so that step trusts this
        look at the layout instead of taking its own."""
        self._before_update()
        self._layout_checked = steps_next
        if len(self.storage) == 1:
            return torch.linalg.vector_norm(self.storage[0])
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g).float() for g in self.storage]))

    def _before_update(self) -> None:
        if self._layout_checked:
            self._layout_checked = False
            return
        if _attached(self.layout):
            return
        for group in self.param_groups:
            if group["params"]:
                _reattach(group, self.buffers[id(group["params"][0])])

    def _update_all(self) -> None:
        """Every group's update by torch's fused kernel, called directly (torch.optim.adam's functional wrapper
        costs more than the kernel on a small model); the step counts advance together, and go back where
        `found_inf` made the kernel skip, as torch's own fused path does, unless the caller set `skips_counted`
        and gives the skipped steps back itself (`take_back`)."""
        groups = [group for group in self.param_groups if group["params"]]
        states = [self._state(group) for group in groups]
        steps = [state["step"] for state in states]
        found_inf = getattr(self, "found_inf", None)
        kernel = torch._fused_adamw_ if self.decoupled else torch._fused_adam_
        torch._foreach_add_(steps, 1)
        for group, state in zip(groups, states):
            flat = self.buffers[id(group["params"][0])]
            beta1, beta2 = group["betas"]
            with flushed(flat.values.device):   # moments stuck at a denormal cost 20x (see denormals.py)
                kernel([flat.values], [flat.grads], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
                       lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                       eps=group["eps"], amsgrad=False, maximize=False, grad_scale=getattr(self, "grad_scale", None),
                       found_inf=found_inf)
        if found_inf is not None and not getattr(self, "skips_counted", False):
            torch._foreach_sub_(steps, [found_inf] * len(steps))

    def take_back(self, skipped: int) -> None:
        """Take `skipped` steps whose updates `found_inf` skipped back from every group's step count. A caller
        that reads on the host which steps were skipped (fit, when it settles a few steps' values at once) sets
        `skips_counted` while it steps and calls this before anything reads the counts, in place of one
        operation every step; no update reads a count in between, since once `found_inf` is 1 it stays 1 until
        the caller reads the steps (fit's sticky flag)."""
        if skipped:
            torch._foreach_sub_([self._state(group)["step"] for group in self.param_groups if group["params"]],
                                float(skipped))

    def _state(self, group: dict) -> dict:
        """The group's step count and moments (flat tensors), made on its first step."""
        state = self.state[group["params"][0]]
        if not state:
            values = self.buffers[id(group["params"][0])].values
            state.update(step=torch.tensor(0.0, device=values.device), exp_avg=torch.zeros_like(values),
                         exp_avg_sq=torch.zeros_like(values))
        return state


class AdamFlat(AdamWFlat):
    """torch.optim.Adam's update (L2 weight decay, default 0) over one flat buffer per group."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, grad_clip: float | None = None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, grad_clip=grad_clip)


def _one_kind(group: dict) -> None:
    """Refuse a group whose parameters differ in dtype or device (one buffer holds one kind)."""
    kinds = {(p.dtype, p.device) for p in group["params"]}
    if len(kinds) > 1:
        raise DescendError(f"adamw_flat needs one dtype and device per param group, got {sorted(map(str, kinds))}; "
                           f"put the others in their own param group")


def _flatten(groups: list[dict]) -> tuple[dict[int, Flat], list[torch.Tensor], Layout]:
    """Lay the groups' parameters (and gradients) out in one value buffer and one gradient buffer per dtype and
    device, each group a slice of them, and rebind every parameter and gradient as a view of its part."""
    kinds: dict[tuple, list[dict]] = {}
    for group in groups:
        first = group["params"][0]
        kinds.setdefault((first.dtype, first.device), []).append(group)
    buffers, storage = {}, []
    for (dtype, device), members in kinds.items():
        total = sum(p.numel() for group in members for p in group["params"])
        values = torch.empty(total, dtype=dtype, device=device)
        grads = torch.zeros_like(values)
        storage.append(grads)
        offset = 0
        for group in members:
            sizes = [p.numel() for p in group["params"]]
            end = offset + sum(sizes)
            flat = Flat(values[offset:end], grads[offset:end], sizes)
            _reattach(group, flat, force=True)
            buffers[id(group["params"][0])] = flat
            offset = end
    params = [p for group in groups for p in group["params"]]
    return buffers, storage, Layout(params, [p.data_ptr() for p in params], [p.grad.data_ptr() for p in params])


def _attached(layout: Layout) -> bool:
    """Whether every parameter and gradient is still the view of its slice: the common case, tested in two list
    comparisons instead of a Python loop per parameter."""
    return ([p.data_ptr() for p in layout.params] == layout.value_ptrs and
            [0 if p.grad is None else p.grad.data_ptr() for p in layout.params] == layout.grad_ptrs)


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
