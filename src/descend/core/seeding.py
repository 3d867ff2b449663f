"""Seeding torch's random generators for a run, without torch's fixed cost for accelerators this process cannot use."""
from __future__ import annotations

import torch


def _accelerator_usable() -> bool:
    """Whether any device that torch.manual_seed seeds besides the CPU can be used here (CUDA, XPU, MTIA, MPS or a
    registered custom backend)."""
    return (torch.cuda.is_available() or torch.xpu.is_available() or torch.mtia.is_available()
            or torch.backends.mps.is_available() or hasattr(torch, torch._C._get_privateuse1_backend_name()))


def manual_seed(seed: int) -> None:
    """Seed every random generator as torch.manual_seed(seed) does. Where no accelerator can be used, only the CPU
    generator is seeded: torch.manual_seed would also queue seeds for CUDA, XPU and MTIA, each with a formatted
    stack trace (~0.25 ms a call, a sixth of a small fit's set-up), for devices that will never start here."""
    if _accelerator_usable():
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(int(seed))
