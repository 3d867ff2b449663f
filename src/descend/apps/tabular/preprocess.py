"""Fitted preprocessing: columns -> standardized numbers and category indices, saved as plain JSON.

Numbers get the training median for missing cells (plus a 0/1 "was missing" column when training had gaps)
and are standardized with the training mean and spread. They are not clipped here: the model clips them to the
training range itself where that is chosen (`bounds`; see train.networks_clip). Categories map to 1..L; index 0 is
for a level never seen in training, and empty cells are a level of their own. Dates become weekday (unless
every date is the same day of its month) and month categories plus day of year, plain and as a sine/cosine pair
so December sits next to January, plus the years since 2000 (not clipped, so a trend carries on past the
training dates); date-times also get the hour of the day as a category, and dates day by day over years their
calendar day and weekday of the month (holidays). Times of day without a date (13:15) become hours since midnight,
plain and as a sine/cosine pair. Month or weekday names (Jan, sept., Mon) are one-hot by the month's or weekday's
number, however they are written.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ...core.errors import DescendError
from .columns import Column, as_booleans, closest_name, level_order, numbers
from .clock import clock_hours
from .dates import NAMED, as_dates, calendar_numbers
from .statistic import KeyStatistic

MISSING = "(missing)"
MAX_ONEHOT_LEVELS = 30
TIME_SUFFIX = "_years"   # a date's running time: years since 2000-01-01
MAX_BINS = 16   # quantile bins per number for the networks' piecewise-linear encoding, at most
DATED_MAX_BINS = 8   # on a table with dates (finer bins of its date parts fit the training years' noise)
ROWS_PER_BIN = 40   # and at least this many training rows in each (fewer rows, fewer bins: less to overfit)
ROUNDING = 1e-12   # numbers closer than this times a column's largest magnitude are equal (~4500 float64 steps)


@dataclass
class Numeric:
    """One standardized number feature with the statistics learned from the training rows."""

    name: str
    median: float = 0.0
    mean: float = 0.0
    std: float = 1.0
    flag: bool = False
    low: float = 0.0
    high: float = 0.0
    clip: bool = True   # False for a date's running time: a later date keeps counting (trends extrapolate)
    edges: list = field(default_factory=list)   # training quantiles: the networks' piecewise-linear bins


@dataclass
class Categorical:
    """One category feature: its training levels and how the model sees it (one-hot or an embedding)."""

    name: str
    levels: list = field(default_factory=list)
    encoding: str = "onehot"
    dim: int = 0

    @property
    def size(self) -> int:
        return len(self.levels) + 1  # index 0: a level not seen in training


def _text(values: pd.Series) -> pd.Series:
    """Levels as stripped strings, None for an empty cell (so it becomes the "(missing)" level); a whole number
    read as a float (its column had an empty cell) is named as written without one ("624", not "624.0")."""
    cells = [None if pd.isna(v) or not str(v).strip() else
             str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip() for v in values]
    return pd.Series(cells, index=values.index, dtype=object)


def _integer_text(values: pd.Series) -> pd.Series:
    """Whole numbers as level names ("7", "1000001"), None where empty."""
    return pd.Series([None if np.isnan(v) else str(int(v)) for v in values], index=values.index, dtype=object)


def derive(column: Column, series: pd.Series) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """The number features and the category features (raw, before fitting) that one column turns into."""
    name, kind = column.name, column.kind
    if kind == "numeric":
        return {name: numbers(series, name)}, {}
    if kind == "boolean":
        return {name: as_booleans(series, name)}, {}
    if kind == "ordinal":
        values = numbers(series, name)
        return {name: values}, {name: _integer_text(values)}
    if kind == "categorical":
        return {}, {name: _text(series)}
    if kind == "timeofday":
        return clock_features(name, clock_hours(series)), {}
    if kind in NAMED:   # one level per number ("Sept", "sep."); as ordered numbers they made unseen months worse
        return {}, {name: _integer_text(calendar_numbers(series, kind, name))}
    dates = as_dates(series, column.dayfirst)
    day = dates.dt.day_of_year.astype(float)
    angle = 2 * np.pi * (day - 1) / 365.25
    years = (dates - pd.Timestamp("2000-01-01")).dt.total_seconds() / (365.25 * 86400)
    nums = {f"{name}_dayofyear": day, f"{name}_doy_sin": np.sin(angle), f"{name}_doy_cos": np.cos(angle),
            f"{name}{TIME_SUFFIX}": years}
    cats = {f"{name}_weekday": _integer_text(dates.dt.day_of_week.astype(float))} if column.weekday else {}
    cats[f"{name}_month"] = _integer_text(dates.dt.month.astype(float))
    if kind == "datetime":
        cats[f"{name}_hour"] = _integer_text(dates.dt.hour.astype(float))
    return nums, {**cats, **(calendar_days(name, dates) if column.calendar else {})}


def clock_features(name: str, hours: pd.Series) -> dict[str, pd.Series]:
    """A time of day's number features: hours since midnight, plain and as a sine/cosine pair (23:59 next to 0:00)."""
    angle = 2 * np.pi * hours / 24
    return {f"{name}_hours": hours, f"{name}_hour_sin": np.sin(angle), f"{name}_hour_cos": np.cos(angle)}


def calendar_days(name: str, dates: pd.Series) -> dict[str, pd.Series]:
    """Each date's calendar day (1225 for December 25) and weekday of its month (1143: November, 4th, Thursday) as
    levels: fixed and moving holidays, one level each."""
    month, day = dates.dt.month.astype(float), dates.dt.day.astype(float)
    week = (day - 1) // 7 + 1
    return {f"{name}_monthday": _integer_text(month * 100 + day),
            f"{name}_nthweekday": _integer_text(month * 100 + week * 10 + dates.dt.day_of_week.astype(float))}


def _fit_numeric(name: str, values: pd.Series, clip: bool, max_bins: int) -> Numeric:
    present = values.dropna()
    median = float(present.median()) if len(present) else 0.0
    filled = values.fillna(median)
    std, noise = float(filled.std(ddof=0)), ROUNDING * float(np.abs(filled.to_numpy()).max(initial=0.0))
    bins = min(max_bins, len(values) // ROWS_PER_BIN)
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)) if clip and bins >= 2 else np.zeros(0)
    # a spread of rounding noise alone (every value sin 60 or sin 120 degrees) is no spread: standardizing by it
    # would blow the noise up into a feature
    return Numeric(name, median, float(filled.mean()), std if std > noise else 1.0, bool(values.isna().any()),
                   float(filled.min()), float(filled.max()), clip, _distinct(quantiles, noise))


def _distinct(quantiles: np.ndarray, noise: float) -> list[float]:
    """The sorted quantiles, each kept only when it lies more than `noise` beyond the one kept before it: values
    equal up to float rounding (sin 60 and sin 120 degrees) made a bin that standardizing shrank to width 0, and the
    networks' encoding divides by that width. The noise is relative to the column's largest magnitude, which bounds
    both its spread and the rounding in subtracting its mean."""
    edges = np.unique(quantiles)
    kept = edges[:1].tolist()
    for edge in edges[1:]:
        if edge - kept[-1] > noise:
            kept.append(edge)
    return [float(e) for e in kept]


def _bins_phrase(numeric: list[Numeric]) -> str:
    """What the quantile bins add to the numbers' line: how many, or why none (a small table's columns get none)."""
    binned = max(len(n.edges) - 1 for n in numeric)
    if binned > 0:
        return f"; the networks also see each as its place in up to {binned} training-quantile bins"
    if any(n.clip for n in numeric):
        return (f"; no training-quantile bins (too few training rows: a column gets them from {2 * ROWS_PER_BIN} "
                f"rows, {ROWS_PER_BIN} a bin)")
    return ""


def _fit_categorical(name: str, values: pd.Series) -> Categorical:
    levels = sorted(values.dropna().unique().tolist(), key=level_order)
    if values.isna().any():
        levels.append(MISSING)
    if len(levels) <= MAX_ONEHOT_LEVELS:
        return Categorical(name, levels)
    return Categorical(name, levels, "embedding", min(16, (len(levels) + 1) // 2))


def _what_to_do(missing: list[str], present, trained: set[str], gapped: set[str]) -> str:
    """The fix for columns the model needs that a file lacks: a rename for each that a column the model was not
    trained on most likely is, written another way (case, spaces, underscores, a near spelling), and for the rest,
    adding them: with empty cells where unknown for those training had empty cells in (`gapped`), which the model
    learned to read, and with their values for the others, whose empty cells it can only fill in."""
    spare = [str(c) for c in present if str(c) not in trained]
    renames = {name: found[0] for name in missing if (found := closest_name(name, spare))}
    rest = [name for name in missing if name not in renames]
    said = [f"it has {found!r}: rename it {name!r}" for name, found in renames.items()]
    learned = [name for name in rest if name in gapped]
    if learned:
        said.append(f"add {_which(learned, rest, renames)}, with empty cells where the values are unknown "
                    "(training had empty cells there too)")
    if needed := [name for name in rest if name not in gapped]:
        said.append(f"add {_which(needed, rest, renames)} with the values: training had no empty cells there, so an "
                    "empty cell is filled with the training median (a number) or adds nothing (text)")
    return "; ".join(said)


def _which(names: list[str], rest: list[str], renames: dict) -> str:
    """`names` as the fix's object: "it" or "them" when they are all that is left to say, else quoted."""
    if renames or len(names) < len(rest):
        return ", ".join(map(repr, names))
    return "them" if len(names) > 1 else "it"


@dataclass
class Preprocessor:
    """The fitted transformation from a table to model inputs (numbers, category indices)."""

    columns: list[Column]
    numeric: list[Numeric]
    categorical: list[Categorical]
    key: KeyStatistic | None = None   # the target statistic of one repeated key column (statistic.py)

    def add_key(self, key: KeyStatistic, own: np.ndarray) -> None:
        """Take `key`'s features as the last number inputs, standardized by `own`, their out-of-fold training
        values (rows x features)."""
        self.key = key
        self.numeric += [_fit_numeric(name, pd.Series(own[:, j]), True, MAX_BINS) for j, name in enumerate(key.names)]

    @classmethod
    def fit(cls, columns: list[Column], frame: pd.DataFrame) -> "Preprocessor":
        """Learn medians, means, spreads and levels from `frame` (the training rows only)."""
        nums, cats = {}, {}
        for column in columns:
            n, c = derive(column, frame[column.name])
            nums.update(n)
            cats.update(c)
        times = {f"{c.name}{TIME_SUFFIX}" for c in columns if c.kind in ("date", "datetime")}
        bins = DATED_MAX_BINS if times else MAX_BINS
        return cls(columns, [_fit_numeric(k, v, k not in times, bins) for k, v in nums.items()],
                   [_fit_categorical(k, v) for k, v in cats.items()])

    def check_columns(self, frame: pd.DataFrame, where: str) -> None:
        """Raise naming the first input column the model needs that `frame` lacks."""
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing and len(missing) == len(self.columns) > 1:   # not one column lost: another table altogether
            raise DescendError(f"{where} has none of the {len(missing)} columns the model was trained on "
                               f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); is it the right "
                               f"file? It has {', '.join(map(str, list(frame.columns)[:6]))}"
                               f"{', ...' if len(frame.columns) > 6 else ''}")
        if missing:
            raise DescendError(f"{where} has no column {missing[0]!r}, which the model was trained on"
                               + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
                               + "; " + _what_to_do(missing, frame.columns, {c.name for c in self.columns},
                                                    self.gapped_columns()))

    def gapped_columns(self) -> set[str]:
        """The input columns training had empty cells in: the model learned what an empty cell there means (a
        was-missing flag, a "(missing)" level); in any other column an empty cell is filled in."""
        owner = self._owners()
        gapped = {owner[spec.name] for spec in self.numeric if spec.flag}
        return gapped | {owner[spec.name] for spec in self.categorical if MISSING in spec.levels}

    def filled_cells(self, frame: pd.DataFrame) -> dict[str, int]:
        """Per input column training had no empty cells in, how many rows of `frame` have it empty (where it has
        some): those rows get the training median, or no level, in its place."""
        gapped, counts = self.gapped_columns(), {}
        for column in self.columns:
            if column.name in gapped:
                continue
            nums, cats = derive(column, frame[column.name])
            empty = pd.concat([v.isna() for v in [*nums.values(), *cats.values()]], axis=1).any(axis=1)
            if empty.any():
                counts[column.name] = int(empty.sum())
        return counts

    def filled_with(self, name: str) -> str:
        """What stands in for an empty cell of input column `name` that training never had empty."""
        owner = self._owners()
        numbers = [spec for spec in self.numeric if owner[spec.name] == name]
        if not numbers:
            return "no level: the column adds nothing to their predictions"
        if len(numbers) > 1:
            return "the training medians of its parts"
        median = numbers[0].median
        kind = next(c.kind for c in self.columns if c.name == name)
        truth = f" ({'true' if median else 'false'})" if kind == "boolean" and median in (0.0, 1.0) else ""
        return f"the training median {median:g}{truth}"

    def transform(self, frame: pd.DataFrame,
                  key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """Number matrix (float32), category index matrix (int64) and, per feature, how many unseen levels; `key`:
        the key statistic's features to use (rows x features: the training rows' out-of-fold ones), else from every
        training row."""
        nums, cats = {}, {}
        for column in self.columns:
            n, c = derive(column, frame[column.name])
            nums.update(n)
            cats.update(c)
        if self.key is not None:
            values = self.key.values(frame) if key is None else key
            nums.update({name: pd.Series(values[:, j], index=frame.index) for j, name in enumerate(self.key.names)})
        blocks = []
        for spec in self.numeric:
            values = nums[spec.name]
            blocks.append(((values.fillna(spec.median) - spec.mean) / spec.std).to_numpy())
            if spec.flag:
                blocks.append(values.isna().to_numpy(dtype=float))
        index, unseen = [], {}
        for spec in self.categorical:
            codes, count = self._codes(spec, cats[spec.name])
            index.append(codes)
            if count:
                unseen[spec.name] = count
        x_num = np.stack(blocks, axis=1).astype(np.float32) if blocks else np.zeros((len(frame), 0), np.float32)
        x_cat = np.stack(index, axis=1).astype(np.int64) if index else np.zeros((len(frame), 0), np.int64)
        return x_num, x_cat, unseen

    @staticmethod
    def _codes(spec: Categorical, values: pd.Series) -> tuple[np.ndarray, int]:
        lookup = {level: i + 1 for i, level in enumerate(spec.levels)}
        missing_code = lookup.get(MISSING, 0)
        codes = np.array([missing_code if v is None else lookup.get(v, 0) for v in values], dtype=np.int64)
        unseen = int(sum(1 for v in values if v is not None and v not in lookup))
        return codes, unseen

    def feature_positions(self) -> dict[str, list[int]]:
        """For each input column, the places of the features made from it in the model's input matrix (numbers,
        was-missing flags, then category indices): what permuting or judging one column touches. A feature is
        named after its column, or after its date or time-of-day column plus a suffix (see `derive`)."""
        positions, place, owner = {c.name: [] for c in self.columns}, 0, self._owners()
        for spec in self.numeric:
            width = 2 if spec.flag else 1
            positions[owner[spec.name]] += list(range(place, place + width))
            place += width
        for offset, spec in enumerate(self.categorical):
            positions[owner[spec.name]].append(place + offset)
        return positions

    def _owners(self) -> dict[str, str]:
        """Each feature's input column: its own name, its date or time-of-day column's (plus a suffix), or the
        key statistic's column."""
        names = {c.name for c in self.columns}
        derived = [c.name for c in self.columns if c.kind in ("date", "datetime", "timeofday")]
        statistic = {name: self.key.column for name in self.key.names} if self.key is not None else {}

        def owner(feature: str) -> str:
            if feature in statistic:
                return statistic[feature]
            return feature if feature in names else next(d for d in derived if feature.startswith(f"{d}_"))

        return {spec.name: owner(spec.name) for spec in [*self.numeric, *self.categorical]}

    def bounds(self) -> list[list[float | None]]:
        """Per number input column, the standardized training range the networks clip it to ([None, None]: not
        clipped, for a date's running time and the was-missing flags)."""
        out: list[list[float | None]] = []
        for spec in self.numeric:
            out.append([(spec.low - spec.mean) / spec.std, (spec.high - spec.mean) / spec.std] if spec.clip
                       else [None, None])
            if spec.flag:
                out.append([None, None])
        return out

    def running_times(self) -> list[int]:
        """Positions, among the number input columns (as `bounds` lists them), of the dates' running times."""
        out, position = [], 0
        for spec in self.numeric:
            if not spec.clip:
                out.append(position)
            position += 1 + spec.flag
        return out

    def bins(self) -> list[list[float]]:
        """Per number input column, the standardized edges of its quantile bins (none for a was-missing flag or a
        number with a single value)."""
        out: list[list[float]] = []
        for spec in self.numeric:
            out.append([(e - spec.mean) / spec.std for e in spec.edges] if len(spec.edges) > 1 else [])
            if spec.flag:
                out.append([])
        return out

    def furthest_outside(self, numbers: np.ndarray) -> tuple[str, float, Numeric] | None:
        """Of standardized number inputs (rows of the model's first numeric_width columns), the feature whose value
        lies furthest outside its training range, measured in widths of that range: its name, that value in the
        data's units and its statistics; None when every value lies within."""
        best, place = None, 0
        for spec in self.numeric:
            values = numbers[:, place].astype(float) * spec.std + spec.mean
            place += 2 if spec.flag else 1
            beyond = np.maximum(values - spec.high, spec.low - values) / max(spec.high - spec.low, spec.std * 1e-6)
            row = int(np.argmax(beyond))
            if beyond[row] > 0 and (best is None or beyond[row] > best[0]):
                best = (float(beyond[row]), spec.name, float(values[row]), spec)
        return None if best is None else best[1:]

    def far_dates(self, numbers: np.ndarray) -> dict[str, tuple[int, float, Numeric]]:
        """Per date column, of standardized number inputs (as in `furthest_outside`), the rows whose date lies
        further outside the training dates than those dates span, and the furthest date (in years since 2000):
        a trend carried that far rests on nothing training saw. A forecast nearer than that is no news, and dates
        all on one day taught no trend to carry."""
        far, place = {}, 0
        for spec in self.numeric:
            values = numbers[:, place].astype(float) * spec.std + spec.mean
            place += 2 if spec.flag else 1
            beyond = np.maximum(values - spec.high, spec.low - values)
            rows = beyond > spec.high - spec.low
            if not spec.clip and spec.high > spec.low and rows.any():
                far[spec.name.removesuffix(TIME_SUFFIX)] = (int(rows.sum()), float(values[np.argmax(beyond)]), spec)
        return far

    @property
    def numeric_width(self) -> int:
        return sum(2 if spec.flag else 1 for spec in self.numeric)

    def describe(self, networks_clip: bool = True, linear_clips: bool = False) -> list[str]:
        """One line per input column: its kind, why, and what it became; then how numbers and categories are
        encoded (`networks_clip`, `linear_clips`: whether the networks, the linear model clip numbers to the
        training range)."""
        lines = alike_together([(c.name, f"{c.kind} - {c.reason}") for c in self.columns])
        lines += [self.key.describe()] if self.key is not None else []
        lines += alike_together([(spec.name, f"has empty cells -> filled with the training median {spec.median:g}, "
                                  "plus a was-missing flag") for spec in self.numeric if spec.flag])
        for spec in self.categorical:
            if spec.encoding == "embedding":
                lines.append(f"{spec.name}: {len(spec.levels)} levels -> embedding of size {spec.dim}")
        if self.numeric:
            unclipped = " (a date's years since 2000 excepted)" if not all(n.clip for n in self.numeric) else ""
            bins = _bins_phrase(self.numeric)
            if linear_clips:
                how = (f"the networks and the linear model clip them to the training range{unclipped}, as this table "
                       "has dates")
            elif networks_clip:
                how = (f"the networks clip them to the training range{unclipped} (beyond it, a class's logit would "
                       "grow on), the linear model takes them as they are")
            else:
                how = ("the networks and the linear model take them as they are (beyond the training range, a "
                       "straight line carries on)")
            lines.append(f"numbers ({len(self.numeric)}): standardized with the training mean and spread; {how}{bins}")
        if self.categorical:
            lines.append(f"categories ({len(self.categorical)}): one-hot up to {MAX_ONEHOT_LEVELS} levels, an "
                         f"embedding beyond; empty cells are the level {MISSING!r}; a level unseen in training adds "
                         "nothing")
        return lines

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns], "numeric": [asdict(n) for n in self.numeric],
                "categorical": [asdict(c) for c in self.categorical],
                "key": asdict(self.key) if self.key is not None else None}

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessor":
        return cls([Column(**c) for c in data["columns"]], [Numeric(**n) for n in data["numeric"]],
                   [Categorical(**c) for c in data["categorical"]],
                   KeyStatistic(**data["key"]) if data.get("key") else None)


LISTED = 20   # a table with more columns than this describes columns alike in one line
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def alike_together(described: list[tuple[str, str]]) -> list[str]:
    """'name: description' for each column; beyond LISTED columns, three or more whose descriptions differ only in
    their numbers share one line, each number given as its range (2308 gene columns: one line, not 2308)."""
    if len(described) <= LISTED:
        return [f"{name}: {what}" for name, what in described]
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, what in described:
        groups.setdefault(NUMBER.sub("#", what), []).append((name, what))
    lines = []
    for template, members in groups.items():
        if len(members) < 3:
            lines += [f"{name}: {what}" for name, what in members]
            continue
        names = [name for name, _ in members]
        shown = ", ".join(names[:3]) + f", ..., {names[-1]}" if len(names) > 4 else ", ".join(names)
        ranges = iter([_range(found) for found in zip(*(NUMBER.findall(what) for _, what in members))])
        lines.append(f"{shown} ({len(names)} columns): " + re.sub("#", lambda _: next(ranges), template))
    return lines


def _range(numbers: tuple[str, ...]) -> str:
    low, high = min(numbers, key=float), max(numbers, key=float)
    return low if float(low) == float(high) else f"{low}-{high}"
