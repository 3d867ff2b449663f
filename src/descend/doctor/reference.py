"""References a run is judged against, fitted when the run ends on a sample of the same data: the best constant
prediction, a linear model and (with validation data) a linear model on random ReLU features of the inputs.

Each reference, and the trained model itself, gives a loss per example on the same rows (validation rows when
there are any, else the training sample), so comparisons are paired and allow for noise: "better" means better
by more than two standard errors of the per-example difference, whatever the data. The references cost one
closed-form ridge solve (for classes, on one-hot targets, its scores scaled into logits) on at most a few
thousand rows, and are only computed when a rule asks for them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F

from ..core.checks import all_finite

ROWS = 2000           # rows of each sample used to fit and to compare
MAX_COLUMNS = 1024    # wider inputs (images) get no linear reference
FEATURES = 256        # random ReLU features of the nonlinear reference
RIDGE = (1e-3, 1e-1, 10.0)   # ridge strengths tried (per row), picked on a split of the fitting rows
SCALES = [2.0 ** k for k in range(-1, 8)]   # scales tried turning ridge scores of classes into logits
KINDS = {"mse": "regression", "cross_entropy": "classes", "bce": "binary"}


def kind_of(loss: object) -> str | None:
    """The kind of target the references model for `loss`: a named loss's, or for a loss object whose
    `reference_loss` names the loss its evaluation-mode output is judged by (descend fit's members, blended when
    evaluating), that name's; None for any other loss."""
    loss = getattr(loss, "reference_loss", loss)
    return KINDS.get(loss) if isinstance(loss, str) else None


def per_example(loss: object, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """The loss of each example for the named losses the references support (mse, cross_entropy with class
    indices, bce on 0/1 targets), in float64; None for any other loss or shape."""
    kind = kind_of(loss)
    out, y = output.double(), target
    if kind == "classes" and out.dim() == 2 and y.dim() == 1 and not y.dtype.is_floating_point:
        return F.cross_entropy(out, y.long(), reduction="none")
    if kind in ("regression", "binary") and y.dtype.is_floating_point:
        y = y.double().reshape(len(y), -1)
        out = out.reshape(len(out), -1)
        if out.shape != y.shape:
            return None
        if kind == "regression":
            return (out - y).square().mean(dim=1)
        return F.binary_cross_entropy_with_logits(out, y, reduction="none").mean(dim=1)
    return None


def _table(x: torch.Tensor) -> torch.Tensor | None:
    """Float inputs as a float64 (rows, columns) table: images and sequences flattened row by row (a linear model on
    pixels or time steps is still a reference), None for wider ones or integer inputs (ids, tokens)."""
    if not x.dtype.is_floating_point or x.dim() < 2 or x[0].numel() > MAX_COLUMNS:
        return None
    return x.detach().reshape(len(x), -1).double().cpu()


@dataclass
class Sample:
    """Rows to fit references on (`x`, `y`) and rows to compare on (`x_eval`, `y_eval`: validation rows, or the
    same training rows when the run had no validation data); `x` and `x_eval` are tables, `model_eval` the same
    comparison rows in the shape the model takes. `folds`, `folds_eval`: each fitting and comparison row's fold
    where the comparison rows are training rows the model scores out of fold (K folds, chained blocks of time): the
    references then are too, each fold's rows by references fitted on the other folds' rows (see _folds)."""

    x: torch.Tensor
    y: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    held_out: bool
    model_eval: torch.Tensor
    folds: torch.Tensor | None = None
    folds_eval: torch.Tensor | None = None
    ids: tuple[int, ...] = ()   # columns of ids the model's embedding tables look up (see with_levels)


def sample(train: tuple | None, val: tuple | None, view: Callable | None = None,
           folds: Callable | None = None, ids: list[int] | tuple[int, ...] = ()) -> Sample | None:
    """A Sample from (inputs, targets) of the training and validation data, or None when they are not tables
    of finite numbers (or images or sequences that flatten into one). `view(x, y)`, a loss's readings_view, gives
    the features and the target the references fit and score (the model still takes the inputs as given);
    `folds(x, y)`, a loss's folds_view, each row's fold when validation rows are scored out of fold (else None);
    `ids`, the input columns the model's embedding tables look up (ignored under a view, whose columns differ)."""
    if train is None:
        return None
    fit = _finite_rows(train[0][:ROWS], train[1][:ROWS], view, folds)
    compare = _finite_rows(val[0][:ROWS], val[1][:ROWS], view, folds) if val is not None else fit
    if fit is None or compare is None or fit[0].shape[1] != compare[0].shape[1]:
        return None
    folded = fit[3] is not None and compare[3] is not None and val is not None
    return Sample(*fit[:2], *compare[:2], val is not None, compare[2], folds=fit[3] if folded else None,
                  folds_eval=compare[3] if folded else None, ids=() if view else tuple(ids))


def _finite_rows(x: torch.Tensor, y: torch.Tensor, view: Callable | None = None,
                 folds: Callable | None = None) -> tuple | None:
    """The rows of (x as a float64 table, y, x as given, each row's fold or None) whose inputs and (float) targets
    are all finite, x and y through `view` for the table and the target, the folds from `folds(x, y)`; None when x
    is not a table; finite data is never masked."""
    fold = folds(x, y) if folds else None
    features, y = view(x, y) if view else (x, y)
    table, y, x = _table(features), y.detach().cpu(), x.detach().cpu()
    if table is None:
        return None
    fold = fold.detach().cpu() if fold is not None else None
    values = [table, y.reshape(len(y), -1)] if y.dtype.is_floating_point else [table]
    if all(all_finite(v) for v in values):
        return table, y, x, fold
    keep = torch.stack([torch.isfinite(v).all(dim=1) for v in values]).all(dim=0)
    return table[keep], y[keep], x[keep], fold[keep] if fold is not None else None


def _folds(data: Sample) -> list[tuple[torch.Tensor, Sample]]:
    """For each fold of the comparison rows: which comparison rows it holds, and the sample that compares them
    with the fitting rows of every other fold (the rows the model that scores them learned from, or a superset)."""
    parts = []
    for fold in torch.unique(data.folds_eval).tolist():
        rows, others = data.folds_eval == fold, data.folds != fold
        parts.append((rows, Sample(data.x[others], data.y[others], data.x_eval[rows], data.y_eval[rows],
                                   data.held_out, data.model_eval[rows], ids=data.ids)))
    return parts


ROWS_PER_COEFFICIENT = 5   # fewer fitting rows per coefficient would let a linear fit memorize them


def with_levels(data: Sample) -> Sample:
    """The sample with each id column (whole numbers that the model's embedding tables look up) replaced, in the
    tables the references fit and score, by one 0/1 column per id its fitting rows hold: a linear model then gives
    every id a weight of its own, as the embedding gives it a vector, where the id's number would put the ids on a
    line that means nothing (store 7 is not between stores 6 and 8). An id the fitting rows lack gets no column.
    Left as is when the 0/1 columns would leave fewer than ROWS_PER_COEFFICIENT fitting rows per coefficient."""
    if not data.ids:
        return data
    keep = [c for c in range(data.x.shape[1]) if c not in data.ids]
    levels = [torch.unique(data.x[:, c]) for c in data.ids]

    def expand(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, keep], *((x[:, c:c + 1] == seen).double() for c, seen in zip(data.ids, levels))], 1)

    x = expand(data.x)
    if len(x) < ROWS_PER_COEFFICIENT * (x.shape[1] + 1):
        return data
    return replace(data, x=x, x_eval=x if data.x_eval is data.x else expand(data.x_eval), ids=())


def _joined(parts: list[tuple[torch.Tensor, torch.Tensor | None]], rows: int) -> torch.Tensor | None:
    """Per-example losses of each fold's comparison rows put back in row order; None when any fold has none."""
    if not parts or any(losses is None for _, losses in parts):
        return None
    joined = torch.empty(rows, dtype=torch.float64)
    for where, losses in parts:
        joined[where] = losses
    return joined


@dataclass
class _Design:
    """Rows of inputs with a column of ones (the intercept) and their targets as the ridge fit takes them, with
    the products over the rows that every ridge strength tried on them shares (the Gram matrix and the inputs
    against the targets): those products are the cost of a fit, the solve is tiny."""

    a: torch.Tensor
    target: torch.Tensor   # (rows, outputs) float64: the targets, one-hot for classes
    y: torch.Tensor        # the targets as the loss takes them (class indices, or floats)
    gram: torch.Tensor
    moment: torch.Tensor

    @classmethod
    def of(cls, kind: str, a: torch.Tensor, y: torch.Tensor, gram: torch.Tensor, classes: int = 0) -> "_Design":
        """The design of rows `a` and targets `y`; for classes, one-hot over `classes` ids or y's own, if more (a
        class these rows lack, as the rows compared on may hold, gets an all-zero column: a score of 0)."""
        if kind == "classes":
            target, y = F.one_hot(y.long(), max(int(y.max()) + 1, classes)).double(), y.long()
        else:
            target = y.double().reshape(len(y), -1)
            y = target if kind == "binary" else y
        return cls(a, target, y, gram, a.T @ target)


def _ridge(design: _Design, strength: float) -> torch.Tensor:
    """Ridge weights (last row: the intercept) for the design's rows and targets."""
    penalty = strength * len(design.a) * torch.eye(design.gram.shape[0], dtype=design.gram.dtype)
    penalty[-1, -1] = 0.0
    return torch.linalg.solve(design.gram + penalty, design.moment)


def _apply(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return z @ w[:-1] + w[-1]


def _calibrated(scores: torch.Tensor, y: torch.Tensor, kind: str) -> float:
    """The scale that turns ridge scores into logits (scale * scores) best on the fitting rows, from a log grid:
    one parameter, so a few cheap evaluations instead of an optimizer."""
    def loss(scale: float) -> float:
        out = scale * scores
        value = F.cross_entropy(out, y) if kind == "classes" else F.binary_cross_entropy_with_logits(out, y)
        return float(value)
    return min(SCALES, key=loss)


def _fitted(kind: str, design: _Design, z_eval: torch.Tensor, strength: float) -> torch.Tensor:
    """Outputs on z_eval of the linear model of `kind` fitted on the design's rows: ridge regression, for
    classes on one-hot (or 0/1) targets with its scores scaled into logits (a closed form, where logistic
    regression by L-BFGS cost seconds)."""
    w = _ridge(design, strength)
    if kind == "regression":
        return _apply(z_eval, w)
    centre = 0.5 if kind == "binary" else 0.0   # 0/1 scores of one output: 0.5 is the boundary
    return _calibrated(design.a @ w - centre, design.y, kind) * (_apply(z_eval, w) - centre)


def _linear(kind: str, z: torch.Tensor, y: torch.Tensor, z_eval: torch.Tensor, loss: str,
            classes: int = 0) -> torch.Tensor:
    """Outputs on z_eval of the linear model fitted on (z, y) at the ridge strength of RIDGE that does best on the
    last fifth of those rows when fitted on the rest. The first four fifths' Gram matrix serves every strength
    tried, and with the last fifth's it is that of all rows; the rows with their intercept column are made once.
    Class scores span `classes` ids (or y's, if more), so the last fifth may hold a class the rest lacks."""
    classes = max(classes, int(y.max()) + 1) if kind == "classes" else 0
    cut = len(z) * 4 // 5
    a = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], dim=1)
    head_gram = a[:cut].T @ a[:cut]
    head = _Design.of(kind, a[:cut], y[:cut], head_gram, classes)
    scores = [float(per_example(loss, _fitted(kind, head, z[cut:], s), y[cut:]).mean()) for s in RIDGE]
    best = RIDGE[min(range(len(RIDGE)), key=scores.__getitem__)]
    return _fitted(kind, _Design.of(kind, a, y, head_gram + a[cut:].T @ a[cut:], classes), z_eval, best)


def _constant(kind: str, y: torch.Tensor, rows: int, classes: int = 0) -> torch.Tensor:
    """Outputs of the best constant prediction learnt from y, repeated for `rows` rows; for classes, over `classes`
    ids (or y's, if more), those y lacks at a share of 1e-12."""
    if kind == "regression":
        return y.double().reshape(len(y), -1).mean(dim=0).expand(rows, -1)
    if kind == "classes":
        share = torch.bincount(y.long(), minlength=classes).double() / len(y)
        return share.clamp_min(1e-12).log().expand(rows, -1)
    p = y.double().reshape(len(y), -1).mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return (p / (1 - p)).log().expand(rows, -1)


@dataclass
class References:
    """Per-example losses on the comparison rows: `constant`, `linear`, `features` (None without held-out rows)."""

    constant: torch.Tensor
    linear: torch.Tensor | None
    features: torch.Tensor | None

    def best(self) -> torch.Tensor | None:
        """The better of the linear references on these rows (None when there is none)."""
        found = [r for r in (self.linear, self.features) if r is not None]
        return min(found, key=lambda r: float(r.mean())) if found else None


def constant_reference(loss: object, data: Sample) -> torch.Tensor | None:
    """Per-example losses on the comparison rows of the best constant prediction learnt from the fitting rows (with
    folds, from the other folds' rows)."""
    if data.folds is not None:
        return _joined([(rows, constant_reference(loss, part)) for rows, part in _folds(data)], len(data.y_eval))
    kind = kind_of(loss)
    if kind is None or len(data.y) == 0 or len(data.y_eval) == 0:
        return None
    if kind == "classes" and not _class_ids(data):
        return None
    return per_example(loss, _constant(kind, data.y, len(data.y_eval), _classes(data, kind)), data.y_eval)


def references(loss: object, data: Sample, seed: int = 0, constant: torch.Tensor | None = None) -> References | None:
    """Fit the constant, linear and random-feature references for `loss` on `data`; None for other losses or too
    few rows. A class of the compared rows that the fitting rows lack is one the references cannot predict: they
    give it the least they give any class (see _constant, _Design.of) and are judged on those rows as the model is.
    `constant`: constant_reference(loss, data) where the caller has it already (it is not worked out again). With
    folds, each fold's comparison rows are scored by references fitted on the other folds' rows (out of fold, as
    the model scores them: fitted on the very rows they score, they would look better than they are)."""
    if data.folds is None:
        return _references(loss, data, seed, constant)
    parts = [(rows, _references(loss, part, seed, None if constant is None else constant[rows]))
             for rows, part in _folds(data)]
    if any(found is None for _, found in parts):
        return None
    joined = [_joined([(rows, getattr(found, name)) for rows, found in parts], len(data.y_eval))
              for name in ("constant", "linear", "features")]
    return References(*joined) if joined[0] is not None else None


def _references(loss: object, data: Sample, seed: int, constant: torch.Tensor | None) -> References | None:
    """references() of a sample whose references are fitted on all its fitting rows (id columns as levels, see
    with_levels)."""
    data = with_levels(data)
    kind = kind_of(loss)
    if kind is None or len(data.x) < 10 or len(data.x_eval) < 10:
        return None
    if kind == "classes" and not _class_ids(data):
        return None
    classes = _classes(data, kind)
    mean = data.x.mean(dim=0)
    centered = data.x - mean
    std = _spread(centered).clamp_min(1e-8)
    z = centered.div_(std)
    z_eval = z if data.x_eval is data.x else (data.x_eval - mean) / std   # no held-out rows: the same table
    if constant is None:
        constant = per_example(loss, _constant(kind, data.y, len(z_eval), classes), data.y_eval)
    if constant is None:
        return None
    linear = features = None
    if len(z) >= 5 * (z.shape[1] + 1):   # in-sample linear fits of fewer rows would look better than they are
        linear = per_example(loss, _linear(kind, z, data.y, z_eval, loss, classes), data.y_eval)
    if data.held_out and len(z) >= 50:
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(z.shape[1], FEATURES, generator=g, dtype=z.dtype) / math.sqrt(z.shape[1])
        b = torch.randn(FEATURES, generator=g, dtype=z.dtype)
        lift = lambda t: torch.cat([t, torch.relu(t @ w + b)], dim=1)  # noqa: E731
        zf, zf_eval = lift(z), lift(z_eval)
        features = per_example(loss, _linear(kind, zf, data.y, zf_eval, loss, classes), data.y_eval)
    return References(constant, linear, features)


EARLY = 4   # the early steps are the first 1/EARLY of a sequence's (the quarter early_step_reach reads)


def early_steps_gain(loss: object, data: Sample) -> bool | None:
    """Whether a linear model reading every step beats, beyond noise, one that reads all but the first quarter of
    each sequence's steps, on the comparison rows: whether those steps say anything about the target that the later
    steps do not (a target set by the last steps gains nothing from them). None where the rows are no sequences
    (rows, steps, features) read as they are, or no linear model is fitted."""
    shape = data.model_eval.shape
    if data.model_eval.dim() != 3 or data.x.shape[1] != shape[1] * shape[2]:
        return None
    width = max(shape[1] // EARLY, 1) * shape[2]   # a step's features lie side by side in the table
    every = references(loss, replace(data, held_out=False))
    later = references(loss, replace(data, x=data.x[:, width:], x_eval=data.x_eval[:, width:], held_out=False))
    if every is None or later is None or every.linear is None or later.linear is None:
        return None
    return better(every.linear, later.linear)


def order_free_gain(loss: object, data: Sample) -> bool | None:
    """Whether a model that reads each sequence as a set could beat a constant prediction: the linear and the
    random-feature references fitted on every feature's mean and mean square over the steps (summaries that no
    order of the steps changes) do better beyond noise on the comparison rows. False: the target lies in the
    order alone. None where the rows are no sequences (rows, steps, features) read as they are, or no reference is
    fitted."""
    shape = data.model_eval.shape
    if data.model_eval.dim() != 3 or data.x.shape[1] != shape[1] * shape[2]:
        return None
    summary = lambda t: _moments(t.reshape(len(t), shape[1], shape[2]))  # noqa: E731
    found = references(loss, replace(data, x=summary(data.x), x_eval=summary(data.x_eval)))
    best = found.best() if found is not None else None
    return None if best is None else better(best, found.constant)


def _moments(steps: torch.Tensor) -> torch.Tensor:
    """Each feature's mean and mean square over the steps of each row (rows, steps, features) side by side."""
    return torch.cat([steps.mean(dim=1), steps.square().mean(dim=1)], dim=1)


def _class_ids(data: Sample) -> bool:
    """Whether both the fitting and the compared targets are one column of class ids (non-negative integers)."""
    return all(y.dim() == 1 and not y.dtype.is_floating_point and int(y.min()) >= 0 for y in (data.y, data.y_eval))


def _classes(data: Sample, kind: str) -> int:
    """How many class ids the fitting and the compared rows hold between them (the highest, plus one); 0 for other
    kinds of target, whose references read no class count (four reductions and two reads fewer a diagnosis)."""
    return int(max(data.y.max(), data.y_eval.max())) + 1 if kind == "classes" else 0


def in_sample_gain(loss: object, data: Sample) -> float | None:
    """The share of a constant prediction's loss that a linear model fitted on the fitting rows gains on those same
    rows (id columns as levels, see with_levels); None for other losses, or with fewer than five rows per
    coefficient (fewer would let it memorize)."""
    data = with_levels(data)
    kind = kind_of(loss)
    if kind is None or len(data.x) < 5 * (data.x.shape[1] + 1):
        return None
    centered = data.x - data.x.mean(dim=0)
    z = centered / _spread(centered).clamp_min(1e-8)
    constant = per_example(loss, _constant(kind, data.y, len(z)), data.y)
    linear = per_example(loss, _linear(kind, z, data.y, z, loss), data.y)
    if constant is None or linear is None or float(constant.mean()) <= 0:
        return None
    return 1 - float(linear.mean()) / float(constant.mean())


def _spread(centered: torch.Tensor) -> torch.Tensor:
    """The sample standard deviation of each column of `centered` (the table less its column means), in two
    passes: the same to ~1e-15 as Tensor.std(dim=0), whose float64 reduction over rows took 0.7 ms on 2000 x 32."""
    return (centered.square().sum(dim=0) / (len(centered) - 1)).sqrt()


LINEAR_FINDS = 0.2   # a linear fit that takes this share off a constant's error on a column found its signal
DROWNED = 0.5        # a model that misses over this share of that gain on the column left it unfitted


UNLIKE = 10   # column spreads this far apart: the narrower column is under 1/UNLIKE**2 of a loss summed over them


def unlike_columns(y: torch.Tensor) -> bool:
    """Whether a numeric target's columns spread on unlike scales, whatever its overall size: the largest standard
    deviation over UNLIKE times the smallest non-zero one (dollars beside a rate, or both divided by one standard
    deviation taken over every value, which keeps their ratio)."""
    if not y.dtype.is_floating_point or y.dim() != 2 or y.shape[1] < 2 or len(y) < 2:
        return False
    spreads = y.double().std(dim=0)
    spreads = spreads[spreads > 0]
    return len(spreads) >= 2 and float(spreads.max()) > UNLIKE * float(spreads.min())


def drowned_column(out: torch.Tensor, data: Sample) -> dict | None:
    """For a numeric target of several columns: the column (the first such) that a linear least-squares fit on the
    fitting rows predicts clearly better than a constant (by LINEAR_FINDS of its error) on the comparison rows,
    while the model misses over DROWNED of that gain: one summed loss over columns of unlike sizes is all the
    largest column's, and the others are barely fitted. {"column" (of those, the narrowest), "model", "linear",
    "constant"} as mean squared errors of that column, and "spreads", each column's standard deviation on the
    fitting rows; else None."""
    y, y_eval = data.y, data.y_eval
    if (not y.dtype.is_floating_point or y.dim() != 2 or y.shape[1] < 2 or out.shape != y_eval.shape
            or len(y) <= data.x.shape[1] + 1 or data.folds is not None):
        return None
    design = torch.cat([data.x.double(), torch.ones(len(y), 1, dtype=torch.float64)], 1)
    weights = torch.linalg.lstsq(design, y.double(), driver="gelsd").solution
    linear = _apply(data.x_eval.double(), weights)
    target = y_eval.double()
    errors = [(target - guess).square().mean(dim=0) for guess in (out.double(), linear, y.double().mean(dim=0))]
    model, fitted, constant = errors
    gain = constant - fitted
    drowned = (gain > LINEAR_FINDS * constant) & (model - fitted > DROWNED * gain)
    if not bool(drowned.any()):
        return None
    spreads = y.double().std(dim=0)
    column = int(min(drowned.nonzero().reshape(-1).tolist(), key=lambda c: float(spreads[c])))
    return {"column": column, "model": float(model[column]), "linear": float(fitted[column]),
            "constant": float(constant[column]), "spreads": spreads.tolist()}


def better(a: torch.Tensor, b: torch.Tensor, by: float = 0.0) -> bool:
    """Whether per-example losses `a` are lower than `b` (same rows) by more than two standard errors of the
    difference and by more than the share `by` of b's mean."""
    diff = (b - a).double()
    se = float(diff.std()) / math.sqrt(len(diff)) if len(diff) > 1 else math.inf
    return float(diff.mean()) > 2 * se and float(diff.mean()) > by * abs(float(b.mean()))


CLASS_IDS = (3, 30)   # distinct integer target values that could be class ids (two are handled as 0/1 labels)


def class_id_accuracies(data: Sample) -> tuple[float, float, int] | None:
    """For a one-column numeric target holding a few (CLASS_IDS) consecutive integers: (accuracy of a linear
    classifier on those values as classes, accuracy of a linear regression's rounded predictions, classes) on the
    comparison rows. Ordered values (ratings, counts) favour the regression or tie; class ids, whose numbers mean
    nothing, favour the classifier by far. Id columns count as levels (see with_levels). None for any other
    target, or too few rows."""
    data = with_levels(data)
    y = data.y.reshape(len(data.y), -1)
    if not data.y.dtype.is_floating_point or y.shape[1] != 1 or len(data.x) < 5 * (data.x.shape[1] + 1):
        return None
    y = y[:, 0].double()
    low, high = float(y.min()), float(y.max())
    if not (bool((y == y.round()).all()) and CLASS_IDS[0] <= high - low + 1 <= CLASS_IDS[1]
            and len(torch.unique(y)) == high - low + 1):
        return None
    as_classes = _least_squares(data, "classes", (y - low).long()).argmax(dim=1)
    as_numbers = _least_squares(data, "regression", y)[:, 0].round()
    truth = data.y_eval.reshape(-1).double() - low
    return (float((as_classes == truth).double().mean()),
            float((as_numbers.clamp(low, high) - low == truth).double().mean()), int(high - low + 1))


def accuracy_without(data: Sample, column: int) -> float | None:
    """The accuracy on the comparison rows of a linear classifier fitted on every input column but `column` (class
    targets only): what the rest of the inputs say about the classes."""
    if data.y.dtype.is_floating_point or data.y.dim() != 1 or data.x.shape[1] < 2 or len(data.x) < 10:
        return None
    keep = [c for c in range(data.x.shape[1]) if c != column]
    low = int(data.y.min())
    scores = _least_squares(data, "classes", data.y.long() - low, keep)
    return float((scores.argmax(dim=1) + low == data.y_eval.long()).double().mean())


def _least_squares(data: Sample, kind: str, y: torch.Tensor, columns: list[int] | None = None) -> torch.Tensor:
    """Outputs on the comparison rows of a lightly ridged least-squares fit of `y` (class indices: one-hot scores)
    on the sample's fitting rows, inputs standardized, over `columns` (all by default)."""
    x, x_eval = (data.x, data.x_eval) if columns is None else (data.x[:, columns], data.x_eval[:, columns])
    mean = x.mean(dim=0)
    spread = _spread(x - mean).clamp_min(1e-8)
    a = torch.cat([(x - mean) / spread, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    return _apply((x_eval - mean) / spread, _ridge(_Design.of(kind, a, y, a.T @ a), RIDGE[0]))
