"""`fit_in_processes`: one `fit` data-parallel in local processes (see distributed.launch)."""
from __future__ import annotations

import copy
from typing import Callable

import safetensors.torch

from . import fit
from .distributed import launch


def _fit_rank(arguments: dict, complete: Callable[[dict], dict] | None):
    """One process's fit on its own copy of the arguments (torch hands tensors to a new process as shared memory,
    so without the copy every process would update the same weights). Rank 0's result comes back with the weights
    as safetensors bytes, since a tensor would again travel as a handle into memory that is gone once this exits."""
    arguments = copy.deepcopy(arguments)
    result = fit(**(complete(arguments) if complete else arguments))
    weights = safetensors.torch.save({k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()})
    result.model = None
    return result, weights


def fit_in_processes(nproc: int, arguments: dict, complete: Callable[[dict], dict] | None = None):
    """`descend.fit(**arguments)` data-parallel in `nproc` local processes. Returns rank 0's FitResult with the
    trained weights copied into the caller's model (each process trains its own copy). The arguments travel to
    the processes by pickling, so what cannot (lambdas, such as a schedule's shape) is left out and added back in
    each process by `complete(arguments)`, an importable function."""
    model = arguments["model"]
    result, weights = launch(_fit_rank, nproc, arguments, complete)
    model.load_state_dict(safetensors.torch.load(weights))
    result.model = model
    return result
