"""The watch over the first steps at the sweep's pick: whether the lr silenced the network.

An lr can be high enough to push a ReLU network's units below zero for every input, after which its output is
one constant whatever the input (dead units pass no gradient, so nothing brings them back) and the loss settles at
a constant prediction's. The sweep cannot see this in its curve: the fall to a constant prediction's loss looks like
a valley, and a fresh optimizer state at the pick (whose first AdamW steps move every weight by the full lr) can
kill units the sweep's gradual rise left alive. So after the pick the model's output on a fixed probe batch (the
first training batch's inputs, in eval mode, without gradients) is read at CHECKS steps spaced by powers of two;
an output whose spread over the probe's rows fell to COLLAPSED of its spread at the restart point is a collapse.
The sweep then goes back to the restart point's weights with a lower lr (sweep.py).
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import first_batch

COLLAPSED = 1e-4     # an output spread this small a share of the restart point's is one constant output
CHECKS = 7           # the output is read 1, 2, 4, ..., 2^(CHECKS-1) steps after the pick


def probe_inputs(source, device: torch.device) -> torch.Tensor | None:
    """The first training batch's inputs on `device`, when they are one tensor of at least two rows (else None)."""
    inputs = first_batch(source)[0]
    if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0 or len(inputs) < 2:
        return None
    return inputs.to(device)


def output_spread(model: nn.Module, probe: torch.Tensor) -> float | None:
    """The output's standard deviation over the probe's rows, averaged over its values, in eval mode without
    gradients (no batch statistic or dropout draw changes, every random generator is put back); None when the
    output is not one tensor with a row per probe row."""
    modes = {module: module.training for module in model.modules()}
    devices = [probe.device] if probe.device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            model.eval()
            out = model(probe)
    finally:
        for module, training in modes.items():
            module.train(training)
    if not isinstance(out, torch.Tensor) or out.dim() == 0 or len(out) != len(probe) or not out.is_floating_point():
        return None
    return float(out.detach().flatten(1).double().std(0).mean()) if out.dim() > 1 else float(out.double().std())


def check_due(steps_since_pick: int) -> bool:
    """Whether the watch reads the output after this many steps at the pick: 1, 2, 4, ... up to 2^(CHECKS-1)."""
    n = steps_since_pick
    return 0 < n <= 2 ** (CHECKS - 1) and n & (n - 1) == 0


def collapsed(spread: float | None, reference: float | None) -> bool:
    """Whether an output spread is a collapse to one constant against the restart point's (unknown: never)."""
    return spread is not None and reference is not None and reference > 0 and spread <= COLLAPSED * reference
