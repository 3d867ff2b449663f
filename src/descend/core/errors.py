"""Errors a user can cause: ValueError/TypeError subclasses whose message names the thing and what to do; and
warnings shown at the user's own line."""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


class DescendError(ValueError):
    """A bad input or setting that the user can fix; the message says what and where."""


class DescendTypeError(TypeError):
    """An argument of the wrong kind; the message says which and what is accepted."""


_PACKAGE = str(Path(__file__).resolve().parent.parent) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the first line outside descend, the caller's own: a fixed stacklevel points into descend (or past
    the caller, to `sys:1`) as soon as the call path in between changes."""
    frame, level = sys._getframe(1), 2
    while frame is not None and _inside(frame):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _inside(frame) -> bool:
    """Whether a frame runs descend's code: a file of the package, or the __init__ that dataclasses generates
    (file `<string>`) for one of descend's classes, such as fit's settings."""
    code = frame.f_code
    if code.co_filename == "<string>" and code.co_name == "__init__" and "self" in frame.f_locals:
        return type(frame.f_locals["self"]).__module__.startswith("descend.")
    return str(Path(code.co_filename).resolve()).startswith(_PACKAGE)
