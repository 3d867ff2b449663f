"""Python calls (cProfile) and torch operations (aten ops, counted by a dispatch mode) of one default fit on
loop_overhead.py's MLP and data: counts that a busy machine does not move, to check what a change adds to fit's
fixed per-run work (issue 14). One fit warms up (imports, first-call caches), then one is profiled and one counted.
Usage: python benchmarks/fit_calls.py
"""
from __future__ import annotations

import cProfile
import pstats

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import descend as ds
from loop_overhead import BATCH, D, EPOCHS, N, make_model


class OpCount(TorchDispatchMode):
    """Counts every aten operation dispatched while it is open."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X, y = torch.randn(N, D), torch.randn(N)

    def one_fit():
        ds.fit(make_model(), (X, y), loss="mse", batch_size=BATCH, max_epochs=EPOCHS, progress=False)

    one_fit()
    profile = cProfile.Profile()
    profile.runcall(one_fit)
    stats = pstats.Stats(profile)
    doctor = sum(v[1] for k, v in stats.stats.items() if "descend/doctor/" in k[0])
    with OpCount() as count:
        one_fit()
    print(f"Python calls: {stats.total_calls} ({stats.prim_calls} primitive), {doctor} of them in descend/doctor; "
          f"aten ops: {count.ops}")


if __name__ == "__main__":
    main()
