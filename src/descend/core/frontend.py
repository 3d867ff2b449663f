"""Which front end runs descend in this process: Python calls (the library) or the `descend` command. Advice that
differs between them (a `descend fit` flag, or a fit keyword and a new run_dir) reads `on_command_line()`; the
command sets it for as long as it runs, so a Python session that also calls `descend.cli.main` is not changed."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

_COMMAND = {"running": False}


def on_command_line() -> bool:
    """True while the `descend` command runs what it was asked; False for Python calls."""
    return _COMMAND["running"]


@contextmanager
def command_line() -> Iterator[None]:
    """Mark what runs inside as started by the `descend` command (restored after, even on an error)."""
    before, _COMMAND["running"] = _COMMAND["running"], True
    try:
        yield
    finally:
        _COMMAND["running"] = before
