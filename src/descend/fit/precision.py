"""fit's `precision=` and `compile=`: how the forward pass runs, with the weights and optimizer left in float32.

"bf16" and "fp16" run the forward pass and loss under torch.autocast (matrix products in the low precision,
reductions in float32). "fp16" also scales the loss with a GradScaler so small gradients do not vanish; torch
autocasts float16 on CUDA only, so on CPU it is refused in favour of "bf16". `compile=True` runs the model
through torch.compile; whether a compiler works here is tried once, on a tiny function, before the run starts.
"""
from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn

from ..core.errors import DescendError
from ..core.loop import Callback, never
from ..optim.base import step_unwrapped

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_FULL_PRECISION = contextlib.nullcontext()   # reusable: entering it does nothing


def check(precision, compile, device: torch.device) -> None:
    """Refuse an unknown precision, fp16 off CUDA, a non-bool compile, and compile where no compiler works."""
    if precision not in PRECISIONS:
        raise DescendError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise DescendError(f"precision='fp16' needs a CUDA device (torch autocasts float16 there only), but the run "
                           f"is on {device}; use precision='bf16' on this device")
    if not isinstance(compile, bool):
        raise DescendError(f"compile must be True or False, got {compile!r}")
    if compile:
        problem = _compiler_problem(device.type)
        if problem:
            raise DescendError(f"compile=True: torch.compile cannot build code on this machine ({problem}); install "
                               f"a C++ compiler (gcc or clang) for CPU, or Triton for CUDA, or use compile=False")


@functools.lru_cache(maxsize=None)
def _compiler_problem(device_type: str) -> str:
    """'' when torch.compile builds and runs a tiny function on this device type, else the first line of why not."""
    try:
        torch._dynamo.reset()
        square = torch.compile(lambda x: x * x + 1, fullgraph=True)
        square(torch.ones(4, device=device_type))
        return ""
    except Exception as err:   # noqa: BLE001 - any failure means no working compiler; say which
        return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


class Precision(Callback):
    """The forward pass's autocast and, for fp16, the gradient scaler; a callback so that a checkpoint keeps the
    scaler's state (its scale and growth count) and a resumed run scales as the uninterrupted one would."""

    needs_sync = never

    def __init__(self, name: str, device: torch.device):
        self.name, self.device, self.dtype = name, device, PRECISIONS[name]
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self):
        """The context the forward pass and loss run in (in float32 one shared do-nothing context: every step
        enters it)."""
        if self.dtype is None:
            return _FULL_PRECISION
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true size before they are measured or clipped (fp16 only)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            step_unwrapped(optimizer)
            return
        self.scaler.step(optimizer)   # skips the update when the scaled gradients overflowed
        self.scaler.update()

    def state_dict(self) -> dict:
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None:
            self.scaler.load_state_dict(state)


def compiled(model: nn.Module, compile: bool) -> nn.Module:
    """The module the steps call: `model` itself, or torch.compile's wrapper around it (sharing its parameters)."""
    return torch.compile(model) if compile else model
