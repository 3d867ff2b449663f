"""Does lr="auto" pick a learning rate as good as a grid search, for a fraction of the compute?

For each workload: AdamW with a cosine schedule runs the workload's step budget at each of 9 log-spaced learning
rates (1e-4 .. 1), then once with fit(lr="auto") (lr_find's sweep, then the same run); each for 3 seeds. The
workloads are descend.bench's (digits_mlp, iris_softmax, wine_softmax, bikeshare_mlp: their data, model, batch
size and step budget; digits is scored by held-out cross-entropy rather than accuracy) and friedman1, an MLP
regression of our own. Reported: the final held-out score of auto against the best grid point (scores averaged
over the seeds), and the optimizer steps and seconds auto used as a fraction of the whole grid's.
Goal: within 5% of the grid's best final score at under 20% of its compute.

    PYTHONPATH=src python benchmarks/lr_auto_quality.py
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_friedman1
from torch import nn

import descend as ds
from descend.apps.bench import WORKLOADS, Problem
from descend.apps.bench.tabular import split

GRID = [float(v) for v in np.logspace(-4, 0, 9)]
SEEDS = (0, 1, 2)


def digits_cross_entropy(model: nn.Module) -> float:
    """digits_mlp scored by cross-entropy on its held-out rows (its own metric, accuracy, moves in steps)."""
    _, _, x, y = split("digits")
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


def friedman(seed: int) -> Problem:
    """Friedman #1 (10 features, noise 1), standardized target; 1500 rows to train, 500 held out."""
    x, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)
    x = (x - x[:1500].mean(0)) / x[:1500].std(0)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def held_out_mse(m: nn.Module) -> float:
        with torch.no_grad():
            return float(F.mse_loss(m(x[1500:]).squeeze(-1), y[1500:]))
    return Problem(model, (x[:1500], y[:1500]), "mse", held_out_mse)


def bench(name: str, score=None):
    """(build, batch size, steps, weight decay, score) of a descend.bench workload."""
    w = WORKLOADS[name]
    return w.build, w.batch_size, w.steps, w.weight_decay, score


TASKS = {"digits_mlp (test cross-entropy)": bench("digits_mlp", digits_cross_entropy),
         "iris_softmax (test loss)": bench("iris_softmax"), "wine_softmax (test loss)": bench("wine_softmax"),
         "bikeshare_mlp (test RMSE)": bench("bikeshare_mlp"), "friedman1 MLP (test MSE)": (friedman, 64, 600, None, None)}


def run(task, lr, seed) -> tuple[float, float, float]:
    """(final held-out score, seconds, lr trained with) of one fit."""
    build, batch, steps, decay, score = task
    problem = build(seed)
    start = time.perf_counter()
    result = ds.fit(problem.model, problem.train, loss=problem.loss, lr=lr, schedule=ds.schedules.cosine(),
                    max_steps=steps, batch_size=batch, weight_decay=decay, seed=seed, progress=False, doctor=False)
    seconds = time.perf_counter() - start
    final = (score or problem.metric)(problem.model)
    return (final if math.isfinite(final) else math.inf), seconds, result.history[0]["lr"]


def sweep_steps(task, seed) -> int:
    """The steps of the sweep fit(lr="auto") runs (lr_find on the same fresh model, data, batch and seed)."""
    build, batch, _, decay, _ = task
    problem = build(seed)
    return len(ds.lr_find(problem.model, problem.train, problem.loss, batch_size=batch, weight_decay=decay,
                          seed=seed).lrs)


def measure(task) -> dict:
    """Mean final score over SEEDS per grid lr and for auto; compute as steps and seconds."""
    steps = task[2]
    grid = np.array([[run(task, lr, seed)[:2] for seed in SEEDS] for lr in GRID])   # lr, seed, (score, seconds)
    auto = [run(task, "auto", seed) for seed in SEEDS]
    sweeps = [sweep_steps(task, seed) for seed in SEEDS]
    grid_score = grid[:, :, 0].mean(axis=1)
    best = int(np.argmin(grid_score))
    auto_score = float(np.mean([a[0] for a in auto]))
    return {"best_lr": GRID[best], "best": grid_score[best], "auto_lrs": [a[2] for a in auto], "auto": auto_score,
            "gap": auto_score / grid_score[best] - 1,
            "steps_frac": float(np.mean([s + steps for s in sweeps])) / (len(GRID) * steps),
            "time_frac": sum(a[1] for a in auto) / grid[:, :, 1].sum(), "grid": grid_score}


def main() -> None:
    torch.set_num_threads(1)
    rows = {name: measure(task) for name, task in TASKS.items()}
    print(f"AdamW, cosine schedule, each workload's batch size and step budget, grid {GRID[0]:g}..{GRID[-1]:g} "
          f"({len(GRID)} points); scores are means over seeds {SEEDS}")
    print("| workload | best grid lr | best grid score | auto lr (per seed) | auto score | gap | steps vs grid "
          "| time vs grid |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        lrs = ", ".join(f"{lr:.1e}" for lr in r["auto_lrs"])
        print(f"| {name} | {r['best_lr']:.1e} | {r['best']:.4g} | {lrs} | {r['auto']:.4g} | {r['gap']:+.1%} "
              f"| {r['steps_frac']:.1%} | {r['time_frac']:.1%} |")
    print("\nmean final score per grid lr:")
    print("| workload | " + " | ".join(f"{lr:.0e}" for lr in GRID) + " |")
    print("|---|" + "---|" * len(GRID))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in r["grid"]) + " |")
    met = [name for name, r in rows.items() if r["gap"] <= 0.05 and r["steps_frac"] < 0.2]
    print(f"goal (within 5% of the grid's best, under 20% of its compute): met on {len(met)} of {len(rows)}"
          + (f" ({', '.join(met)})" if met else ""))


if __name__ == "__main__":
    main()
