"""Search spaces: which settings a study varies and over what range, checked before any trial starts.

A space is a dict from setting name to a range: `Float(low, high, log=)`, `Int(low, high, log=)` or
`Choice([...])`. Shorthands: a `(low, high)` tuple is an Int range when both ends are ints, else a Float range;
a list is a Choice. Optuna draws the values; these objects only name the distribution and validate it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ...core.errors import DescendError, DescendTypeError


@dataclass(frozen=True)
class Float:
    """A real setting drawn from [low, high]; `log=True` draws evenly in log space (learning rates)."""

    low: float
    high: float
    log: bool = False

    def check(self, name: str) -> None:
        for end, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DescendError(f"search space {name!r}: {end} must be a finite number, got {value!r}")
        if self.low > self.high:
            raise DescendError(f"search space {name!r}: low {self.low} > high {self.high}; swap them")
        if self.log and self.low <= 0:
            raise DescendError(f"search space {name!r}: a log range needs low > 0, got {self.low}")

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Int(Float):
    """An integer setting drawn from [low, high] inclusive (widths, depths, batch sizes)."""

    low: int
    high: int

    def check(self, name: str) -> None:
        for end, value in (("low", self.low), ("high", self.high)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise DescendError(f"search space {name!r}: {end} must be an integer, got {value!r}")
        super().check(name)

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Choice:
    """One of a few values (strings, numbers, booleans or None), e.g. a schedule name."""

    options: Sequence[Any]

    def check(self, name: str) -> None:
        if not len(self.options):
            raise DescendError(f"search space {name!r}: a choice needs at least one option")
        bad = [o for o in self.options if not (o is None or isinstance(o, (str, int, float, bool)))]
        if bad:
            raise DescendError(f"search space {name!r}: options must be strings, numbers, booleans or None "
                               f"(storable in a study), got {bad[0]!r}")

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, list(self.options))


Param = Float | Choice  # Int is a Float range of integers


def _coerce(name: str, spec) -> Param:
    if isinstance(spec, (Float, Choice)):
        return spec
    if isinstance(spec, list):
        return Choice(spec)
    if isinstance(spec, tuple) and len(spec) == 2:
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in spec)
        return Int(*spec) if ints else Float(*spec)
    raise DescendTypeError(f"search space {name!r}: expected Float(low, high), Int(low, high), Choice([...]), "
                           f"a (low, high) tuple or a list of options; got {spec!r}")


def parse_space(space) -> dict[str, Param]:
    """Validate a space and return it with shorthands expanded; raise naming the first bad setting."""
    if not isinstance(space, dict):
        raise DescendTypeError(f"space must be a dict of setting name -> range, got {type(space).__name__}")
    if not space:
        raise DescendError("the search space is empty; give at least one setting to vary, e.g. "
                           "{'lr': Float(1e-4, 1e-1, log=True)}")
    parsed = {}
    for name, spec in space.items():
        if not isinstance(name, str) or not name:
            raise DescendError(f"search space names must be non-empty strings, got {name!r}")
        parsed[name] = _coerce(name, spec)
        parsed[name].check(name)
    return parsed


def suggest_all(space: dict[str, Param], trial) -> dict[str, Any]:
    """One value per setting, drawn by the trial's sampler."""
    return {name: param.suggest(trial, name) for name, param in space.items()}
