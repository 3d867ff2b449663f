"""Closed-form solutions that iterative fits are checked against (and that baselines use directly)."""
from __future__ import annotations

import numpy as np
import torch

from ..core.errors import DescendError, DescendTypeError


def _matrix(value, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        return tensor if tensor.dtype.is_floating_point else tensor.to(torch.float64)
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise DescendTypeError(f"{name} must be numbers (an array or tensor), got {type(value).__name__}") from err


def _wide_ridge(A: torch.Tensor, b: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge with more features than rows in its dual form, w = A^T (A A^T + ridge I)^-1 b: a rows x rows solve
    instead of a features x features one (200 rows by 10,000 columns: a 200 x 200 system, not 10,000 x 10,000)."""
    gram = A @ A.T + ridge * torch.eye(A.shape[0], dtype=A.dtype)
    return A.T @ torch.linalg.solve(gram, b)


def least_squares(X, y, ridge: float = 0.0, *, intercept: bool = False):
    """The w minimizing ||X w - y||^2 + ridge ||w||^2, solved directly (a least-squares solve, no iteration).

    Ridge is solved as the stacked system [X; sqrt(ridge) I] w = [y; 0], which is better conditioned than the
    normal equations. With intercept=True a constant column is fitted too (not penalized) and (w, b) is returned.
    Numpy in, numpy out; tensors in, tensors out. `y` may have several columns (one w column each).
    """
    as_numpy = not isinstance(X, torch.Tensor)
    A, b = _matrix(X, "X"), _matrix(y, "y")
    if A.ndim != 2:
        raise DescendError(f"X must be 2-D (rows x features), got shape {tuple(A.shape)}")
    if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise DescendError(f"y must have one value (or row) per row of X: X has {A.shape[0]} rows, y has shape "
                           f"{tuple(b.shape)}")
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not ridge >= 0:
        raise DescendError(f"ridge must be a number >= 0, got {ridge!r}")
    for name, t in (("X", A), ("y", b)):
        if not torch.isfinite(t).all():
            raise DescendError(f"{name} contains NaN or Inf; drop or impute those rows first")
    dtype = torch.promote_types(A.dtype, b.dtype)
    A, b = A.to(dtype), b.to(dtype)
    if intercept:
        mean_x, mean_y = A.mean(0), b.mean(0)
        A, b = A - mean_x, b - mean_y
    if ridge > 0 and A.shape[1] > A.shape[0]:
        w = _wide_ridge(A, b, ridge)
    else:
        if ridge > 0:
            A = torch.cat([A, ridge ** 0.5 * torch.eye(A.shape[1], dtype=dtype)])
            b = torch.cat([b, torch.zeros((A.shape[1],) + tuple(b.shape[1:]), dtype=dtype)])
        w = torch.linalg.lstsq(A, b, driver="gelsd").solution
    out = [w] + ([mean_y - mean_x @ w] if intercept else [])
    out = [t.numpy() for t in out] if as_numpy else out
    return tuple(out) if intercept else out[0]
