"""Adam's moments and denormal floats on the CPU.

A first moment whose gradient has become exactly zero (a dead ReLU unit's weights, say) shrinks by beta1 each
step until it reaches a denormal float a few times the smallest (1.4e-45), where rounding to nearest keeps it
for ever (the update subtracts 0.1 x 4e-45, which rounds to 0). Arithmetic on denormals takes a slow path on x86
CPUs, so once a few thousand moments are stuck there, a fused AdamW step over 58,000 weights costs 20x its usual
time (860 us instead of 36 us on the tables' networks). Flushing denormals to zero while the update runs sends
those moments to 0 instead; what they would have added to a weight (under 1e-30 of it) is below float32's
resolution, so the weights come out the same. Only the calling thread's mode is set (torch's own switch), so the
update's other CPU threads, if any, keep the slow path; the mode is restored afterwards.
"""
from __future__ import annotations

import threading

import numpy as np
import torch

# float32's smallest denormal, from its bits: converting 1e-45 from a Python float would give 0 under flushing
_DENORMAL = np.array([1], dtype=np.int32).view(np.float32)[0]
_switched = threading.local()   # .on: a `flushed` block of this thread switched flushing on and is still open


def flushing() -> bool:
    """Whether this thread already flushes denormal floats to zero (the user may have asked torch to)."""
    return bool(_DENORMAL * np.float32(1.0) == 0)   # flushed inputs or outputs read as 0


class _Flushing:
    """The context `flushed` returns: a plain class, since the update enters it on every step (a generator-based
    context manager cost ~3 us a step there, as much as a small model's fused update). A block inside one that
    switched flushing on (fit's step around the flat update's per-group blocks) knows so without asking the
    floating-point unit (or torch.device.type, 0.7 us)."""

    __slots__ = ("switch",)

    def __init__(self, device: torch.device):
        self.switch = (not getattr(_switched, "on", False) and device.type == "cpu"
                       and not flushing())   # an enclosing block or the user flushes already

    def __enter__(self) -> None:
        if self.switch:
            torch.set_flush_denormal(True)
            _switched.on = True

    def __exit__(self, *exc) -> None:
        if self.switch:
            torch.set_flush_denormal(False)
            _switched.on = False


def flushed(device: torch.device) -> _Flushing:
    """Flush denormals to zero inside the block for tensors on the CPU, then put the mode back as it was."""
    return _Flushing(device)
