"""The registry's "adam", "adamw" and "sgd": torch's update, run by the fastest kernel that computes it.

`impl="auto"` (the default) picks, per optimizer, from the parameters it is given:
- "flat" (AdamWFlat / AdamFlat: one fused kernel over one flat buffer per group) when there are many small
  tensors, on average under FLAT_BELOW elements each: torch's fused kernel then pays per tensor, and on CPU it
  splits each small tensor over threads badly (measured in benchmarks/adamw_crossover.py: at 8k elements per
  tensor the flat buffer takes 0.4-0.7x the time of torch's fused step, above 64k they are even);
- "fused" (torch's fused=True) otherwise, on the devices torch has a fused kernel for (CPU and CUDA among them);
- torch's own choice ("foreach" or "loop") where neither applies: other devices or dtypes, amsgrad, maximize,
  capturable or differentiable, which only torch's own implementations have.
`impl="fused" | "flat" | "foreach" | "loop"` asks for one; torch's `foreach=` and `fused=` flags are honoured as
given. All compute torch.optim's update (tests compare them with torch's for-loop reference).
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch.optim.optimizer import _get_fused_kernels_supported_devices

from ..core.errors import DescendError
from .flat_adamw import AdamFlat, AdamWFlat
from .registry import register
from .wrappers import EMA

FLAT_BELOW = 1 << 16    # mean elements per tensor under which the flat buffer beats torch's fused per-tensor kernel
IMPLEMENTATIONS = ("auto", "fused", "flat", "foreach", "loop")
_TORCH_FLAGS = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False, "fused": False}}


def _tensors(groups: list) -> list[torch.Tensor]:
    if groups and isinstance(groups[0], dict):
        return [p for group in groups for p in group["params"]]
    return [p for p in groups if isinstance(p, torch.Tensor)] or [p for _, p in groups]


def _fusable(tensors: list[torch.Tensor]) -> bool:
    """Whether torch's fused kernels take every tensor: a supported device, a real floating-point dtype."""
    devices = _get_fused_kernels_supported_devices()
    return all(t.device.type in devices and t.is_floating_point() for t in tensors)


def _flattenable(groups: list, tensors: list[torch.Tensor]) -> bool:
    """Many small tensors of one dtype and device per group: where one flat buffer wins."""
    if len(tensors) < 2 or sum(t.numel() for t in tensors) >= FLAT_BELOW * len(tensors) or not _fusable(tensors):
        return False
    parts = [g["params"] for g in groups] if isinstance(groups[0], dict) else [tensors]
    return all(len({(t.dtype, t.device) for t in part}) <= 1 for part in parts)


def choose(params: list, impl: str = "auto", *, torch_only: bool = False) -> str:
    """The implementation `impl="auto"` resolves to for these parameters (see the module notes)."""
    if impl not in IMPLEMENTATIONS:
        raise DescendError(f"impl must be one of {', '.join(IMPLEMENTATIONS)}, got {impl!r}")
    if impl != "auto":
        return impl
    tensors = _tensors(params)
    if torch_only:
        return "torch"
    if _flattenable(params, tensors):
        return "flat"
    return "fused" if _fusable(tensors) else "torch"


def _adam(flat: type, torch_class: type, params: Iterable, impl: str, lr, betas, eps, weight_decay, **torch_options):
    """Build Adam or AdamW with the implementation `choose` gives: the flat buffer or torch's class."""
    params = list(params)
    special = {k: v for k, v in torch_options.items() if v not in (None, False)}
    if special and impl not in ("auto", "fused", "foreach", "loop"):
        raise DescendError(f"impl={impl!r} cannot take {', '.join(sorted(special))}; use impl='auto' or a torch "
                           f"implementation ('fused', 'foreach', 'loop')")
    picked = choose(params, impl, torch_only=bool(special))
    hyper = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    if picked == "flat":
        return flat(params, **hyper)
    flags = {} if picked == "torch" else _TORCH_FLAGS[picked]
    return torch_class(params, **hyper, **{k: v for k, v in torch_options.items() if v is not None}, **flags)


def adamw(params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
          weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False, foreach: bool | None = None,
          capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
          impl: str = "auto") -> torch.optim.Optimizer:
    """torch.optim.AdamW's update with the fastest kernel for `params` (see the module notes), or `impl`'s."""
    return _adam(AdamWFlat, torch.optim.AdamW, **locals())


def adam(params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False, foreach: bool | None = None,
         capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
         impl: str = "auto") -> torch.optim.Optimizer:
    """torch.optim.Adam's update with the fastest kernel for `params` (see the module notes), or `impl`'s."""
    return _adam(AdamFlat, torch.optim.Adam, **locals())


def sgd(params: Iterable, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
        nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
        fused: bool | None = None) -> torch.optim.Optimizer:
    """torch.optim.SGD, with torch's fused kernel unless `foreach`/`fused` say otherwise or torch has none here."""
    params = list(params)
    if foreach is None and fused is None and not differentiable and _fusable(_tensors(params)):
        fused = True
    return torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                           nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                           fused=fused)


def skips_on_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """Whether `optimizer.step()` honours an `optimizer.found_inf` tensor, skipping the update on the device where
    it is nonzero: torch's fused Adam, AdamW and SGD, the flat buffers, and an EMA around any of them. Others need
    the host to decide."""
    if isinstance(optimizer, AdamWFlat):
        return True
    if isinstance(optimizer, EMA):
        return skips_on_found_inf(optimizer.inner)
    return (type(optimizer) in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD) and
            all(group.get("fused") for group in optimizer.param_groups))


adam.torch_class, adamw.torch_class, sgd.torch_class = torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD
register("sgd", sgd, "stochastic gradient descent, with optional (Nesterov) momentum (torch's fused kernel)")
register("adam", adam, "Adam (Kingma & Ba 2015); the fastest kernel for the model (impl=...)")
register("adamw", adamw, "Adam with decoupled weight decay (Loshchilov & Hutter 2019); the fastest kernel for the "
                         "model (impl=...)")
