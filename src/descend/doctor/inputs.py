"""What the doctor reads from the training data once, before the first step: a sample of rows, the typical size
of each input column, which columns vary at all, the loss a constant prediction would reach and, for classes,
the share of the most common one."""
from __future__ import annotations

import torch


NEAR_CONSTANT = 0.95    # a column holding one value in at least this share of rows says little about scale
VARYING_ROWS = 512      # rows read to find such columns


def _table(x: torch.Tensor) -> torch.Tensor | None:
    """Finite rows as a float64 (rows, columns) table; inputs that are not a table become one column."""
    if not x.dtype.is_floating_point or x.dim() < 2 or len(x) == 0:
        return None
    flat = x.detach().reshape(len(x), -1).double() if x.dim() == 2 else x.detach().reshape(-1, 1).double()
    flat = flat[torch.isfinite(flat).all(dim=1)]
    return flat if len(flat) else None


def column_scales(x: torch.Tensor) -> list[float]:
    """Typical magnitude per input column: the root mean square (offset and spread together; 0 for an all-zero
    column). For inputs that are not a (rows, columns) table, one value for the whole tensor."""
    flat = _table(x)
    return [] if flat is None else flat.square().mean(dim=0).sqrt().tolist()


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
