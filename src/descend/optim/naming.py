"""Parameter names in param groups, kept consistent when a group is added later.

`create` and `route` name every parameter (`param_names` in each group, as torch >= 2.6 supports), and torch
refuses a new group without names in an optimizer whose groups have them. `named_group` gives such a group
names ("group2.param0", ...) so `add_param_group({"params": [...]})` works on every optimizer descend builds.
"""
from __future__ import annotations

import types

import torch

from ..core.errors import DescendError


def named_group(optimizer: torch.optim.Optimizer, param_group: dict) -> dict:
    """`param_group`, with a name for each of its tensors when the optimizer's groups carry names and it has none."""
    if "param_names" in param_group or not any("param_names" in g for g in optimizer.param_groups):
        return param_group
    params = param_group.get("params")
    params = [params] if isinstance(params, torch.Tensor) else list(params if params is not None else [])
    if any(isinstance(p, tuple) for p in params):   # (name, tensor) pairs: torch reads the names itself
        return {**param_group, "params": params}
    index = len(optimizer.param_groups)
    return {**param_group, "params": params, "param_names": [f"group{index}.param{j}" for j in range(len(params))]}


def accept_unnamed_groups(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Let a torch optimizer with named groups take an unnamed one in `add_param_group` (names are generated).

    descend's own optimizers do this in their class; torch's get it on the instance (not pickled, so a copy
    falls back to torch's behaviour rather than to a method bound to the original). L-BFGS, which steps only
    the group it was built with, refuses a second one instead of ignoring it.
    """
    if getattr(type(optimizer), "names_new_groups", False):
        return optimizer
    optimizer.add_param_group = types.MethodType(_add_named_param_group, optimizer)
    return optimizer


def _add_named_param_group(self: torch.optim.Optimizer, param_group: dict) -> None:
    if isinstance(self, torch.optim.LBFGS):   # it steps only the group it was built with: a second would be ignored
        raise DescendError("lbfgs works on one param group and would ignore a second; build it again over all the "
                           "parameters instead of calling add_param_group")
    type(self).add_param_group(self, named_group(self, param_group))
