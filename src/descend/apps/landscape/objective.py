"""The loss as a function of the weights: `objective(params) -> scalar`, on a fixed data sample, batched."""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch.func import functional_call

from ...core.errors import DescendError
from ...fit import threads as threads_lib

Params = Mapping[str, torch.Tensor]
Objective = Callable[[Params], torch.Tensor]


def model_objective(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    inputs: torch.Tensor, targets: torch.Tensor, batch_size: int = 1024,
                    threads: int | str | None = 1) -> Objective:
    """Mean of `loss_fn` (a mean-reducing loss) over the fixed sample `inputs, targets`, evaluated `batch_size`
    rows at a time so that memory stays bounded however large the sample is; buffers stay the model's own.

    `threads` is torch's CPU thread count while it evaluates: 1 by default, since a landscape is thousands of
    small passes and on a busy machine every extra thread waits for a core (the Bikeshare model's pass took 36 ms
    on one thread and 290 ms on two on a loaded 2-core box; a small MLP's 30-80x slower), and one count keeps
    the numbers reproducible; "auto" is fit's policy, None torch's own setting. The objective's `threads`
    attribute carries the count to the Hessian-vector products, whose backward passes run outside the call."""
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise DescendError(f"landscape sample: inputs have {len(inputs)} rows and targets {len(targets)}; "
                           "pass the same, non-zero number of rows")
    if batch_size < 1:
        raise DescendError(f"batch_size={batch_size}: pass a positive number of rows per batch")
    threads_lib.check(threads)
    buffers = dict(model.named_buffers())
    rows = len(inputs)
    size = sum(p.numel() for p in model.parameters())
    count = threads_lib.choose(threads, size, min(rows, batch_size), inputs.device)

    def objective(params: Params) -> torch.Tensor:
        total = 0.0
        with threads_lib.using(count):
            for start in range(0, rows, batch_size):
                x, y = inputs[start:start + batch_size], targets[start:start + batch_size]
                out = functional_call(model, {**buffers, **params}, (x,))
                total = total + loss_fn(out, y) * (len(x) / rows)
        return total

    objective.threads = count
    return objective


def weights_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's trainable parameters by name, detached copies (the landscape never changes the model)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
