"""How many CPU threads torch uses for a run: one for small work, where more threads only add waiting.

Splitting a small matrix product or an optimizer step over threads costs more in hand-offs than it saves, and on a
busy machine each extra thread waits for a core: benchmarks/threads.py measured training steps 1.5-40x slower with
torch's default threads than with one below about SMALL_WORK multiply-adds per step. `threads="auto"` uses one
thread below that and leaves torch's setting alone above it; a number sets it for the run. Either way the previous
setting is restored when the run ends.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..core.errors import DescendError

SMALL_WORK = 2e7   # multiply-adds per step (parameters x batch rows) under which one thread is faster


def check(threads) -> None:
    """Refuse anything but "auto", None or a positive int."""
    if threads in ("auto", None) or (isinstance(threads, int) and not isinstance(threads, bool) and threads > 0):
        return
    raise DescendError(f"threads must be 'auto', None (torch's setting) or a positive int, got {threads!r}")


def choose(threads, parameters: int, batch_rows: int, device: torch.device) -> int | None:
    """The thread count for a run, or None to leave torch's own: see the module notes."""
    if threads is None or device.type != "cpu" and threads == "auto":
        return None
    if threads == "auto":
        return 1 if parameters * batch_rows < SMALL_WORK else None
    return threads


@contextlib.contextmanager
def using(count: int | None) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to `count` (None: unchanged), then restore it."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
