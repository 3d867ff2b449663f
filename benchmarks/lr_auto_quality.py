"""Do fit's automatic choices train as well as a grid search, for a fraction of the compute?

For each workload: AdamW with a cosine schedule runs the workload's step budget at each of 9 log-spaced learning
rates (1e-4 .. 1), then once with fit(lr="auto") (AdamW, cosine, its lr from the sweep inside the run) and once
with fit's defaults (optimizer="auto": whatever it chooses, no schedule given); each for 3 seeds. Both automatic
runs take the same step budget as one grid point, their sweep included. The workloads are descend.bench's
(digits_mlp, iris_softmax, wine_softmax, bikeshare_mlp, digits_cnn, heavy_tail_regression, embeddings_mf: their
data, model, batch size and step budget; the digits models are scored by held-out cross-entropy rather than
accuracy) and friedman1, an MLP regression of our own. Reported: the final held-out score against the best grid
point (scores averaged over the seeds), and the steps and seconds used as a fraction of the whole grid's.
Goal: within 5% of the grid's best final score at under 20% of its compute.

    PYTHONPATH=src python benchmarks/lr_auto_quality.py
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_friedman1
from torch import nn

import descend as ds
from descend.apps.bench import WORKLOADS, Problem, images
from descend.apps.bench.tabular import split

GRID = [float(v) for v in np.logspace(-4, 0, 9)]
SEEDS = (0, 1, 2)


def held_out_cross_entropy(x: torch.Tensor, y: torch.Tensor):
    """A digits model scored by cross-entropy on its held-out rows (their own metric, accuracy, moves in steps)."""
    def score(model: nn.Module) -> float:
        with torch.no_grad():
            return float(F.cross_entropy(model(x), y))
    return score


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


TASKS = {"digits_mlp (test cross-entropy)": bench("digits_mlp", held_out_cross_entropy(*split("digits")[2:])),
         "iris_softmax (test loss)": bench("iris_softmax"), "wine_softmax (test loss)": bench("wine_softmax"),
         "bikeshare_mlp (test RMSE)": bench("bikeshare_mlp"), "friedman1 MLP (test MSE)": (friedman, 64, 600, None, None),
         "digits_cnn (test cross-entropy)": bench("digits_cnn", held_out_cross_entropy(*images.split()[2:])),
         "heavy_tail_regression (RMSE vs f)": bench("heavy_tail_regression"),
         "embeddings_mf (test RMSE)": bench("embeddings_mf")}
AUTOMATIC = {"lr auto": dict(optimizer="adamw", lr="auto", schedule=ds.schedules.cosine()),
             "optimizer auto": {}}   # fit's defaults


def run(task, seed, **settings) -> tuple[float, float, str, int]:
    """(final held-out score, seconds, what trained, steps) of one fit with `settings` (optimizer, lr, schedule)."""
    build, batch, steps, decay, score = task
    problem = build(seed)
    start = time.perf_counter()
    result = ds.fit(problem.model, problem.train, loss=problem.loss, max_steps=steps, batch_size=batch,
                    weight_decay=decay, seed=seed, progress=False, doctor=False, **settings)
    seconds = time.perf_counter() - start
    final = (score or problem.metric)(problem.model)
    chose = result.choice
    what = "" if chose is None else chose.optimizer + ("" if chose.lr is None else f" {chose.lr:.1e}")
    return (final if math.isfinite(final) else math.inf), seconds, what, len(result.history)


def measure(task) -> dict:
    """Mean final score over SEEDS per grid lr and for each automatic setting; compute as steps and seconds."""
    runs = [[run(task, seed, optimizer="adamw", lr=lr, schedule=ds.schedules.cosine()) for seed in SEEDS]
            for lr in GRID]
    grid = np.array([[(r[0], r[1], r[3]) for r in per_lr] for per_lr in runs])   # lr, seed, (score, seconds, steps)
    grid_score = grid[:, :, 0].mean(axis=1)
    best = int(np.argmin(grid_score))
    rows = {"best_lr": GRID[best], "best": grid_score[best], "grid": grid_score}
    for name, settings in AUTOMATIC.items():
        runs = [run(task, seed, **settings) for seed in SEEDS]
        score = float(np.mean([r[0] for r in runs]))
        rows[name] = {"chose": [r[2] for r in runs], "score": score, "gap": score / grid_score[best] - 1,
                      "steps_frac": sum(r[3] for r in runs) / grid[:, :, 2].sum(),
                      "time_frac": sum(r[1] for r in runs) / grid[:, :, 1].sum()}
    return rows


def main() -> None:
    torch.set_num_threads(1)
    rows = {}
    for name, task in TASKS.items():
        rows[name] = measure(task)
        print(f"measured {name}", file=sys.stderr, flush=True)
    print(f"AdamW, cosine schedule, each workload's batch size and step budget, grid {GRID[0]:g}..{GRID[-1]:g} "
          f"({len(GRID)} points); scores are means over seeds {SEEDS}")
    print("| workload | best grid lr | best grid score | automatic | chose (per seed) | score | gap | steps vs grid "
          "| time vs grid |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        for auto in AUTOMATIC:
            a = r[auto]
            print(f"| {name} | {r['best_lr']:.1e} | {r['best']:.4g} | {auto} | {', '.join(a['chose'])} "
                  f"| {a['score']:.4g} | {a['gap']:+.1%} | {a['steps_frac']:.1%} | {a['time_frac']:.1%} |")
    print("\nmean final score per grid lr:")
    print("| workload | " + " | ".join(f"{lr:.0e}" for lr in GRID) + " |")
    print("|---|" + "---|" * len(GRID))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in r["grid"]) + " |")
    for auto in AUTOMATIC:
        met = [name for name, r in rows.items() if r[auto]["gap"] <= 0.05 and r[auto]["steps_frac"] <= 0.2]
        print(f"goal for {auto} (within 5% of the grid's best, at most 20% of its compute): met on {len(met)} of "
              f"{len(rows)}" + (f" ({', '.join(met)})" if met else ""))


if __name__ == "__main__":
    main()
