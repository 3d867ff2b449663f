"""Is the valley auto's sweep reads bigger than the batches' noise? And would demanding it help?

For each sweep (fit's defaults stopped after it), the valley lr_find's rule finds (up to the settled lowest point)
falls by log(top / bottom) of the smoothed loss. The noise of a smoothed value is estimated from the winsorized
log batch losses the sweep's average takes in: the robust spread (MAD) of their step-to-step differences over
sqrt(2), times sqrt((1 - b) / (1 + b)) for an exponential average of weight b. A valley whose fall is under Z x
sqrt(2) of that (two smoothed points, Z standard errors) would be read as noise, and the run would take the
optimizer's calibrated default like a curve without a valley. Scored as lr_reading_rules.py does: the grid's
held-out loss interpolated at each pick, against the grid's best; on generated problems (after_sweep.py's rows)
and on lr_auto_quality.py's workloads (its saved grid; seeds 0-2 against their own grid runs, 3-5 against the
seeds' mean).

    PYTHONPATH=src:. python benchmarks/valley_noise.py --rows after_sweep_rows.json --grid quality_grid.json [--z 2]
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np
import torch

import descend as ds
from benchmarks.after_sweep import AfterSweep
from benchmarks.lr_auto_quality import TASKS
from benchmarks.lr_reading_rules import at, problem
from descend.fit.auto.sweep import MEMORY, OUTLIER, SMOOTHING, RobustAverage
from descend.fit.lr_find import NO_VALLEY, read, valley

DEFAULT_LR = 1e-3


def sweep_curve(history: list[dict]) -> tuple[list[float], list[float], list[float]]:
    """(lrs, raw batch losses, smoothed losses) of the sweep's steps."""
    steps = [r for r in history if r.get("sweep") and "smoothed" in r]
    return [r["lr"] for r in steps], [r["loss"] for r in steps], [r["smoothed"] for r in steps]


def smoothed_noise(losses: list[float]) -> float:
    """The standard error of one smoothed log loss, from the winsorized log losses the average takes in."""
    average, logs = RobustAverage(), []
    for loss in losses:
        value = math.log(max(loss, 1e-30))
        logs.append(min(value, math.log(OUTLIER * average.value())) if average.count else value)
        average.add(loss)
    steps = np.diff(logs)
    spread = 1.4826 * np.median(np.abs(steps - np.median(steps))) / math.sqrt(2)
    return spread * math.sqrt((1 - SMOOTHING) / (1 + SMOOTHING))


def picks(lrs, losses, smoothed, z: float) -> tuple[float, float, float | None]:
    """(today's pick, the pick when a valley must beat the noise, the valley's fall over its noise)."""
    lr, rule = read(lrs, smoothed, settled_from=MEMORY - 1)
    fallback = min(DEFAULT_LR, lrs[-1])
    if rule.endswith(NO_VALLEY):
        return fallback, fallback, None
    bottom = min(range(MEMORY - 1, len(smoothed)), key=smoothed.__getitem__) + 1
    first, last = valley(smoothed[:bottom])
    ratio = math.log(smoothed[first] / smoothed[last]) / smoothed_noise(losses)
    return lr, (lr if ratio > z * math.sqrt(2) else fallback), ratio


def swept(model, train, **settings) -> tuple:
    return sweep_curve(ds.fit(model, train, stop=[AfterSweep()], progress=False, doctor=False, **settings).history)


def generated(rows_file: str, z: float) -> None:
    rows = {(r["desc"], r["seed"]): r for r in json.loads(open(rows_file).read())}
    today, noisy = [], []
    print("| problem | seed | today's pick | with the noise test | fall / noise | gap today | gap with the test |")
    print("|---|---|---|---|---|---|---|")
    for (desc, seed), row in rows.items():
        i = next(k for k in range(100) if problem(k)[0] == desc)
        _, build, train, loss, batch, steps, _ = problem(i)
        lr, lr_noise, ratio = picks(*swept(build(seed), train, loss=loss, batch_size=batch, max_steps=steps,
                                           seed=seed), z)
        best = min(row["grid"])
        today.append(at(row["grid"], lr) / best - 1)
        noisy.append(at(row["grid"], lr_noise) / best - 1)
        print(f"| {desc} | {seed} | {lr:.2g} | {lr_noise:.2g} | {'-' if ratio is None else f'{ratio:.1f}'} | "
              f"{today[-1]:+.0%} | {noisy[-1]:+.0%} |")
    for name, gaps in (("today's reading", np.array(today)), ("valley must beat the noise", np.array(noisy))):
        print(f"{name}: mean {gaps.mean():+.0%}, median {np.median(gaps):+.0%}, within 5% {np.mean(gaps <= 0.05):.0%}"
              f", worst {gaps.max():+.0%}")


def bench(grid_file: str, z: float) -> None:
    grids = json.loads(open(grid_file).read())
    print("| workload | picks today -> with the noise test (fall / noise), seeds 0-5 | gap today (seeds 0-2) | "
          "with the test |")
    print("|---|---|---|---|")
    for name, grid in grids.items():
        build, batch, steps, decay, _ = TASKS[name]
        scores = np.array(grid)[:, :, 0]
        best = scores.mean(axis=1).min()
        cells, today, noisy = [], [], []
        for seed in range(6):
            p = build(seed)
            lr, lr_noise, ratio = picks(*swept(p.model, p.train, loss=p.loss, batch_size=batch, max_steps=steps,
                                               weight_decay=decay, seed=seed), z)
            cells.append(f"{lr:.2g} -> {lr_noise:.2g} ({'-' if ratio is None else f'{ratio:.1f}'})")
            if seed < scores.shape[1]:
                today.append(at(list(scores[:, seed]), lr) / best - 1)
                noisy.append(at(list(scores[:, seed]), lr_noise) / best - 1)
        print(f"| {name} | {'; '.join(cells)} | {np.mean(today):+.1%} | {np.mean(noisy):+.1%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", help="after_sweep.py --save's rows (generated problems with their grids)")
    parser.add_argument("--grid", help="lr_auto_quality.py --save's grid (the bench's workloads)")
    parser.add_argument("--z", type=float, default=2.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.rows:
        generated(args.rows, args.z)
    if args.grid:
        bench(args.grid, args.z)


if __name__ == "__main__":
    main()
