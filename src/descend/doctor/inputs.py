"""What the doctor reads from the training data once, before the first step: a sample of rows, the typical size
of each input column, which columns vary at all, the loss a constant prediction would reach and, for classes,
the share of the most common one."""
from __future__ import annotations

import torch

from ..core.checks import all_finite


NEAR_CONSTANT = 0.95    # a column holding one value in at least this share of rows says little about scale
VARYING_ROWS = 512      # rows read to find such columns


def _table(x: torch.Tensor) -> torch.Tensor | None:
    """Finite rows as a float64 (rows, columns) table; inputs that are not a table become one column."""
    if not x.dtype.is_floating_point or x.dim() < 2 or len(x) == 0:
        return None
    flat = x.detach().reshape(len(x), -1).double() if x.dim() == 2 else x.detach().reshape(-1, 1).double()
    if not all_finite(flat):
        flat = flat[torch.isfinite(flat).all(dim=1)]
    return flat if len(flat) else None


def column_scales(x: torch.Tensor) -> list[float]:
    """Typical magnitude per input column: the root mean square (offset and spread together; 0 for an all-zero
    column). For inputs that are not a (rows, columns) table, one value for the whole tensor."""
    return _scales(_table(x))


def _scales(flat: torch.Tensor | None) -> list[float]:
    return [] if flat is None else (torch.linalg.vector_norm(flat, dim=0) / len(flat) ** 0.5).tolist()


def varying_columns(x: torch.Tensor) -> list[bool]:
    """Per column (as in `column_scales`): False when one value fills at least NEAR_CONSTANT of the rows, as in
    image borders or rare indicator columns; such a column's size is no reference for the others'. Read on the
    first VARYING_ROWS rows (enough to tell 95% from 90%), and through the median: a value that fills over half
    the rows is the median."""
    flat = _table(x[:VARYING_ROWS])
    if flat is None:
        return []
    return ((flat == flat.median(dim=0).values).double().mean(dim=0) < NEAR_CONSTANT).tolist()


def constant_baseline(loss: object, y: torch.Tensor) -> float | None:
    """The loss of the best constant prediction for the common named losses (mse: variance; cross_entropy:
    entropy of the class frequencies); None when the loss is not one of those."""
    if loss == "mse" and y.dtype.is_floating_point:
        return float(y.double().var(unbiased=False).mean()) if len(y) > 1 else None
    if loss == "cross_entropy" and not y.dtype.is_floating_point and y.dim() == 1:
        p = torch.bincount(y.long()).double() / len(y)
        p = p[p > 0]
        return float(-(p * p.log()).sum())
    return None


def majority_share(y: torch.Tensor) -> float | None:
    """The share of the most common class for integer class targets (the accuracy of always predicting it)."""
    if y.dtype.is_floating_point or y.dim() != 1 or len(y) == 0 or y.min() < 0:
        return None
    return float(torch.bincount(y.long()).max()) / len(y)


def zero_one(y: torch.Tensor) -> bool:
    """Whether every value of `y` is 0 or 1 (one comparison pass: no sort, unlike torch.unique)."""
    return bool(((y == 0) | (y == 1)).all())


def target_kind(y: torch.Tensor) -> str | None:
    """'one-hot' for 0/1 float rows holding a single 1, 'binary' for other float targets holding only 0 and 1
    (both present), else None: what a classification loss would fit better than mse."""
    if not y.dtype.is_floating_point or len(y) < 2 or not zero_one(y):
        return None
    values = torch.unique(y)
    if len(values) != 2 or values[0] != 0 or values[1] != 1:
        return None
    if y.dim() == 2 and y.shape[1] > 1:
        return "one-hot" if bool((y.sum(dim=1) == 1).all()) else None
    return "binary"


LEAK_CORRELATION = 0.9999   # |correlation| at which a column is the target re-coded (an affine map of it)


def leaking_column(x: torch.Tensor, y: torch.Tensor) -> dict | None:
    """The first input column that is the target itself: an affine map of a single numeric target (|correlation|
    of at least LEAK_CORRELATION), or a relabelling of class targets (one value per class, each value always the
    same class). None when there is none or the inputs are not a table."""
    return _leak(_table(x) if x.dim() == 2 else None, y)


def _leak(flat: torch.Tensor | None, y: torch.Tensor) -> dict | None:
    if flat is None or len(flat) < 30 or y.dim() > 2 or (y.dim() == 2 and y.shape[1] != 1):
        return None
    target = y.reshape(len(y)).double()[: len(flat)] if len(y) == len(flat) else None
    if target is None or not torch.isfinite(target).all() or target.std() == 0:
        return None
    centered = flat - flat.mean(dim=0)
    t = target - target.mean()
    scale = centered.norm(dim=0) * t.norm()
    corr = torch.where(scale > 0, (t @ centered) / scale.clamp_min(1e-300), torch.zeros(()))
    for column in range(flat.shape[1]):
        if abs(float(corr[column])) >= LEAK_CORRELATION:
            return {"column": column, "correlation": float(corr[column])}
    if y.dtype.is_floating_point:
        return None
    classes = len(torch.unique(target))
    ordered = flat.sort(dim=0).values
    distinct = 1 + (ordered[1:] != ordered[:-1]).sum(dim=0)   # per column, in one pass
    for column in (distinct == classes).nonzero().flatten().tolist():
        pairs = torch.unique(torch.stack([flat[:, column], target], dim=1), dim=0)
        if len(pairs) == classes:   # each of its values always goes with one class
            return {"column": column, "correlation": float(corr[column])}
    return None


def dominant_target_row(y: torch.Tensor) -> dict | None:
    """The row of a numeric target whose squared distance from the mean exceeds that of all other rows together:
    one row then decides an mse fit (a data-entry error such as 9999 for a missing value, most often)."""
    if not y.dtype.is_floating_point or len(y) < 10 or (y.dim() == 2 and y.shape[1] != 1) or y.dim() > 2:
        return None
    values = y.reshape(-1).double()
    if not torch.isfinite(values).all():
        return None
    square = (values - values.mean()).square()
    row = int(square.argmax())
    if square[row] <= square.sum() - square[row]:
        return None
    return {"row": row, "value": float(values[row]), "share": float(square[row] / square.sum())}


def read(x: torch.Tensor, y: torch.Tensor, loss: object) -> dict:
    """Every reading above of inputs `x` and targets `y`, by the Readings field it fills; the inputs are turned
    into a float64 table once for all of them (on a few thousand rows that copy is most of the cost)."""
    flat = _table(x)
    return {"input_scales": _scales(flat), "input_varying": varying_columns(x),
            "target_baseline": constant_baseline(loss, y), "majority_share": majority_share(y),
            "target_kind": target_kind(y), "leak": _leak(flat if x.dim() == 2 else None, y),
            "outlier": dominant_target_row(y)}
