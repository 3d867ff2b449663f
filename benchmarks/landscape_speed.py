"""descend landscape's 2-D slice against the loop a user would write by hand, on a saved tables run.

The hand-written loop is the usual recipe: for each grid point copy weights + a*d1 + b*d2 into the model's
parameters and run the model on the sample, under torch's default threads and under one thread. descend's slice
evaluates the same points through torch.func.functional_call on one thread (landscape's default). Each variant
gets the same directions and the same rows; the values are checked to agree; the table gives seconds per grid
point and the ratio to descend, interleaved over rounds (the machine is shared: read the ratios, not the times).

    descend demo --out runs/bikeshare-demo      # once: the Bikeshare run the bar is measured on
    PYTHONPATH=src python benchmarks/landscape_speed.py runs/bikeshare-demo bikeshare.csv [--steps 11] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from descend.apps.landscape import model_objective, random_directions, slice_2d, weights_of
from descend.apps.landscape.of_run import Settings, sample_rows
from descend.apps.tabular import read_table
from descend.apps.tabular.run import TabularRun
from descend.fit import losses
from descend.fit.threads import using


def by_hand(run: TabularRun, x, y, directions, steps: int, threads: int | None) -> torch.Tensor:
    """The recipe from blog posts: write each grid point into the model's parameters, evaluate, restore."""
    loss_fn = losses.get(run.target.loss)
    params = dict(run.model.named_parameters())
    saved = {name: p.detach().clone() for name, p in params.items()}
    offsets = torch.linspace(-1, 1, steps, dtype=torch.float64)
    values = torch.empty(steps, steps, dtype=torch.float64)
    with torch.no_grad(), using(threads):
        for i, a in enumerate(offsets):
            for j, b in enumerate(offsets):
                for name, p in params.items():
                    p.copy_(saved[name] + float(a) * directions[0][name] + float(b) * directions[1][name])
                total = 0.0
                for start in range(0, len(x), 1024):
                    total += float(loss_fn(run.model(x[start:start + 1024]), y[start:start + 1024])) * \
                        len(x[start:start + 1024]) / len(x)
                values[i, j] = total
        for name, p in params.items():
            p.copy_(saved[name])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("data")
    parser.add_argument("--steps", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run = TabularRun.load(args.run_dir)
    settings = Settings(steps=args.steps)
    frame = read_table(args.data)
    x, y = sample_rows(run, frame, settings, lambda _: None)
    objective, rows = model_objective(run.model, losses.get(run.target.loss), x, y), len(x)
    weights = weights_of(run.model)
    directions = random_directions(weights, 2, seed=settings.seed)
    variants = {"descend (functional_call, 1 thread)":
                lambda: slice_2d(objective, weights, directions, 1.0, args.steps).losses,
                "by hand, torch's default threads": lambda: by_hand(run, x, y, directions, args.steps, None),
                "by hand, 1 thread": lambda: by_hand(run, x, y, directions, args.steps, 1)}
    times = {name: [] for name in variants}
    results = {}
    for _ in range(args.rounds):
        for name, variant in variants.items():
            started = time.perf_counter()
            results[name] = variant()
            times[name].append(time.perf_counter() - started)
    reference = results[next(iter(variants))]
    for name, values in results.items():
        torch.testing.assert_close(values, reference, rtol=1e-4, atol=1e-6)
    points = args.steps ** 2
    ours = statistics.median(times[next(iter(variants))]) / points
    print(f"{points} grid points on {rows} rows, {sum(w.numel() for w in weights.values())} weights, "
          f"torch's default threads {torch.get_num_threads()}, median of {args.rounds} rounds")
    print(f"{'variant':40s} {'ms/point':>9s} {'x descend':>10s}")
    for name, spent in times.items():
        per_point = statistics.median(spent) / points
        print(f"{name:40s} {per_point * 1e3:9.2f} {per_point / ours:10.2f}")


if __name__ == "__main__":
    main()
