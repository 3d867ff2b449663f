"""Errors a user can cause: ValueError/TypeError subclasses whose message names the thing and what to do."""
from __future__ import annotations


class DescendError(ValueError):
    """A bad input or setting that the user can fix; the message says what and where."""


class DescendTypeError(TypeError):
    """An argument of the wrong kind; the message says which and what is accepted."""
