"""What fit says about the data before training: columns that give the answer away, and levels that only the
held-out rows have.

A column that alone predicts the target almost perfectly is usually the answer in disguise (the same day's
return beside the market's direction, a total beside its parts): the model looks superb and fails when that
column is not known yet. Each feature made from a column predicts the target alone from the training rows with the
nearest values (see `feature_predictions`), scored on the validation rows; the column's score is its best
feature's. The bar is high, so that a merely strong column (petal
width among irises: about 95% right) is not called a leak.
"""
from __future__ import annotations

from shlex import quote

import numpy as np
import pandas as pd
import torch

from .columns import name_words, numbers
from .dates import DATE_WORDS, NAMED, calendar_numbers
from .preprocess import Preprocessor
from .glm import ridge
from .split import Split
from .target import Target

LEAK_R2 = 0.99              # a single column explaining this much of the validation variance (a lag of a slow
                            # quantity, known when predicting, explains 95-99%) ...
LEAK_ACCURACY = 0.98        # ... or right this often, and erring at most LEAK_ERROR_SHARE of the majority
LEAK_ERROR_SHARE = 0.1      # class's errors (so 99.9% on a 99% majority)
MIN_LEAK_ROWS = 20          # fewer validation rows than this judge nothing
JOINT_LEAK_R2 = 0.999       # number columns whose straight-line fit explains this much: a total beside its parts
JOINT_SHARE = 0.1           # ... named when their weight is at least this share of the largest one's
MARK_AGREEMENT = 0.999      # a 0/1 column that is 1 on one class's training rows and 0 elsewhere this often


def _judged_rows(split: Split) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows that teach, rows that are judged) pairs: the training and validation rows or, on a small table with
    fewer than MIN_LEAK_ROWS validation rows, each fifth of the training rows judged from the other four (so a
    copy of the target in a 40-row file is still caught)."""
    if len(split.val) >= MIN_LEAK_ROWS:
        return [(split.fit, split.val)]
    train = np.sort(split.train)
    if len(train) < MIN_LEAK_ROWS:
        return []
    return [(np.setdiff1d(train, fifth), fifth) for fifth in np.array_split(train, 5)]


def _leak_score(values: np.ndarray, y: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                classes: bool) -> tuple[float, float]:
    """(the column's score alone on the judged rows, the score that makes it a leak): R2 and LEAK_R2 for numbers;
    accuracy and the accuracy of a near-perfect column for classes. A column of several features (a date's
    parts, a number and its was-missing flag) scores as its best feature."""
    truth = np.concatenate([y[val] for _, val in parts])

    def said(v: np.ndarray) -> np.ndarray:
        return np.concatenate([feature_predictions(v[fit], y[fit], v[val], classes) for fit, val in parts])

    if classes:
        majority = float(np.mean(np.concatenate(
            [y[val] == pd.Series(y[fit]).mode().iloc[0] for fit, val in parts])))
        bar = max(LEAK_ACCURACY, 1 - LEAK_ERROR_SHARE * (1 - majority))
        return float(max(np.mean(said(v) == truth) for v in values.T)), bar
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if spread <= 0:
        return 0.0, LEAK_R2
    error = min(np.sum((said(v) - truth) ** 2) for v in values.T)
    return 1 - float(error) / spread, LEAK_R2


def feature_predictions(fit_values: np.ndarray, answers: np.ndarray, new_values: np.ndarray,
                        classes: bool) -> np.ndarray:
    """What one feature alone says of each new row, from the training rows that share a value: for numbers the
    line through the mean answers of neighbouring values (flat past the ends), for classes the most frequent label
    of the nearest value. It follows any shape a leak has without a model's smoothing."""
    levels, groups = np.unique(np.asarray(fit_values, np.float64), return_inverse=True)
    new_values = np.asarray(new_values, np.float64)
    if not classes:
        means = np.bincount(groups, weights=np.asarray(answers, np.float64)) / np.bincount(groups)
        return np.interp(new_values, levels, means)
    labels, codes = np.unique(answers, return_inverse=True)
    votes = np.bincount(groups * len(labels) + codes, minlength=len(levels) * len(labels)).reshape(len(levels), -1)
    nearest = np.zeros(len(new_values), dtype=int)
    if len(levels) > 1:
        right = np.clip(np.searchsorted(levels, new_values), 1, len(levels) - 1)
        nearest = right - (new_values - levels[right - 1] <= levels[right] - new_values)
    return labels[np.argmax(votes, axis=1)][nearest]


def leak_warnings(pre: Preprocessor, x: torch.Tensor, y: torch.Tensor, target: Target, split: Split) -> list[str]:
    """One warning per input column that alone predicts the target almost perfectly on the validation rows (on
    small tables, on the training rows by fifths)."""
    parts = _judged_rows(split)
    if not parts:
        return []
    classes = target.task == "classification"
    inputs, answers, found, positions = x.numpy(), y.numpy(), [], pre.feature_positions()
    rows = "validation rows" if len(parts) == 1 else "training rows (each fifth judged from the others)"
    for name, places in positions.items():
        score, bar = _leak_score(inputs[:, places], answers, parts, classes)
        if score >= bar:
            what = f"accuracy {score:.3f}" if classes else f"R2 {score:.3f}"
            found.append(f"warning: column {name!r} alone predicts {target.name!r} almost perfectly on the {rows} "
                         f"({what}); if it is not known when you predict, it leaks the answer: --drop {quote(name)}")
    if found:
        return found
    if classes:
        return _class_marks(positions, inputs[split.train], answers[split.train], target)
    return [] if len(parts) > 1 else _joint_leak(pre, positions, inputs, answers, target, split)


def _class_marks(positions: dict[str, list[int]], inputs: np.ndarray, answers: np.ndarray,
                 target: Target) -> list[str]:
    """A warning when two-valued columns mark the target's classes between them: each holds one of its values on
    exactly one class's training rows (MARK_AGREEMENT of them), and together they mark all classes but one (the
    one neither marks). A status of out of the labour force / unemployed / employed beside 0/1 columns 'in the
    labour force' and 'employed' is the target written out again, which no single column shows."""
    if len(target.classes) < 3:
        return []
    marks: dict[int, str] = {}
    for name, places in positions.items():
        values = inputs[:, places[0]]
        levels = np.unique(values)
        if len(levels) != 2:
            continue
        for level in levels:
            for code in range(len(target.classes)):
                if code not in marks and np.mean((values == level) == (answers == code)) >= MARK_AGREEMENT:
                    marks[code] = name
    if len(marks) < len(target.classes) - 1:
        return []
    named = list(dict.fromkeys(marks.values()))
    which = ", ".join(f"{name!r} class {target.classes[code]!r}" for code, name in sorted(marks.items()))
    return [f"warning: columns {', '.join(map(repr, named))} mark the classes of {target.name!r} between them on the "
            f"training rows (each holds one of its two values on exactly one class's rows: {which}); if they are "
            f"not known when you predict, they leak the answer: --drop {quote(','.join(named))}"]


def _joint_leak(pre: Preprocessor, positions: dict[str, list[int]], inputs: np.ndarray, answers: np.ndarray,
                target: Target, split: Split) -> list[str]:
    """A warning when the number columns together, through a straight line fitted on the training rows, give a
    number target almost exactly on the validation rows: the parts beside their total (casual and registered
    riders beside all riders), which no single column shows."""
    width = sum(2 if spec.flag else 1 for spec in pre.numeric)
    if target.task == "classification" or width < 2:
        return []
    fit, val = split.fit, split.val
    line = ridge(inputs[fit, :width], answers[fit], alpha=1e-6 * len(fit))
    spread = float(np.sum((answers[val] - answers[val].mean()) ** 2))
    error = float(np.sum((line.outputs(inputs[val, :width])[:, 0] - answers[val]) ** 2))
    if spread <= 0 or 1 - error / spread < JOINT_LEAK_R2:
        return []
    weight = {name: max((abs(line.coef[0, p]) for p in places if p < width), default=0.0)
              for name, places in positions.items()}
    named = [name for name, w in sorted(weight.items(), key=lambda item: -item[1]) if w >= JOINT_SHARE * max(
        weight.values())][:4]
    return [f"warning: columns {', '.join(map(repr, named))} together predict {target.name!r} almost exactly on the "
            f"validation rows (a straight line through them: R2 {1 - error / spread:.4f}); if they are not known when "
            f"you predict, they leak the answer: --drop {quote(','.join(named))}"]


def unseen_level_notes(pre: Preprocessor, frame: pd.DataFrame, split: Split) -> list[str]:
    """A note per text, month or weekday column whose validation or test rows hold levels the training rows never
    had (a date's months and whole-number codes are left unsaid: their numeric side still carries them)."""
    text = [c for c in pre.columns if c.kind in ("categorical", *NAMED)]
    kinds = {c.name: c.kind for c in text}
    only_text = Preprocessor(text, [], [spec for spec in pre.categorical if spec.name in kinds])
    notes = []
    for part, rows in (("validation", split.val), ("test", split.test)):
        if not len(rows):
            continue
        _, _, unseen = only_text.transform(frame.iloc[rows])
        notes += [_unseen_note(kinds[name], name, count, f"{len(rows)} {part}", only_text, frame.iloc[rows])
                  for name, count in unseen.items()]
    return notes


def _unseen_note(kind: str, name: str, count: int, rows: str, pre: Preprocessor, frame: pd.DataFrame) -> str:
    """The note on `count` of `rows` rows with a level of column `name` training never saw; for months or weekdays,
    which ones (a time split puts the last months of a year in the test rows alone)."""
    if kind not in NAMED:
        return (f"note: {count} of {rows} rows have a {name!r} level that training never saw; the model gives it no "
                "effect of its own")
    names, first = NAMED[kind]
    (spec,) = [spec for spec in pre.categorical if spec.name == name]
    numbers = calendar_numbers(frame[name], kind, name).dropna().unique()
    new = ", ".join(names[int(n) - first][:3] for n in sorted(numbers) if str(int(n)) not in spec.levels)
    return (f"note: {count} of {rows} rows fall in {kind}s of {name!r} that training never saw ({new}); the model "
            f"gives those {kind}s no effect of their own, so the other columns predict them")


def unseen_class_notes(target: Target, frame: pd.DataFrame, split: Split, in_file_order: bool) -> list[str]:
    """A note per class of the target that test rows hold and no training row does: the model can never predict
    it, and a file sorted by its target (a class per block of rows) puts the last class in the test rows alone."""
    if target.task != "classification" or not len(split.test):
        return []
    values = frame[target.name].astype(str)
    taught = set(values.iloc[split.train])
    tested = values.iloc[split.test].value_counts()
    hint = (f"; the rows may be sorted by {target.name!r}: --split random draws the test rows at random"
            if in_file_order else "")
    return [f"note: class {label!r} is in {count} of {len(split.test)} test rows and in no training row: the model "
            f"cannot predict it{hint}" for label, count in tested.items() if label not in taught]


def sorted_target_note(target: Target, frame: pd.DataFrame, split: Split, in_file_order: bool) -> list[str]:
    """A note when a value target never rises (or never falls) from one row of the file to the next and the test
    rows are the file's last: the rows are sorted by the target, so the test rows hold only its lowest (or
    highest) values, and the test scores say little about the rows the model will meet."""
    if target.task == "classification" or not len(split.test) or not in_file_order:
        return []
    values = numbers(frame[target.name], target.name).dropna().to_numpy()
    steps = np.diff(values)
    if len(values) < 20 or not steps.any() or not ((steps >= 0).all() or (steps <= 0).all()):
        return []
    rises = bool((steps >= 0).all())
    tested = numbers(frame[target.name].iloc[split.test], target.name)
    return [f"note: the rows look sorted by {target.name!r} (it never {'falls' if rises else 'rises'} from one row "
            f"to the next), so the {len(split.test)} test rows hold only its {'highest' if rises else 'lowest'} "
            f"values ({tested.min():g} to {tested.max():g}): --split random draws the test rows at random"]


SORTED_HEAD = 64   # rows a column is first checked on: one unsorted there is not read in full
SHIFT = 0.5   # a sorted column whose test rows would need half of them moved to look like its training rows
# a column named with one of these sorts rows in time order, which a split by position suits: no note
TIME_WORDS = DATE_WORDS | {"year", "yr", "month", "week", "quarter", "hour", "period"}


def sorted_feature_note(pre: Preprocessor, frame: pd.DataFrame, split: Split, in_file_order: bool) -> list[str]:
    """A note when the rows are sorted by an input column and the test rows, the file's last, sit on levels or
    ranges of it that the training rows barely hold (a table sorted by passenger class puts only third class in
    the test rows): the test score then says little about the rows the model will meet. Sorted: numbers that never
    fall (or never rise) from row to row, or levels each in one block of rows; barely held: at least SHIFT of the
    test rows would have to move to match the training rows' spread over the column (its levels, or for numbers
    the deciles of the training rows). Tables in random order fail the first test at once."""
    if not in_file_order or len(split.test) < MIN_LEAK_ROWS:
        return []
    rows = frame.iloc[np.sort(np.concatenate([split.train, split.test]))]
    taught = len(split.train)
    for column in pre.columns:
        if column.kind in NAMED or name_words(column.name) & TIME_WORDS:   # months in blocks: rows in time order
            continue
        numeric = column.kind in ("numeric", "ordinal")
        read = (lambda cells: numbers(cells, column.name)) if numeric else (lambda cells: cells.astype("string"))
        if not _sorted(read(rows[column.name].iloc[:SORTED_HEAD]), numeric, whole=False):
            continue   # unsorted from its first rows: the whole column is not read (most tables stop here)
        values = read(rows[column.name])
        if not _sorted(values, numeric):
            continue
        codes, describe = _column_levels(values, numeric, taught)
        if _shift(codes[:taught], codes[taught:]) >= SHIFT:
            return [f"note: the rows look sorted by {column.name!r}: the {len(split.test)} test rows (the file's "
                    f"last) {describe}: --split random draws the test rows at random"]
    return []


def _sorted(values: pd.Series, numeric: bool, whole: bool = True) -> bool:
    """Whether `values` (in file order) are sorted: numbers that never fall or never rise (empty cells aside),
    text whose levels each fill one block of rows (and, for a `whole` column, are fewer than half its rows: no
    name per row; the first rows alone may hold one level or one value throughout)."""
    if numeric:
        steps = np.diff(values.dropna().to_numpy())
        return (bool(steps.any()) or not whole) and bool((steps >= 0).all() or (steps <= 0).all())
    codes, levels = pd.factorize(values.fillna("(empty)"))
    changes = int(np.count_nonzero(np.diff(codes)))
    return (2 <= len(levels) <= len(values) / 2 or not whole) and changes == len(levels) - 1


def _column_levels(values: pd.Series, numeric: bool, taught: int) -> tuple[np.ndarray, str]:
    """(a level code per value, whose first `taught` are training rows'; in words, where the others lie): levels
    as written, or for numbers the decile of the training rows each falls in."""
    if numeric:
        points = values.to_numpy()
        edges = np.unique(np.nanquantile(points[:taught], np.linspace(0.1, 0.9, 9)))
        tested = points[taught:]
        lo, hi = np.nanmin(tested), np.nanmax(tested)
        inside = np.mean((points[:taught] >= lo) & (points[:taught] <= hi))
        codes = np.where(np.isnan(points), 0, np.searchsorted(edges, points, side="right") + 1)
        return codes, f"hold its values {lo:g} to {hi:g}, where {inside:.0%} of the training rows lie"
    codes, levels = pd.factorize(values.fillna("(empty)"))
    shares = [np.bincount(part, minlength=len(levels)) / len(part) for part in (codes[:taught], codes[taught:])]
    top = int(np.argmax(shares[1] - shares[0]))
    return codes, (f"are {shares[1][top]:.0%} its level {levels[top]!r}, against {shares[0][top]:.0%} of the "
                   "training rows")


def _shift(first: np.ndarray, second: np.ndarray) -> float:
    """The total variation distance between the level shares of two sets of level codes (0: alike, 1: disjoint)."""
    size = int(max(first.max(initial=0), second.max(initial=0))) + 1
    return 0.5 * float(np.abs(np.bincount(first, minlength=size) / len(first)
                              - np.bincount(second, minlength=size) / len(second)).sum())
