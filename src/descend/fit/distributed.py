"""Data-parallel training on torch.distributed (gloo on CPU, nccl on GPU), with the same result as one process.

When a process group is initialized (by torchrun, or by `launch` here), `fit` gives every process a slice of
each global batch: all ranks draw the same shuffled order from the same seed, and rank r takes its contiguous
share of every batch of `batch_size` rows. Each rank's loss is weighted by its share of the rows, gradients
and loss are summed over ranks with one all_reduce per step, and so every rank takes the step a single process
would take on the whole batch, and records the same history. Validation runs on every rank over all its rows,
so validation metrics need no reduction. Only rank 0 shows progress; rank 0 is the one to write files.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import threading
import time
import traceback
from multiprocessing import get_context
from queue import Empty
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from .. import optim
from ..core.errors import DescendError
from ..runs.ranks import world


def check_nproc(nproc: int, rows: int, batch_size: int) -> None:
    """Raise before any process starts when `nproc` processes cannot each get rows of every batch."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise DescendError(f"nproc must be a positive integer, got {nproc!r}")
    if nproc > rows:
        raise DescendError(f"nproc {nproc} is more than the {rows} training rows: every process needs at least "
                           f"one row; use nproc <= {rows}")
    if nproc > batch_size:
        raise DescendError(f"nproc {nproc} is more than batch_size {batch_size}: each batch is split across the "
                           f"processes, so some would idle on every step; use nproc <= {batch_size} or a larger "
                           "batch_size")
    if nproc > (os.cpu_count() or 1):
        raise DescendError(f"nproc {nproc} is more than the {os.cpu_count()} CPUs of this machine: the processes "
                           f"would only wait for each other; use nproc <= {os.cpu_count()}")


class RankShard:
    """This rank's contiguous share of every batch a source yields; `weight` is its share of the last batch
    times the number of ranks, the factor that makes the all-reduced mean equal the whole batch's mean.

    A rank left without rows (a short last batch) gets one row with weight 0: it still joins the all_reduce
    but adds nothing to the gradient."""

    def __init__(self, source, rank: int, size: int):
        self.source, self.rank, self.size = source, rank, size
        self.weight = 1.0

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for batch in self.source:
            n = len(batch[0])
            lo, hi = self.rank * n // self.size, (self.rank + 1) * n // self.size
            self.weight = (hi - lo) * self.size / n
            yield tuple(t[lo:hi] if hi > lo else t[:1] for t in batch)


class DataParallel:
    """Weights each rank's loss by its share of the batch and all-reduces loss and gradients in one call."""

    def __init__(self, shard: RankShard):
        self.shard = shard

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss of this rank's rows, weighted so that the mean over ranks is the whole batch's loss."""
        return loss * self.shard.weight

    def average(self, loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        """Average loss and gradients over ranks (missing gradients count as zero); returns the mean loss."""
        parts = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), device=p.device,
                                                                           dtype=p.dtype) for p in params]
        flat = torch.cat([*parts, loss.detach().reshape(1).to(parts[0].dtype)])
        dist.all_reduce(flat)
        flat /= self.shard.size
        offset = 0
        for p in params:
            if p.grad is None:
                p.grad = torch.empty_like(p)
            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
        return flat[-1]


def _broadcast_from_rank0(model: nn.Module) -> None:
    """Start every rank from rank 0's weights, whatever each process built."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


def check_parallel(optimizer, train_source, size: int, batch_size: int) -> None:
    """Raise when a fit cannot run data-parallel over `size` processes as asked. Every rank runs it before fit's
    first collective call, so a refusal cannot leave the other ranks waiting for this one."""
    if isinstance(optimizer, torch.optim.LBFGS) or (isinstance(optimizer, str)
                                                    and optim.entry(optimizer).needs == "a closure"):
        raise DescendError("optimizer 'lbfgs' re-evaluates the loss inside its step and cannot run data-parallel; "
                           "pick another optimizer or run in one process")
    if isinstance(train_source, DataLoader) and not _same_order_everywhere(train_source):
        raise DescendError("under torch.distributed, pass the training data as tensors, arrays or a Dataset "
                           "(descend shards them itself): a DataLoader that shuffles without a seeded generator "
                           "gives each process a different order")
    check_nproc(size, _rows(train_source), getattr(train_source, "batch_size", None) or batch_size)


def attach(model: nn.Module, train_source, progress):
    """fit's hook: under an initialized process group, shard the training batches (checked by `check_parallel`),
    sync the model and silence progress off rank 0. Returns (train_source, progress, DataParallel or None);
    unchanged without a group."""
    rank, size = world()
    if size == 1:
        return train_source, progress, None
    _broadcast_from_rank0(model)
    shard = RankShard(train_source, rank, size)
    return shard, (progress if rank == 0 else False), DataParallel(shard)


def _same_order_everywhere(loader: DataLoader) -> bool:
    return not isinstance(loader.sampler, RandomSampler) or loader.sampler.generator is not None


def _rows(source) -> int:
    return source.n if hasattr(source, "n") else len(source.dataset)


# ---- launching N local processes -------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive the process that started it (and holds the run folder's lock): on Linux the kernel
    kills it when the parent dies (PR_SET_PDEATHSIG); elsewhere a thread checks every half second."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _run_rank(fn, args, kwargs, rank: int, size: int, port: int, backend: str, results, parent: int) -> None:
    _die_with_parent(parent)
    os.environ.update(DESCEND_LOCK_HOLDER=str(parent),   # the run folder's lock, held by the parent, covers this rank
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=size)
    try:
        out = fn(*args, **kwargs)
        results.put((rank, None, out if rank == 0 else None))
    except DescendError as err:
        results.put((rank, err, None))
    except BaseException:  # anything else comes back as text: its traceback, which may not pickle otherwise
        results.put((rank, RuntimeError(f"process {rank} of {size} failed:\n{traceback.format_exc()}"), None))
    finally:
        dist.destroy_process_group()


def _collect(procs, results) -> Any:
    """Rank 0's return value; the first error any rank reports (or a rank dying silently) is raised."""
    pending, value = set(range(len(procs))), None
    while pending:
        try:
            rank, error, out = results.get(timeout=0.5)
        except Empty:
            dead = [r for r in pending if procs[r].exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"process {dead[0]} exited with code {procs[dead[0]].exitcode} before finishing")
            continue
        if error is not None:
            raise error
        pending.discard(rank)
        value = out if rank == 0 else value
    return value


def launch(fn: Callable, nproc: int, *args, backend: str | None = None, **kwargs) -> Any:
    """Run `fn(*args, **kwargs)` in `nproc` local processes joined in a torch.distributed group on 127.0.0.1
    and return rank 0's result. `fn` must be importable (defined at module level). The backend defaults to
    nccl with one GPU per process when CUDA is available, else gloo. An error in any process stops them all
    and is raised here."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise DescendError(f"nproc must be a positive integer, got {nproc!r}")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl" and nproc > torch.cuda.device_count():
        raise DescendError(f"nproc {nproc} is more than the {torch.cuda.device_count()} GPUs here; use fewer "
                           "processes or backend='gloo'")
    ctx = get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_run_rank, args=(fn, args, kwargs, rank, nproc, port, backend, results, os.getpid()))
             for rank in range(nproc)]
    for proc in procs:
        proc.start()
    try:
        return _collect(procs, results)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
