"""How x0 (a number, list, array, tensor or dict of them) maps to the one flat vector minimize works on, and back."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..core.errors import DescendError, DescendTypeError


class Layout:
    """The names, shapes and kinds of x0's parts, their slices of the flat vector, and its dtype (the promoted
    dtype of the parts: float64 for lists and arrays, a tensor's own float dtype otherwise)."""

    def __init__(self, x0):
        items = x0.items() if isinstance(x0, dict) else [(None, x0)]
        self.names, self.kinds, self.shapes, values = [], [], [], []
        for name, value in items:
            tensor = _as_tensor(value, "x0" if name is None else f"x0[{name!r}]")
            self.names.append(name)
            self.kinds.append("tensor" if isinstance(value, torch.Tensor) else "numpy")
            self.shapes.append(tuple(tensor.shape))
            values.append(tensor)
        if not values:
            raise DescendError("x0 is an empty dict; give at least one named part")
        self.dtype = values[0].dtype
        for v in values[1:]:
            self.dtype = torch.promote_types(self.dtype, v.dtype)
        self.x0 = torch.cat([v.reshape(-1).to(self.dtype) for v in values])
        if self.x0.numel() == 0:
            raise DescendError("x0 has no elements; give the starting point of the search")
        self.slices, start = {}, 0
        for name, value in zip(self.names, values):
            self.slices[name] = slice(start, start + value.numel())
            start += value.numel()

    @property
    def is_dict(self) -> bool:
        return self.names != [None]

    def label(self, i: int) -> str:
        """How a user writes the element at flat index `i`: x[3], x['w'][1], or x for a single number."""
        name = next(n for n in self.names if self.slices[n].start <= i < self.slices[n].stop)
        shape, offset = self.shapes[self.names.index(name)], i - self.slices[name].start
        part = "x" if name is None else f"x[{name!r}]"
        if not shape:
            return part
        index = np.unravel_index(offset, shape)
        return f"{part}[{', '.join(str(int(k)) for k in index)}]"

    def unflatten(self, flat: torch.Tensor):
        """The tensors `fun` receives: views of `flat` in x0's shapes (gradients flow back to `flat`)."""
        parts = [flat[self.slices[n]].reshape(s) for n, s in zip(self.names, self.shapes)]
        return dict(zip(self.names, parts)) if self.is_dict else parts[0]

    def export(self, flat: torch.Tensor):
        """A detached copy of `flat` in x0's shapes and kinds (numpy for lists/arrays, tensors for tensors)."""
        parts = [flat[self.slices[n]].detach().clone().reshape(s) for n, s in zip(self.names, self.shapes)]
        parts = [p if kind == "tensor" else p.numpy() for p, kind in zip(parts, self.kinds)]
        return dict(zip(self.names, parts)) if self.is_dict else parts[0]


def _as_tensor(value, where: str) -> torch.Tensor:
    """A detached float copy of one part of x0; refuses non-numbers and NaN/Inf, naming the part and index."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().clone()
        if not tensor.dtype.is_floating_point:
            tensor = tensor.to(torch.float64)
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise DescendTypeError(f"{where} must be numbers (a number, list, array or tensor), got "
                                   f"{type(value).__name__}") from err
    bad = (~torch.isfinite(tensor)).reshape(-1).nonzero()
    if len(bad):
        i = int(bad[0])
        kind = "NaN" if math.isnan(float(tensor.reshape(-1)[i])) else "Inf"
        raise DescendError(f"{where} contains {kind} at flat index {i}; the starting point must be finite")
    return tensor
