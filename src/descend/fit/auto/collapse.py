"""The watch over the first steps at the sweep's pick: whether the lr silenced the network.

An lr can be high enough to push a ReLU network's units below zero for every input, after which its output is
one constant whatever the input (dead units pass no gradient, so nothing brings them back) and the loss settles at
a constant prediction's. The sweep cannot see this in its curve: the fall to a constant prediction's loss looks like
a valley, and a fresh optimizer state at the pick (whose first AdamW steps move every weight by the full lr) can
kill units the sweep's gradual rise left alive. So after the pick the model is read on a fixed probe batch (the
inputs of the training data's first batch-sized rows, in eval mode, without gradients) at CHECKS steps spaced by powers of two. It has
collapsed when its output's spread over the probe's rows fell to COLLAPSED of its spread at the restart point, or
when SILENT of the units of one of its nn.ReLU layers output zero for every probe row (at most a tenth of its width
left) where fewer did at the restart point. The sweep then goes back to the restart point's weights with a lower lr
(sweep.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...core.modes import Modules
from ...doctor.instruments import active_units
from ..data import peek

COLLAPSED = 1e-4     # an output spread this small a share of the restart point's is one constant output
SILENT = 0.9         # a ReLU layer with this share of its units silent on every probe row has lost its width
MIN_UNITS = 4        # narrower ReLU layers are not read for silence
CHECKS = 7           # the model is read 1, 2, 4, ..., 2^(CHECKS-1) steps after the pick
PROBE_ROWS = 64      # the probe's rows when the source has no batch size


@dataclass(frozen=True)
class Reading:
    """The output's spread over the probe's rows (None: not one tensor with a row per probe row) and the largest
    share of silent units in any nn.ReLU layer (0 without one)."""

    spread: float | None
    silent: float


def probe_inputs(source, device: torch.device) -> torch.Tensor | None:
    """The inputs of the training data's first batch-sized rows on `device`, read by `peek` (a stream is not
    iterated), when they are one tensor of at least two rows; else None (and no watch)."""
    batch = peek(source, getattr(source, "batch_size", None) or PROBE_ROWS)
    inputs = batch[0] if isinstance(batch, (tuple, list)) and batch else None
    if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0 or len(inputs) < 2:
        return None
    return inputs.to(device)


def read(modules: Modules, probe: torch.Tensor) -> Reading:
    """The model's Reading on the probe, in eval mode without gradients (quiet_forward); `modules` are the model's,
    collected once for all of a run's reads."""
    silent: list[float] = []
    relus = [m for m in modules.all if isinstance(m, nn.ReLU)]
    out = quiet_forward(modules, probe, relus, lambda _m, out: silent.append(silent_share(out)))
    return Reading(spread(out, len(probe)), max(silent, default=0.0))


def quiet_forward(modules: Modules, inputs: torch.Tensor, watched, seen) -> object:
    """The model's output on `inputs` in eval mode without gradients, each of the `watched` modules' outputs
    passed to `seen(module, output)`: no batch statistic or dropout draw changes, every random generator is put
    back, each module's mode comes back."""
    modes = modules.flags()
    hooks = [m.register_forward_hook(lambda m, _i, out: seen(m, out)) for m in watched]
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            modules.train(False)
            return modules.model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
        modules.put(modes)


def spread(out, rows: int) -> float | None:
    """The standard deviation over rows of each output value, averaged over the values."""
    if not isinstance(out, torch.Tensor) or out.dim() == 0 or len(out) != rows or not out.is_floating_point():
        return None
    return float(out.detach().double().reshape(rows, -1).std(0).mean())


def silent_share(out: torch.Tensor) -> float:
    """The share of a ReLU output's units (features or channels: dimension 1) that are zero for every row."""
    if out.dim() < 2 or out.shape[1] < MIN_UNITS:
        return 0.0
    active = active_units(out)   # the doctor's reading: one reduction, no copy
    return 1.0 - int(active.sum()) / active.numel()   # the count over the width: the mean of 0/1, without a cast


def check_due(steps_since_pick: int) -> bool:
    """Whether the watch reads the model after this many steps at the pick: 1, 2, 4, ... up to 2^(CHECKS-1)."""
    n = steps_since_pick
    return 0 < n <= 2 ** (CHECKS - 1) and n & (n - 1) == 0


def collapsed(now: Reading, restart: Reading) -> str | None:
    """How the model collapsed since the restart point, in words; None when it did not."""
    if now.spread is not None and restart.spread and now.spread <= COLLAPSED * restart.spread:
        return f"its output was one constant for every input (spread {now.spread:.1e}, {restart.spread:.1e} at the restart point)"
    if now.silent >= SILENT > restart.silent:
        return f"{now.silent:.0%} of the units of a ReLU layer output zero for every input ({restart.silent:.0%} at the restart point)"
    return None
