"""What the doctor reads from the training data once, before the first step: a sample of rows, the typical size
of each input column, which columns vary at all, the loss a constant prediction would reach and, for classes,
the share of the most common one."""
from __future__ import annotations

import math

import numpy as np
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


CODE_SHARE = 0.01   # a single value in at least this share of a column's rows may be a code, not a measurement
CODE_SPREADS = 6    # ... when it lies this many robust spreads (interquartile, as a normal's sd) from the others


def missing_codes(flat: torch.Tensor | None, scales: list[float]) -> dict[int, dict]:
    """For the 2-d table column of the largest typical size (the one an unscaled-inputs finding names; the others
    are not read, to keep this one pass), a value that fills CODE_SHARE of the rows or more and lies CODE_SPREADS
    robust spreads or more from the median of the other rows: a missing-value code such as -999 or 9999 written
    among measurements ({column: {"value": v, "share": s}}, or nothing); read on the first VARYING_ROWS rows."""
    if flat is None or flat.dim() != 2 or len(flat) < 100 or not scales:
        return {}
    j = max(range(len(scales)), key=scales.__getitem__)
    column = flat[:VARYING_ROWS, j]
    values, counts = torch.unique(column, return_counts=True)
    top = int(counts.argmax())
    value, share = float(values[top]), float(counts[top]) / len(column)
    rest = column[column != value]
    if share < CODE_SHARE or len(rest) < 20:
        return {}
    q1, median, q3 = torch.quantile(rest, torch.tensor([0.25, 0.5, 0.75], dtype=rest.dtype)).tolist()
    spread = (q3 - q1) / 1.349
    return {j: {"value": value, "share": share}} if 0 < spread * CODE_SPREADS <= abs(value - median) else {}


def index_columns(x: torch.Tensor, table_rows: int) -> list[int]:
    """The columns of a 2-d float table whose values are all whole numbers in [0, table_rows): ids the model may
    look up in its embedding tables, whose size says nothing of scaling."""
    flat = _table(x)
    if flat is None or x.dim() != 2:
        return []
    whole = (flat == flat.round()).all(0) & (flat.amin(0) >= 0) & (flat.amax(0) < table_rows)   # values, no rows
    return [i for i, ok in enumerate(whole.tolist()) if ok]


def varying_columns(x: torch.Tensor) -> list[bool]:
    """Per column (as in `column_scales`): False when one value fills at least NEAR_CONSTANT of the rows, as in
    image borders or rare indicator columns; such a column's size is no reference for the others'. Read on the
    first VARYING_ROWS rows (enough to tell 95% from 90%), and through the median: a value that fills over half
    the rows is the median."""
    flat = _table(x[:VARYING_ROWS])
    if flat is None:
        return []
    columns = flat.T.contiguous().cpu()   # each column's values side by side, in rows of memory
    return ((columns == column_medians(columns)).double().mean(dim=1) < NEAR_CONSTANT).tolist()


def column_medians(rows: torch.Tensor) -> torch.Tensor:
    """torch.median(rows, dim=1, keepdim=True).values of a finite CPU table (the lower of the two middle values of
    an even count), by numpy's partition: the same values, where torch's median along a dimension took 5x as long
    (0.2 ms on 32 x 512, a fixed cost of every fit the doctor watches)."""
    middle = (rows.shape[1] - 1) // 2
    return torch.from_numpy(np.partition(rows.numpy(), middle, axis=1)[:, middle:middle + 1])


def constant_baseline(loss: object, y: torch.Tensor) -> float | None:
    """The loss of the best constant prediction for the common named losses (mse: variance; cross_entropy:
    entropy of the class frequencies; bce on 0/1 labels: the entropy of each column's share of ones, averaged);
    None when the loss is not one of those."""
    if loss == "mse" and y.dtype.is_floating_point:
        return float(y.double().var(unbiased=False).mean()) if len(y) > 1 else None
    if loss == "bce" and y.dtype.is_floating_point and len(y) > 1 and zero_one(y):
        share = y.double().reshape(len(y), -1).mean(dim=0).clamp(1e-12, 1 - 1e-12)
        return float(-(share * share.log() + (1 - share) * (-share).log1p()).mean())
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


MULTI_HOT = 0.05   # share of 0/1 target rows not holding a single 1 from which the rows are multi-label tags


def multi_hot(y: torch.Tensor) -> float | None:
    """For 0/1 float target rows of two columns or more: the share of rows that hold several 1s or none, when it
    is MULTI_HOT or more (multi-label tags, not one-hot classes); else None."""
    if not y.dtype.is_floating_point or y.dim() != 2 or y.shape[1] < 2 or len(y) < 20 or not zero_one(y):
        return None
    share = float((y.sum(dim=1) != 1).double().mean())
    return share if share >= MULTI_HOT else None


UNSEEN = 0.1   # share of validation rows in classes training all but lacks, from which it is more than a stray
SCARCE = 10    # a class this many times rarer in training than in validation: training all but lacks it


def unseen_classes(y: torch.Tensor, y_val: torch.Tensor) -> dict | None:
    """For class ids: the validation classes that training all but lacks (a share of its rows SCARCE times below
    their share of validation), when they make up UNSEEN or more of the validation rows ({"classes": [...],
    "share": s}); else None."""
    if y.dtype.is_floating_point or y_val.dtype.is_floating_point or y.dim() != 1 or y_val.dim() != 1 \
            or len(y) == 0 or len(y_val) == 0 or int(y.min()) < 0 or int(y_val.min()) < 0:
        return None
    size = int(max(y.max(), y_val.max())) + 1
    train, val = (torch.bincount(t.long(), minlength=size).double() / len(t) for t in (y, y_val))
    scarce = (val > 0) & (SCARCE * train < val)
    share = float(val[scarce].sum())
    return {"classes": scarce.nonzero()[:, 0].tolist(), "share": share} if share >= UNSEEN else None


LEAK_CORRELATION = 0.9999   # |correlation| at which a column is the target re-coded (an affine map of it)
SEPARATING_ROWS = 5         # rows each class needs before one column keeping the classes apart says anything


def leaking_column(x: torch.Tensor, y: torch.Tensor) -> dict | None:
    """The first input column that is the target itself: an affine map of a numeric target column (|correlation|
    of at least LEAK_CORRELATION; each column of a multi-output target is tried), or for class targets a column
    that alone keeps the classes apart (the classes' value ranges do not overlap: a relabelling, or the label
    recorded with a little noise). None when there is none, when the inputs are the targets damaged in places
    (see _corrupted_copy), or when the inputs are not a table."""
    return _leak(_table(x) if x.dim() == 2 else None, y)


def last_step_leak(x: torch.Tensor, y: torch.Tensor) -> dict | None:
    """For sequences (rows, steps, features) and one numeric target: the feature whose last step is the target
    itself (an affine map of it, |correlation| of at least LEAK_CORRELATION, on the first MONOTONE_ROWS rows), the
    mark of a forecasting window sliced one step too far, so that it ends on the value to forecast
    ({"column": the last step, "feature", "correlation", "last_step": True}, and "every_step": True when the first
    step's value of that feature is the target too: a value of the whole sequence or graph, copied onto each of its
    steps or nodes, not a window's end); None otherwise. Only the last step is read for the leak: a target equal to
    an earlier step alone is a memory task (recall the first value), not an off-by-one."""
    if not x.dtype.is_floating_point or x.dim() != 3 or x.shape[1] < 2 or not y.dtype.is_floating_point \
            or y.numel() != len(y) or len(y) != len(x) or len(y) < 30:
        return None
    last, target = x[:MONOTONE_ROWS, -1, :].detach().double(), y[:MONOTONE_ROWS].detach().reshape(-1, 1).double()
    if not (torch.isfinite(last).all() and torch.isfinite(target).all()):
        return None
    copies = _copied_columns(last, target)
    if not copies:
        return None
    feature = copies[0][1]["column"]
    first = x[:MONOTONE_ROWS, 0, feature:feature + 1].detach().double()
    every = {"every_step": True} if torch.isfinite(first).all() and _copied_columns(first, target) else {}
    return {**copies[0][1], "feature": feature, "column": x.shape[1] - 1, "last_step": True, **every}


def _leak(flat: torch.Tensor | None, y: torch.Tensor) -> dict | None:
    if flat is None or len(flat) < 30 or y.dim() > 2 or len(y) != len(flat):
        return None
    targets = y.reshape(len(y), -1).double()
    if not torch.isfinite(targets).all():
        return None
    copies = _copied_columns(flat, targets)
    varying = int((targets.std(dim=0) > 0).sum())
    if copies and (varying == 1 or len(copies) < varying) and not _corrupted_copy(flat, targets, copies):
        j, found = copies[0]
        return {**found, "target_column": j} if targets.shape[1] > 1 else found
    if targets.shape[1] == 1 and (y.dtype.is_floating_point or int(y.max()) <= 1):
        encoded = _encoded_column(flat, targets[:, 0])
        if encoded is not None:
            return encoded
    if y.dtype.is_floating_point and targets.shape[1] == 1:
        return _monotone_column(flat, targets[:, 0])
    if y.dtype.is_floating_point or y.dim() != 1:
        return None
    return _separating_column(flat, y.long())


ENCODED_GROUPS = 30      # groups of two rows or more sharing a column's value that an encoding is judged on
ENCODED_TAIL = -4.75     # the normal quantile (one in a million) under which the groups' fit is too good for chance


def _encoded_column(flat: torch.Tensor, target: torch.Tensor) -> dict | None:
    """The first column whose value, across the groups of rows that share it, follows the groups' own mean target
    (up to an affine map: a standardized column) more closely than the noise in those means allows: the sum of
    squared residuals in units of their sampling variance (pooled within-group variance over group size) falls
    below chi-square's one-in-a-million lower tail. A category encoded by its mean target over rows that include
    these (all rows before the split, or the training rows in-fold) does that; one computed elsewhere (out of
    fold, another period) misses each group's mean by at least its noise. Only columns whose first VARYING_ROWS
    values hold ENCODED_GROUPS distinct values and as many repeats are read (levels, not measurements)."""
    head = np.sort(flat[:VARYING_ROWS].T.cpu().numpy(), axis=1)
    distinct = 1 + (head[:, 1:] != head[:, :-1]).sum(axis=1)
    candidates = np.nonzero((distinct >= ENCODED_GROUPS) & (head.shape[1] - distinct >= ENCODED_GROUPS))[0]
    for j in candidates.tolist():
        found = _fit_too_good(*_groups(flat[:, j].cpu().numpy(), target.cpu().numpy()))
        if found is not None:
            return {"column": j, **found}
    return None


def _groups(column: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """For the groups of two rows or more that share a value of `column`: their row counts, target sums and
    values, and the target's variance within groups, pooled over them (numpy's unique and bincount: a fifth of
    torch's time on a few thousand rows)."""
    values, group, count = np.unique(column, return_inverse=True, return_counts=True)
    total, squares = np.bincount(group, target), np.bincount(group, target * target)
    kept = count >= 2
    count, total, squares, values = count[kept].astype(np.float64), total[kept], squares[kept], values[kept]
    within = float((squares - total ** 2 / count).sum()) / max(float(count.sum()) - len(count), 1.0)
    return count, total, values * count, within


def _fit_too_good(count: np.ndarray, total: np.ndarray, value: np.ndarray, variance: float) -> dict | None:
    """{"groups", "fit"} when the groups' mean targets (total / count) follow their column value (value / count)
    by a weighted affine fit whose residuals, in units of each mean's sampling variance, sum under chi-square's
    ENCODED_TAIL quantile (Wilson-Hilferty) on groups - 2 degrees of freedom; "fit" is that sum over its degrees.
    None with under ENCODED_GROUPS groups or no variance within them."""
    if len(count) < ENCODED_GROUPS or not variance > 0:
        return None
    mean, level, weight = total / count, value / count, count / count.sum()
    centred = level - (weight * level).sum()
    spread = float((weight * centred ** 2).sum())
    if not spread > 0:
        return None
    slope = float((weight * centred * mean).sum()) / spread
    residual = mean - (weight * mean).sum() - slope * centred
    degrees = len(count) - 2
    score = float((count * residual ** 2).sum()) / variance
    tail = degrees * (1 - 2 / (9 * degrees) + ENCODED_TAIL * math.sqrt(2 / (9 * degrees))) ** 3
    return {"groups": len(count), "fit": score / degrees} if score < tail else None


MONOTONE_VALUES = 20   # distinct target values (and column values) an order-preserving copy must run through
MONOTONE_ROWS = 1024   # rows read for it (an order that holds on a thousand rows is no accident)


def _monotone_column(flat: torch.Tensor, target: torch.Tensor) -> dict | None:
    """The first input column that rises (or falls) with a numeric target on every pair of rows whose targets
    differ: the target under an order-preserving map (a rank, the row number of a table sorted by it, its log).
    Only among two or more columns (one column that determines a noise-free target is curve fitting), and only
    over MONOTONE_VALUES distinct values of both. Only columns whose extremes sit on the target's extreme rows
    are sorted (usually none)."""
    if flat.shape[1] < 2:
        return None
    flat, target = flat[:MONOTONE_ROWS], target[:MONOTONE_ROWS]
    top, bottom = flat[int(target.argmax())], flat[int(target.argmin())]
    high, low = flat.amax(dim=0), flat.amin(dim=0)   # the values alone: max(dim=) also finds their rows, at 5x
    candidates = ((top == high) & (bottom == low) | (top == low) & (bottom == high)).nonzero()[:, 0]
    if len(candidates) == 0:
        return None
    order = torch.argsort(target)
    rises = target[order].diff() > 0
    if int(rises.sum()) < MONOTONE_VALUES - 1:
        return None
    steps = flat[order][:, candidates].diff(dim=0)[rises]
    for sign, direction in ((1, "rises"), (-1, "falls")):
        moves = sign * steps
        monotone = (moves >= 0).all(dim=0) & ((moves > 0).sum(dim=0) >= MONOTONE_VALUES - 1)
        if bool(monotone.any()):
            return {"column": int(candidates[monotone.nonzero()[0]]), "monotone": direction, "rows": len(target)}
    return None


def _copied_columns(flat: torch.Tensor, targets: torch.Tensor) -> list[tuple[int, dict]]:
    """(target column, {"column", "correlation"}) for each target column that some input column is an affine map
    of; with several target columns, all of them copied is a reconstruction task (an autoencoder), told apart by
    the caller."""
    centered = flat - flat.mean(dim=0)
    copies = []
    for j in range(targets.shape[1]):
        t = targets[:, j] - targets[:, j].mean()
        scale = centered.norm(dim=0) * t.norm()
        corr = torch.where(scale > 0, (t @ centered) / scale.clamp_min(1e-300), torch.zeros(()))
        column = int(corr.abs().argmax())
        if abs(float(corr[column])) >= LEAK_CORRELATION:
            copies.append((j, {"column": column, "correlation": float(corr[column])}))
    return copies


CORRUPTED_COPY = 0.5   # median correlation of each target column with the input column at its place: a damaged copy


def _corrupted_copy(flat: torch.Tensor, targets: torch.Tensor, copies: list[tuple[int, dict]]) -> bool:
    """Whether the inputs are the targets damaged in places (a denoising or inpainting autoencoder, a model that
    fills missing cells): as many input as target columns, every column copied exactly sits at its own place, and
    the median varying target column still correlates CORRUPTED_COPY or more with the input at its place. A column the
    damage never reached is then the part of the task the model passes through, not the target leaking; a real
    leak among targets unrelated to the inputs at their places still counts (every column copied is caught earlier
    as a plain reconstruction)."""
    if flat.shape[1] != targets.shape[1] or targets.shape[1] < 2 or any(j != c["column"] for j, c in copies):
        return False
    inputs, outputs = flat.double() - flat.double().mean(dim=0), targets - targets.mean(dim=0)
    scale = inputs.norm(dim=0) * outputs.norm(dim=0)
    varying = scale > 0
    return bool(varying.any()) and float(
        ((inputs * outputs).sum(dim=0)[varying] / scale[varying]).median()) >= CORRUPTED_COPY


def _separating_column(flat: torch.Tensor, y: torch.Tensor) -> dict | None:
    """The first column whose values, class by class, fall in ranges that do not overlap, so that it alone tells
    every class apart (a column holding one value per class first); classes need SEPARATING_ROWS rows each."""
    classes, index, counts = torch.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2 or int(counts.min()) < SEPARATING_ROWS:
        return None
    shape = (len(classes), flat.shape[1])
    rows = index[:, None].expand_as(flat)
    low = torch.full(shape, math.inf, dtype=flat.dtype).scatter_reduce(0, rows, flat, "amin")
    high = torch.full(shape, -math.inf, dtype=flat.dtype).scatter_reduce(0, rows, flat, "amax")
    low, order = low.sort(dim=0)
    high = high.gather(0, order)
    apart = (high[:-1] < low[1:]).all(dim=0)
    if not bool(apart.any()):
        return None
    relabelled = apart & (low == high).all(dim=0)   # one value per class: the label itself, re-coded
    column = int((relabelled if bool(relabelled.any()) else apart).nonzero()[0])
    gap = float((low[1:, column] - high[:-1, column]).min())
    return {"column": column, "separates_classes": len(classes), "smallest_gap": gap,
            "one_value_per_class": bool(relabelled[column])}


POSITION_CHUNK = 8192   # positions read at a time: the rows x positions table stays a few tens of MB for any image


def position_leak(x: torch.Tensor, y: torch.Tensor) -> dict | None:
    """For inputs that are not a table (images, sequences: more than two dimensions) and class-id targets, the first
    position (a pixel, one feature of one step) that holds one value per class on the first VARYING_ROWS rows: the
    label written into the inputs (a stamp that differs by class, a label token left in the sequence), which no
    real measurement does. {"position", "column", "separates_classes", ...}, else None."""
    if x.dim() < 3 or y.dim() != 1 or y.dtype.is_floating_point or len(x) != len(y) or len(x) < 30:
        return None
    rows = min(len(x), VARYING_ROWS)
    flat, labels = x[:rows].detach().reshape(rows, -1), y[:rows].long()
    for start in range(0, flat.shape[1], POSITION_CHUNK):
        part = flat[:, start:start + POSITION_CHUNK].double()
        found = _separating_column(part, labels) if bool(torch.isfinite(part).all()) else None
        if found is not None and found["one_value_per_class"]:
            column = start + found["column"]
            return {**found, "column": column, "position": [int(i) for i in np.unravel_index(column, x.shape[1:])]}
    return None


def reconstruction(x: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether the targets are the inputs themselves (an autoencoder's data): a linear model would copy them, so
    no linear reference says how well a model with a bottleneck can do."""
    return x.shape == y.shape and x.dtype == y.dtype and bool(torch.equal(x, y))


REPEATS = 3   # the first rows read hold each distinct row this many times over, or more: the same rows come back


def repeated_rows(x: torch.Tensor) -> dict | None:
    """{"rows", "distinct"} when the first VARYING_ROWS rows read hold REPEATS or more copies of each distinct row
    on average, and some column takes a different value in every distinct row (measured values: a table of a few
    categories repeats rows by nature); None otherwise."""
    rows = x[:VARYING_ROWS].detach().reshape(min(len(x), VARYING_ROWS), -1)
    if len(rows) < 30 or rows.shape[1] == 0:
        return None
    # each row as one number, a fixed random mix of its columns: equal rows give equal numbers, and distinct
    # rows equal ones with probability zero; counting distinct numbers is a sort of len(rows) values, not of rows
    mix = torch.randn(rows.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    distinct = len(torch.unique(rows.double() @ mix))
    if distinct * REPEATS > len(rows):
        return None
    if _most_values(rows) < distinct:
        return None
    return {"rows": len(rows), "distinct": distinct}


def _most_values(rows: torch.Tensor) -> int:
    """The most distinct values any one column of the 2-d `rows` takes: when that equals the count of distinct rows,
    some column is a measurement that tells every row apart, so two equal rows are one row copied, not a chance."""
    ordered = rows.sort(dim=0).values
    return int((1 + (ordered[1:] != ordered[:-1]).sum(dim=0)).max())


def ordered_head(y: torch.Tensor) -> torch.Tensor | None:
    """A float target's first VARYING_ROWS rows as a float64 (rows, columns) table, each column sorted: what its
    size and its percentiles are read from (`read` sorts once for both). None for class indices, fewer than two
    rows, or a NaN/Inf among those rows."""
    if not y.dtype.is_floating_point or len(y) < 2:
        return None
    values = y[:VARYING_ROWS].detach().reshape(min(len(y), VARYING_ROWS), -1).double()
    return values.sort(dim=0).values if bool(torch.isfinite(values).all()) else None


def target_size(y: torch.Tensor, ordered: torch.Tensor | None = None) -> float | None:
    """The typical size of a numeric target, robust to a few wild rows (a 9999 code for a missing value is an
    outlier, not a unit): the larger of its median's magnitude and its interquartile spread (as a normal's standard
    deviation), over its columns, on its first VARYING_ROWS rows; None for class indices and 0/1 labels.
    `ordered`: ordered_head(y), where the caller has it."""
    if not y.dtype.is_floating_point or len(y) < 2 or zero_one(y):
        return None
    ordered = ordered_head(y) if ordered is None else ordered
    if ordered is None:
        return None
    q25, q50, q75 = (ordered[int(q * (len(ordered) - 1))] for q in (0.25, 0.5, 0.75))   # order statistics suffice
    return float(torch.maximum(q50.abs(), (q75 - q25) / 1.349).max())


def target_percentiles(y: torch.Tensor, ordered: torch.Tensor | None = None) -> list[float] | None:
    """The 0th, 1st, ..., 100th percentiles of a numeric target's values (all columns together) on its first
    VARYING_ROWS rows: what share of the target a bounded output (a final ReLU, Sigmoid, Tanh) cannot reach. None
    for class indices. `ordered`: ordered_head(y), where the caller has it (one column: already the values in
    order)."""
    ordered = ordered_head(y) if ordered is None else ordered
    if ordered is None:
        return None
    values = ordered.reshape(-1) if ordered.shape[1] == 1 else ordered.reshape(-1).sort().values
    return values[torch.linspace(0, len(values) - 1, 101).round().long()].tolist()


GROUPED = 0.1   # runs of rows in stored order that change class (or spread) this little against a random order


def grouped_order(runs: torch.Tensor) -> dict | None:
    """How the stored order of an unshuffled loader groups the target, from `runs` (runs, rows, ...) of the targets
    of consecutive rows: class indices that change between neighbouring rows under GROUPED of as often as they
    would in a random order, or a numeric target (one column) whose spread within a run is under GROUPED of its
    spread over all runs (rows sorted by it). {"kind", "within", "random", "runs", "rows"} when grouped; else
    None."""
    if runs.dim() < 2 or runs.shape[1] < 2 or runs.numel() == 0:
        return None
    if not runs.dtype.is_floating_point and runs.dim() == 2:
        classes = runs.long()
        counts = torch.bincount(classes.reshape(-1) - classes.min()).double()
        random = 1 - float(((counts / counts.sum()) ** 2).sum())   # chance two random rows differ
        within = float((classes[:, 1:] != classes[:, :-1]).double().mean())
        kind = "classes"
    elif runs.dtype.is_floating_point and runs[0, 0].numel() == 1:
        values = runs.reshape(runs.shape[0], runs.shape[1]).double()
        if not torch.isfinite(values).all():
            return None
        random, within, kind = float(values.std()), float(values.std(dim=1).mean()), "values"
    else:
        return None
    if random <= 0 or within >= GROUPED * random or (kind == "classes" and random < 0.2):
        return None
    return {"kind": kind, "within": within, "random": random, "runs": runs.shape[0], "rows": runs.shape[1]}


KEY_COLUMNS = 256   # values of a row that its key reads, evenly spaced (wide rows: images)


def row_keys(x: torch.Tensor) -> torch.Tensor:
    """One int64 per row that equal rows share and distinct rows almost never do: the bits (as 32-bit integers)
    of up to KEY_COLUMNS of its values, each with its high half folded onto its low half (a small whole number's
    float bits are zero there, and their products by odd multipliers kept only a few bits: on digits, 1500 distinct
    rows got 1243 keys), then mixed by fixed random odd multipliers. Integer products wrap and sums do not round,
    so the same row gives the same key wherever it sits, in any batch."""
    rows = x.detach().reshape(len(x), -1)
    rows = rows[:, ::math.ceil(rows.shape[1] / KEY_COLUMNS)]
    ints = rows.float().contiguous().view(torch.int32) if rows.dtype.is_floating_point else rows.to(torch.int32)
    ints = ints ^ (ints >> 16)
    mix = torch.randint(0, 2 ** 30, (ints.shape[1],), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    return (ints * (2 * mix + 1)).sum(dim=1, dtype=torch.int64)


COPIED_SHARE = 0.5      # validation rows found among distinct training rows from which validation is no held-out set
MEASURED_SHARE = 0.1    # ... among training rows of measured values (copied, as oversampling copies them)
MEASURED_COPIES = 10    # ... spread over this many distinct rows at least (one default row recurring is no copying)
COPIED_ROWS = 1024      # validation rows compared (each against every training row read)


def copied_validation(x: torch.Tensor, x_val: torch.Tensor) -> dict | None:
    """{"rows", "copies", "training_rows"} when validation rows read are training rows read: COPIED_SHARE or more of
    them where the training rows are (nearly) all distinct, or MEASURED_SHARE or more (of MEASURED_COPIES distinct
    rows) where some column of the first VARYING_ROWS training rows tells every distinct row apart: measured values,
    which two rows share only by being one row copied (rows oversampled or augmented before the split land on both
    sides). Data whose rows recur by nature (a few categories) shares rows between any split and stays silent. None
    otherwise, when the rows do not compare (other shapes), and when validation is the training data itself, row for
    row: that is a choice (watching the training loss in eval mode), while a part of training passed as validation
    is a mistake (a split done twice, rows duplicated before the split)."""
    if len(x) < 30 or len(x_val) < 30 or x.shape[1:] != x_val.shape[1:] or x[0].numel() == 0:
        return None
    if x.shape == x_val.shape and torch.equal(x, x_val):
        return None   # the training data itself, passed as val on purpose (the training loss in eval mode)
    train, val = row_keys(x), row_keys(x_val[:COPIED_ROWS])
    copied = val[torch.isin(val, train)]
    if len(copied) < MEASURED_SHARE * len(val):
        return None
    distinct = len(torch.unique(train)) >= 0.99 * len(train) and len(copied) >= COPIED_SHARE * len(val)
    if not distinct and (len(torch.unique(copied)) < MEASURED_COPIES or not _measured(x[:VARYING_ROWS])):
        return None
    return {"rows": len(val), "copies": len(copied), "training_rows": len(x)}


def _measured(x: torch.Tensor) -> bool:
    """Whether some column of rows `x` takes a distinct value in every distinct row (see _most_values)."""
    rows = x.detach().reshape(len(x), -1)
    return _most_values(rows) >= len(torch.unique(row_keys(rows)))


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
    into a float64 table once for all of them (on a few thousand rows that copy is most of the cost), and the
    target's first rows are sorted once for its size and its percentiles."""
    flat = _table(x)
    scales = _scales(flat)
    leak = _leak(flat, y) if x.dim() == 2 else position_leak(x, y) or last_step_leak(x, y)
    ordered = ordered_head(y)
    return {"input_scales": scales, "input_varying": varying_columns(x), "missing_codes": missing_codes(flat, scales),
            "target_baseline": constant_baseline(loss, y), "majority_share": majority_share(y),
            "target_kind": target_kind(y), "multi_hot": multi_hot(y), "leak": leak,
            "outlier": dominant_target_row(y), "repeated": repeated_rows(x), "reconstruction": reconstruction(x, y),
            "target_size": target_size(y, ordered), "target_percentiles": target_percentiles(y, ordered)}
