"""Is fit's default run off the grid's best for want of training, or for how it generalizes?

For each of lr_auto_quality's workloads and seeds 0-2: fit's defaults (optimizer="auto", no validation data) and
AdamW + cosine at the grid's best lr (the best 3-seed mean of a grid lr_auto_quality.py --save wrote), each scored
on the workload's held-out data and by its training loss at the end (the mean batch loss over the last tenth of
the run, where a cosine's lr is near 0). A pick that ends with a higher held-out score AND a higher training loss
trained too little (an optimization gap, which a reading of the training curve can in principle see); one that
ends worse held out with a LOWER training loss fit the training rows harder than the grid's best did (a
generalization gap, which no training-loss reading can see, and keeping the best of evaluations without
validation data cannot reach).

With `--held-out 3` or `--held-out 5`, the same on that held-out list's misses (fit_held_out3.py, fit_held_out5.py;
validation data given to every run, which only auto reads), against the list's grid's best lr (BEST_LR) and a third
run: AdamW + cosine at auto's own final lr from the first step. Auto against that run is what the sweep, its restart
and the shorter cosine cost; that run against the grid's best is what the lr costs. Also shown: where in the run
auto's validation loss was lowest (near 1.0: still falling at the end) and whether KeepBest restored earlier weights.

    PYTHONPATH=src:. python benchmarks/lr_auto_train_gap.py --grid grid.json [--tasks digits,bikeshare]
    PYTHONPATH=src:. python benchmarks/lr_auto_train_gap.py --held-out 5 [--tasks pinn,siren]
"""
from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import torch

import descend as ds
from benchmarks import fit_held_out
from benchmarks.lr_auto_quality import GRID, SEEDS, TASKS

TAIL = 10   # the training loss at the end: the mean batch loss over the last 1/TAIL of the run's steps
# the held-out lists' misses and their grid's best lr (the best 3-seed mean of fit_held_out.GRID): fit_held_out5's
# as its first pass (h5) published it, fit_held_out3's as the a22 pass measured it (its scores equal the list's
# published grid best to 4 digits)
LR = fit_held_out.GRID   # 1e-4, 3.2e-4, ..., 1
BEST_LR = {"3": dict(lstm2_bursts=LR[3], bn_cnn_digits=LR[6], heteroscedastic=LR[4]),
           "5": dict(pinn_oscillator=LR[6], neural_ode_pendulum=LR[5], realnvp_moons=LR[4], siren_photo=LR[1],
                     moe_regimes=LR[6], hypernet_sines=LR[4])}


def run(task, seed: int, **settings) -> tuple[float, float, float | None]:
    """(held-out score, training loss at the end, auto's lr or None) of one fit with `settings`."""
    build, batch, steps, decay, score = task
    problem = build(seed)
    result = ds.fit(problem.model, problem.train, loss=problem.loss, max_steps=steps, batch_size=batch,
                    weight_decay=decay, seed=seed, progress=False, doctor=False, **settings)
    late = late_loss(result.history)
    chose = result.choice
    return (score or problem.metric)(problem.model), late, None if chose is None else chose.lr


def late_loss(history: list) -> float:
    """The mean batch loss over the last 1/TAIL of a run's steps."""
    return float(np.mean([record["loss"] for record in history[-max(1, len(history) // TAIL):]]))


def run_case(which: str, name: str, seed: int, lr: float | None = None) -> dict:
    """One held-out list's model trained as that list runs fit's defaults (lr None), or with AdamW + cosine at `lr`
    over the same steps and batch size; validation data is given either way (only auto reads it)."""
    case = importlib.import_module(f"benchmarks.fit_held_out{which}").MODELS[name](seed)
    settings = {} if lr is None else dict(optimizer="adamw", lr=lr, schedule=ds.schedules.cosine(),
                                          max_steps=fit_held_out.steps_of(case), batch_size=fit_held_out.BATCH)
    result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=seed, progress=False, doctor=False,
                    **settings)
    vals = [(step, record["val_loss"]) for step, record in enumerate(result.history) if "val_loss" in record]
    lowest = min(vals, key=lambda v: v[1])[0] / len(result.history) if vals else float("nan")
    chose = result.choice
    return dict(score=case.score(), late=late_loss(result.history), lr=lr if chose is None else chose.lr,
                lowest=lowest, restored="holds the weights of step" in result.stop_reason)


def versus(value: float, reference: float) -> str:
    """`value` over `reference` where both are positive; else (a loss that goes negative, such as a Gaussian
    log-likelihood) their difference, which reads the same way: above 1, or positive, is higher."""
    return f"{value / reference:.3f}" if value > 0 and reference > 0 else f"{value - reference:+.3f}"


def held_out(which: str, wanted: str | None) -> None:
    """Auto, AdamW at the grid's best lr and AdamW at auto's own lr, side by side on one held-out list's misses."""
    print("| workload | seed | grid's best lr | auto's lr | held-out: auto / grid's best | at auto's lr / grid's best "
          "| auto / at auto's lr | training loss at the end: auto / grid's best | auto's lowest val at | restored |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, best_lr in BEST_LR[which].items():
        if wanted and not any(name.startswith(t) for t in wanted.split(",")):
            continue
        for seed in SEEDS:
            auto, grid = run_case(which, name, seed), run_case(which, name, seed, best_lr)
            own = run_case(which, name, seed, auto["lr"])
            restored = "yes" if auto["restored"] else "no"
            print(f"| {name} | {seed} | {best_lr:.2g} | {auto['lr']:.2g} | {auto['score'] / grid['score']:.3f} | "
                  f"{own['score'] / grid['score']:.3f} | {auto['score'] / own['score']:.3f} | "
                  f"{versus(auto['late'], grid['late'])} | {auto['lowest']:.2f} | {restored} |", flush=True)


def quality(grid: str, wanted: str | None) -> None:
    """Auto and AdamW at the grid's best lr, side by side on lr_auto_quality's workloads."""
    saved = json.loads(Path(grid).read_text())
    names = [name for name in TASKS if not wanted or any(name.startswith(t) for t in wanted.split(","))]
    print("| workload | seed | grid's best lr | auto's lr | held-out: auto / grid's best | training loss at the end: "
          "auto / grid's best | the gap is |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        scores = np.array(saved[name])[:, :, 0]
        best_lr = GRID[int(np.argmin(scores.mean(axis=1)))]
        for seed in SEEDS:
            held, late, _ = run(TASKS[name], seed, optimizer="adamw", lr=best_lr, schedule=ds.schedules.cosine())
            auto_held, auto_late, lr = run(TASKS[name], seed)
            ratio, train = auto_held / held, auto_late / late
            kind = "none (within 5%)" if ratio <= 1.05 else ("optimization" if train > 1 else "generalization")
            picked = "line search" if lr is None else f"{lr:.2g}"
            print(f"| {name} | {seed} | {best_lr:.1e} | {picked} | {ratio:.3f} | {train:.3f} | {kind} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", help="the grid's runs, as lr_auto_quality.py --save wrote them")
    parser.add_argument("--held-out", choices=sorted(BEST_LR), help="a held-out list's misses instead")
    parser.add_argument("--tasks", help="comma-separated names' starts (default: all)")
    args = parser.parse_args()
    if not (args.grid or args.held_out):
        parser.error("give --grid (the file lr_auto_quality.py --save wrote) or --held-out 3 or 5")
    torch.set_num_threads(1)
    if args.held_out:
        held_out(args.held_out, args.tasks)
    else:
        quality(args.grid, args.tasks)


if __name__ == "__main__":
    main()
