"""Is fit's default run off the grid's best for want of training, or for how it generalizes?

For each of lr_auto_quality's workloads and seeds 0-2: fit's defaults (optimizer="auto", no validation data) and
AdamW + cosine at the grid's best lr (the best 3-seed mean of a grid lr_auto_quality.py --save wrote), each scored
on the workload's held-out data and by its training loss at the end (the mean batch loss over the last tenth of
the run, where a cosine's lr is near 0). A pick that ends with a higher held-out score AND a higher training loss
trained too little (an optimization gap, which a reading of the training curve can in principle see); one that
ends worse held out with a LOWER training loss fit the training rows harder than the grid's best did (a
generalization gap, which no training-loss reading can see, and keeping the best of evaluations without
validation data cannot reach).

    PYTHONPATH=src:. python benchmarks/lr_auto_train_gap.py --grid grid.json [--tasks digits,bikeshare]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import descend as ds
from benchmarks.lr_auto_quality import GRID, SEEDS, TASKS

TAIL = 10   # the training loss at the end: the mean batch loss over the last 1/TAIL of the run's steps


def run(task, seed: int, **settings) -> tuple[float, float, float | None]:
    """(held-out score, training loss at the end, auto's lr or None) of one fit with `settings`."""
    build, batch, steps, decay, score = task
    problem = build(seed)
    result = ds.fit(problem.model, problem.train, loss=problem.loss, max_steps=steps, batch_size=batch,
                    weight_decay=decay, seed=seed, progress=False, doctor=False, **settings)
    late = float(np.mean([record["loss"] for record in result.history[-max(1, steps // TAIL):]]))
    chose = result.choice
    return (score or problem.metric)(problem.model), late, None if chose is None else chose.lr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", required=True, help="the grid's runs, as lr_auto_quality.py --save wrote them")
    parser.add_argument("--tasks", help="comma-separated names' starts (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    saved = json.loads(Path(args.grid).read_text())
    wanted = [name for name in TASKS if not args.tasks or any(name.startswith(t) for t in args.tasks.split(","))]
    print("| workload | seed | grid's best lr | auto's lr | held-out: auto / grid's best | training loss at the end: "
          "auto / grid's best | the gap is |")
    print("|---|---|---|---|---|---|---|")
    for name in wanted:
        scores = np.array(saved[name])[:, :, 0]
        best_lr = GRID[int(np.argmin(scores.mean(axis=1)))]
        for seed in SEEDS:
            held, late, _ = run(TASKS[name], seed, optimizer="adamw", lr=best_lr, schedule=ds.schedules.cosine())
            auto_held, auto_late, lr = run(TASKS[name], seed)
            ratio, train = auto_held / held, auto_late / late
            kind = "none (within 5%)" if ratio <= 1.05 else ("optimization" if train > 1 else "generalization")
            picked = "line search" if lr is None else f"{lr:.2g}"
            print(f"| {name} | {seed} | {best_lr:.1e} | {picked} | {ratio:.3f} | {train:.3f} | {kind} |", flush=True)


if __name__ == "__main__":
    main()
