"""Errors a user can cause: ValueError/TypeError subclasses whose message names the thing and what to do."""
from __future__ import annotations

import numbers


class DescendError(ValueError):
    """A bad input or setting that the user can fix; the message says what and where."""


class DescendTypeError(TypeError):
    """An argument of the wrong kind; the message says which and what is accepted."""


def plural(noun: str) -> str:
    """English plural of a setting's name: "loss" -> "losses", "metric" -> "metrics"."""
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def check_choice(kind: str, name: str, valid) -> str:
    """Return `name` lower-cased if it is one of `valid`, else raise naming the valid choices."""
    key = str(name).lower()
    if key not in valid:
        raise DescendError(f"unknown {kind} {name!r}; valid {plural(kind)}: {', '.join(sorted(valid))}")
    return key


def check_positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """Return `value` as an int if it is a whole number >= 1 (None passes when `allow_none`), else raise naming it.

    Accepts numpy integers too; refuses bools and floats, since a count given as 2.5 is a mistake, not a request."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DescendError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
