"""Does fit's default run end better when it is handed validation data? (auto's KeepBest, fit/auto/best.py)

lr_auto_quality's workloads (their data, model, batch size, step budget and held-out score), each trained with
fit's defaults on the same 85% of its training rows (shuffled once, the same for every seed): once without
validation data (the last weights, as lr_auto_quality measures) and once with the other 15% given as val=, where
auto's run ends with the weights of its lowest val_loss evaluation when they beat the last weights on those rows
beyond their noise. Both see the same batches and steps, so a difference is the weights the run ends with.

    PYTHONPATH=src:. python benchmarks/keep_best.py [--tasks bikeshare,heavy] [--seeds 3]
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch

import descend as ds
from benchmarks.lr_auto_quality import TASKS

VALIDATION_SHARE = 0.15


def split(train: tuple) -> tuple[tuple, tuple]:
    """(training rows, validation rows): a fixed shuffle first, since a workload's rows may come sorted by class."""
    x, y = train
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(12345))
    x, y, cut = x[order], y[order], int((1 - VALIDATION_SHARE) * len(x))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def run(task, seed: int, with_validation: bool) -> tuple[float, str]:
    """(held-out score, the end of the stop reason) of fit's defaults on the 85%, with or without val=."""
    build, batch, steps, decay, score = task
    problem = build(seed)
    train, val = split(problem.train)
    result = ds.fit(problem.model, train, loss=problem.loss, max_steps=steps, batch_size=batch, weight_decay=decay,
                    seed=seed, progress=False, doctor=False, val=val if with_validation else None)
    final = (score or problem.metric)(problem.model)
    restored = "restored" if "holds the weights" in result.stop_reason else "last"
    return (final if math.isfinite(final) else math.inf), restored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", help="comma-separated names' starts (default: all)")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| workload | no val=: last weights | val= (15% of the rows) | ratio | weights kept (per seed) |")
    print("|---|---|---|---|---|")
    for name, task in TASKS.items():
        if args.tasks and not any(name.startswith(t) for t in args.tasks.split(",")):
            continue
        without = [run(task, seed, False)[0] for seed in range(args.seeds)]
        with_val = [run(task, seed, True) for seed in range(args.seeds)]
        before, after = np.mean(without), np.mean([s for s, _ in with_val])
        print(f"| {name} | {before:.4g} | {after:.4g} | {after / before:.3f} | "
              f"{', '.join(kept for _, kept in with_val)} |", flush=True)


if __name__ == "__main__":
    main()
