"""The target column: which task it is, which loss fits it and why, and how it is encoded and decoded."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ...core.checks import check_choice
from ...core.errors import DescendError
from ...core.metrics import accuracy
from .columns import first_bad, level_order, mostly_numbers, name_words, numbers, parse_numbers
from .numerals import affix
from .preprocess import ROUNDING

TASKS = ("auto", "regression", "classification", "count")
MAX_CLASS_INTEGERS = 10   # an integer target with at most this many values is read as classes ...
PILE_MIN_VALUES, PILE_TOP_SHARE = 4, 0.05   # ... unless it is shaped as a count (count_shaped): piled at 0
TAIL_MIN_VALUES = 5   # ... or falls off over 0..4 at least (a 0/1/2 label of ever rarer classes looks the same)
PERCENT_WORDS = {"pct", "percent", "percentage", "perc", "prozent", "porcentaje", "pourcentage"}
PERCENT = ("whole numbers from 0 to 100 that are percentages ({how}) -> squared error on the standardized target "
           "(a share has a ceiling a count has not; --task count for Poisson)")


@dataclass
class Target:
    """How the model's output relates to the target column; saved with the model."""

    name: str
    task: str
    loss: str
    reason: str
    classes: list = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    floor: float | None = None   # values: predictions are held at or above it (set once training is over)

    @property
    def out_dim(self) -> int:
        return len(self.classes) if self.loss == "cross_entropy" else 1

    def encode(self, series: pd.Series) -> torch.Tensor:
        """Training targets: standardized numbers, counts, 0/1 labels or class indices."""
        if self.task == "classification":
            lookup = {c: i for i, c in enumerate(self.classes)}
            labels = _labels(series)
            self._refuse_new_classes(series, labels, lookup)
            codes = torch.tensor([lookup[v] for v in labels])
            return codes.float() if self.loss == "bce" else codes
        values = torch.tensor(np.ascontiguousarray(numbers(series, self.name).to_numpy()), dtype=torch.float32)
        return (values - self.mean) / self.std if self.task == "regression" else values

    def _refuse_new_classes(self, series: pd.Series, labels: list[str], lookup: dict) -> None:
        """Refuse rows whose class the model has no output for (`descend update` with a new class): an update
        trains the outputs there are, so a new class needs a model fitted again on all the rows."""
        new = pd.Series([label not in lookup for label in labels], index=series.index)
        if new.any():
            row, value = first_bad(series, new)
            others = sorted({label for label, is_new in zip(labels, new) if is_new} - {str(value).strip()})
            also = f" (also: {', '.join(map(repr, others[:5]))})" if others else ""
            raise DescendError(f"target {self.name!r} has {str(value).strip()!r} in data row {row}{also}, a class the "
                               f"model was not trained on (its classes: {', '.join(map(repr, self.classes))}); the "
                               f"model cannot learn a new class by an update: fit it again on all the rows with "
                               f"descend fit, or correct the label")

    def decode(self, output: torch.Tensor) -> np.ndarray:
        """Predictions in the target's own units: values, expected counts, or class probabilities (N, classes)."""
        output = output.detach().float()
        if self.task == "regression":
            values = self._values(output)
            return (values if self.floor is None else values.clamp(min=self.floor)).numpy()
        if self.task == "count":
            return torch.exp(output.reshape(-1)).numpy()
        if self.loss == "bce":
            p = torch.sigmoid(output.reshape(-1))
            return torch.stack([1 - p, p], dim=1).numpy()
        return torch.softmax(output, dim=1).numpy()

    def below_floor(self, output: torch.Tensor) -> np.ndarray:
        """Per row of the model's `output` (a value's, with a floor), whether its value lies under `floor`, so the
        floor, not the model, decides the prediction."""
        return (self._values(output.detach().float()) < self.floor).numpy()

    def _values(self, output: torch.Tensor) -> torch.Tensor:
        return output.reshape(-1) * self.std + self.mean

    def metric(self) -> Callable[[torch.Tensor, torch.Tensor], float]:
        """The validation score shown while training, in the target's own units: accuracy or RMSE."""
        return accuracy if self.task == "classification" else RMSEInUnits(self)

    def output_bias(self) -> float:
        """A starting output bias that already predicts the training average (log of the mean count)."""
        return float(np.log(max(self.mean, 1e-6))) if self.task == "count" else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class RMSEInUnits:
    """Validation RMSE in the target's own units (an object, not a closure, so it travels to worker processes)."""

    __name__ = "rmse"

    def __init__(self, target: Target):
        self.target = target

    def __call__(self, output: torch.Tensor, y: torch.Tensor) -> float:
        t = self.target
        truth = y.float() * t.std + t.mean if t.task == "regression" else y.float()
        return float(np.sqrt(np.mean((t.decode(output) - truth.numpy()) ** 2)))


def _labels(series: pd.Series) -> list[str]:
    return [str(v).strip() for v in series]


def present_rows(series: pd.Series, name: str) -> np.ndarray:
    """Boolean mask of rows whose target is not empty; raises when every row is empty."""
    mask = series.notna().to_numpy()
    if series.dtype == object:   # not &=: pandas may hand out a read-only array
        mask = mask & (series.astype(str).str.strip() != "").to_numpy()
    if not mask.any():
        raise DescendError(f"target column {name!r} is empty in every row; pick a column with values (--target)")
    return mask


def _auto(series: pd.Series, name: str) -> str:
    if series.dtype == bool:
        return "classification"
    try:
        values = numbers(series, name)
    except DescendError:
        if mostly_numbers(series):
            raise
        return "classification"
    integral = bool(np.all(np.mod(values, 1) == 0))
    if integral and values.nunique() <= MAX_CLASS_INTEGERS:
        if count_shaped(values, name):
            return "count"
        return "regression" if level_shaped(values, name) else "classification"
    return "count" if integral and values.min() >= 0 and not _percentages(series, name, values) else "regression"


CODE_WORDS = {"class", "label", "category", "type", "kind", "group", "cluster", "grade", "level", "stage",
              "rating", "rank", "status", "code", "species", "quality", "score"}   # names of class codes
BLANK_WORDS = {"y", "target", "outcome", "response"}   # names that say nothing either way


def count_shaped(values: pd.Series, name: str) -> bool:
    """Whether whole numbers with few values (visits to a doctor, arrests, children in a family) are a count rather
    than class codes, from the column's own evidence: they start at 0 and either pile up there (see _piled_at_zero)
    or fall off to the right (see _falling_tail). A name that says code (class, label, grade, status...) keeps them
    classes; under a name that says nothing (y, target) only the pile counts: labels 0..4 of classes ever rarer
    fall off the same way."""
    counts = values.value_counts().sort_index()
    words = name_words(name)
    if counts.index.min() != 0 or words & CODE_WORDS:
        return False
    return _piled_at_zero(values, counts) or (not words & BLANK_WORDS and _falling_tail(counts))


def level_shaped(values: pd.Series, name: str) -> bool:
    """Whether whole numbers with few values are levels of an amount far from zero (years of schooling 12-18, ages
    18-24) rather than class codes: codes are numbered from 0 or 1, or spaced out from there (10, 20, 30), so their
    smallest value lies within their range; these lie further from 0 than they spread. Two values stay two classes,
    and a name that says code keeps them classes."""
    low, high = float(values.min()), float(values.max())
    nearest = min(abs(low), abs(high)) if low * high > 0 else 0.0   # from 0, on whichever side of it they lie
    return values.nunique() > 2 and nearest > high - low and not name_words(name) & CODE_WORDS


def _piled_at_zero(values: pd.Series, counts: pd.Series) -> bool:
    """0 the most common of at least PILE_MIN_VALUES values, and the upper half of the range rare (at most
    PILE_TOP_SHARE of the rows): the shape of visits or arrests, gaps in the tail allowed. Class codes take turns
    more evenly."""
    return len(counts) >= PILE_MIN_VALUES and int(counts.idxmax()) == 0 \
        and float((values > values.max() / 2).mean()) <= PILE_TOP_SHARE


def _falling_tail(counts: pd.Series) -> bool:
    """At least TAIL_MIN_VALUES values, nearly every whole number up to the largest (codes skip about), and fewer
    rows at each value above the commonest one (in the lower half), the largest value the rarest by far."""
    top = int(counts.index.max())
    if len(counts) < TAIL_MIN_VALUES or top + 1 > 1.5 * len(counts):
        return False
    mode = int(counts.idxmax())
    tail = counts.reindex(range(mode, top + 1), fill_value=0).to_numpy()
    return mode <= top / 2 and bool(np.all(np.diff(tail) <= 0.1 * tail[0])) and tail[-1] <= tail[0] / 5


def _percentages(series: pd.Series, name: str, values: pd.Series) -> str | None:
    """How whole numbers from 0 to 100 show they are percentages, not counts: cells written with '%', or a name
    that says so (score_pct, Percent); None when they do not."""
    if values.min() < 0 or values.max() > 100:
        return None
    if _sign(series) == "%":
        return "written with '%'"
    if "%" in name or name_words(name) & PERCENT_WORDS:
        return f"the name {name!r} says so"
    return None


def _reason(task: str, requested: str, series: pd.Series, percent: str | None = None, written: str = "") -> str:
    """Why the target got its task and loss, in words; `written` (see _written_note) says a sign was read off."""
    how = "set by --task" if requested != "auto" else "inferred"
    if task == "classification":
        why = ""
        numbers = not pd.api.types.is_bool_dtype(series) and pd.to_numeric(series, errors="coerce").notna().all()
        if requested == "auto" and numbers:   # true/false reads as 1/0 to pandas, but is no whole number
            why = (f" (whole numbers with at most {MAX_CLASS_INTEGERS} values are read as classes; --task count or "
                   "--task regression treats them as numbers)")
        return (f"{how}: {series.nunique()} classes -> "
                + ("binary cross-entropy (one logit)" if series.nunique() == 2 else "cross-entropy (softmax)") + why)
    if task == "count":
        few = series.nunique() <= MAX_CLASS_INTEGERS and requested == "auto"
        shape = (f", {series.nunique()} values, rarer as they grow: a count's shape, not class "
                 "codes" if few else "")
        what = "count" if few else "value"   # prices and earnings in whole units take Poisson too: not counts
        suits = "" if few else " (it suits counts and amounts whose spread grows with their size)"
        return (f"{how}: non-negative whole numbers ({series.min():g} to {series.max():g}{shape}"
                f"{'; ' + written if written else ''}) -> Poisson loss"
                f"{suits}; the model predicts the log of the expected {what}, so effects multiply and the spread grows "
                f"with the {what} (--task regression for squared error"
                + (", --task classification for classes)" if few else ")"))
    if percent:
        return f"{how}: " + PERCENT.format(how=percent)
    return f"{how}: numbers{f' ({written})' if written else ''} -> squared error on the standardized target"


def _levels_reason(values: pd.Series) -> str:
    """Why few whole numbers (read as classes otherwise) are values here: see level_shaped."""
    return (f"inferred: whole numbers {values.min():g} to {values.max():g}, {values.nunique()} values, further from 0 "
            "than they spread: levels of an amount, not class codes -> squared error on the standardized target "
            "(--task classification for classes)")


def _sign(series: pd.Series) -> str | None:
    """The currency sign, percent sign or unit every marked cell of a text column shares (see numerals.affix)."""
    if pd.api.types.is_numeric_dtype(series):
        return None
    written = affix(series.astype("string").str.strip())
    return None if written is None else written[0]


def _written_note(series: pd.Series, values: pd.Series) -> str:
    """The words saying the target's cells carry a sign or unit that was read off, with its first such cell and
    the number it became ("written with '$': $71,400 is read and predicted as 71400"), as the input columns' lines
    say it; "" when the cells are plain numbers."""
    sign = _sign(series)
    if sign is None:
        return ""
    text = series.astype("string").str.strip()
    row = int(np.flatnonzero(text.str.contains(sign, regex=False).fillna(False).to_numpy())[0])
    return f"written with {sign!r}: {text.iloc[row]} is read and predicted as {values.iloc[row]:g}"


def _check_varies(series: pd.Series, name: str, requested: str) -> None:
    """Refuse a target with one value in every row: there is nothing to learn, whatever the task."""
    values = set(_labels(series))
    if len(values) > 1:
        return
    value = values.pop()
    if requested == "classification":
        raise DescendError(f"target column {name!r} has a single class {value!r}; classification needs two")
    _refuse_constant(name, value)


def _refuse_constant(name: str, value) -> None:
    raise DescendError(f"target column {name!r} holds {value!r} in every row, so there is nothing to learn; "
                       "pick a column that varies (--target)")


def _spread(values: pd.Series) -> float:
    """The standard deviation of `values`, or 0 when it is float rounding alone (relative to their largest
    magnitude, as for the input columns): standardizing by such a spread would blow the rounding up into a target."""
    std = float(values.std(ddof=0))
    return std if std > ROUNDING * float(np.abs(values.to_numpy()).max(initial=0.0)) else 0.0


def _check_repeats(labels: pd.Series, name: str) -> None:
    """Refuse a target where most rows hold a class no other row holds (a date, a name, an identifier as the
    target): a class seen once cannot be learned, and one never seen in training cannot be predicted."""
    counts = labels.value_counts()
    if (counts == 1).sum() > len(labels) / 2:
        raise DescendError(f"target column {name!r} has {len(counts)} different values in {len(labels)} rows, most "
                           "of them in one row each, which cannot be learned; pick the column to predict (--target), "
                           "or --task regression if its values are numbers")


def infer_target(series: pd.Series, name: str, requested: str = "auto", train=None) -> Target:
    """Pick the task and loss for a target column (empty rows removed); scale from the `train` positions only."""
    requested = check_choice("task", requested, TASKS)
    _check_varies(series, name, requested)
    task = _auto(series, name) if requested == "auto" else requested
    if task == "classification":
        classes = sorted(set(_labels(series)), key=level_order)
        _check_repeats(pd.Series(_labels(series)), name)
        loss = "bce" if len(classes) == 2 else "cross_entropy"
        return Target(name, task, loss, _reason(task, requested, series), classes=classes)
    values, text = parse_numbers(series)
    if text.any():
        row, value = first_bad(series, text)
        raise DescendError(f"--task {task} needs a numeric target, but {name!r} has {str(value).strip()!r} in data "
                           f"row {row}; use --task classification for labels")
    if task == "count":
        bad = (values < 0) | (np.mod(values, 1) != 0)
        if bad.any():
            row, value = first_bad(values, bad)
            raise DescendError(f"--task count needs non-negative whole numbers, but target {name!r} has "
                               f"{value:g} in data row {row}; use --task regression")
    if _spread(values) == 0:   # equal up to rounding (0.1 + 0.2 beside 0.3): constant, though not to the bit
        _refuse_constant(name, str(series.iloc[0]).strip())
    fitted = values if train is None else values.iloc[train]
    std = _spread(fitted)
    whole = requested == "auto" and task == "regression" and bool(np.all(np.mod(values, 1) == 0))
    percent = _percentages(series, name, values) if whole else None
    reason = _levels_reason(values) if whole and not percent and values.nunique() <= MAX_CLASS_INTEGERS \
        else _reason(task, requested, series if task == "regression" else values, percent,
                     _written_note(series, values))
    return Target(name, task, "poisson" if task == "count" else "mse", reason,
                  mean=float(fitted.mean()), std=std if std > 0 else 1.0)
