"""Run directories under torch.distributed: rank 0 checks and writes, every process learns what it decided.

Every process of a data-parallel fit calls these at the same points (they are collectives); without a process
group they reduce to the single-process case.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import torch.distributed as dist

from ..core.errors import DescendError

T = TypeVar("T")


def world() -> tuple[int, int]:
    """(rank, number of processes) of the current process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 (and without torch.distributed): the process that prints and writes files."""
    return world()[0] == 0


def same_everywhere(value, what: str) -> None:
    """Raise on every process when `value` (e.g. the run_dir) is not the same on all of them."""
    size = world()[1]
    if size == 1:
        return
    values: list = [None] * size
    dist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        each = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
        raise DescendError(f"{what} differs between processes ({each}); pass the same value on every process: "
                           "descend writes the run directory from rank 0 only")


def agreed(decide: Callable[[], T]) -> T:
    """`decide()` run on rank 0 only; every process gets its result, or raises its error."""
    rank, size = world()
    if size == 1:
        return decide()
    if rank != 0:
        outcome: list = [None]
        dist.broadcast_object_list(outcome, src=0)
        value, error = outcome[0]
        if error is not None:
            raise DescendError(f"process 0 refused the run directory: {error}")
        return value
    try:
        value = decide()
    except Exception as err:
        dist.broadcast_object_list([(None, str(err) or type(err).__name__)], src=0)
        raise
    dist.broadcast_object_list([(value, None)], src=0)
    return value


def gather(value) -> list | None:
    """Every process's `value`, in rank order, on rank 0 (None elsewhere); `[value]` without a process group."""
    rank, size = world()
    if size == 1:
        return [value]
    out = [None] * size if rank == 0 else None
    dist.gather_object(value, out, dst=0)
    return out
