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

    PYTHONPATH=src python benchmarks/lr_auto_quality.py [--tasks iris,bikeshare] [--save grid.json | --grid grid.json]

It also prints how noisy the grid's best lr is from seed to seed, each automatic setting's gap per seed, and the
grid's best lr and fit's defaults retrained on three fresh seeds (free of the bias of picking the best of 9 means).
--save keeps the grid's runs, so that a change to the automatic settings can be measured against the same grid
(--grid) for a ninth of the compute (the seconds-vs-grid column then compares against the saved grid's seconds).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

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
FRESH = (3, 4, 5)   # seeds that score the grid's best lr (picked on SEEDS) and fit's defaults again, unselected


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


def measure(task, grid_runs: list | None = None) -> dict:
    """Per-seed and mean final scores per grid lr and for each automatic setting; compute as steps and seconds.
    `grid_runs` (per lr, per seed: score, seconds, steps) is a grid measured before (--grid); else it is run."""
    if grid_runs is None:
        grid_runs = [[score_seconds_steps(run(task, seed, optimizer="adamw", lr=lr, schedule=ds.schedules.cosine()))
                      for seed in SEEDS] for lr in GRID]
    grid = np.array(grid_runs)   # lr, seed, (score, seconds, steps)
    grid_score = grid[:, :, 0].mean(axis=1)
    best = int(np.argmin(grid_score))
    rows = {"best_lr": GRID[best], "best": grid_score[best], "grid": grid_score, "grid_runs": grid.tolist()}
    for name, settings in AUTOMATIC.items():
        runs = [run(task, seed, **settings) for seed in SEEDS]
        per_seed = [r[0] for r in runs]
        score = float(np.mean(per_seed))
        rows[name] = {"chose": [r[2] for r in runs], "score": score, "gap": score / grid_score[best] - 1,
                      "per_seed": per_seed, "steps_frac": sum(r[3] for r in runs) / grid[:, :, 2].sum(),
                      "time_frac": sum(r[1] for r in runs) / grid[:, :, 1].sum()}
    rows["fresh"] = {"grid": [run(task, seed, optimizer="adamw", lr=GRID[best], schedule=ds.schedules.cosine())[0]
                              for seed in FRESH],
                     "optimizer auto": [run(task, seed)[0] for seed in FRESH]}
    return rows


def score_seconds_steps(result: tuple) -> list[float]:
    score, seconds, _, steps = result
    return [score, seconds, steps]


def noise_table(rows: dict) -> None:
    """How far one lr's held-out score moves between seeds, against the 5% the bar allows: the grid's best lr per
    seed, its spread (standard deviation over the mean), the standard error of a 3-seed mean, and the mean of each
    seed's own best of the 9 (biased low by noise; the bar uses the best lr of the means instead); then each
    automatic setting's gap per seed (paired: the same seeds as the grid) with its standard error."""
    print("\nseed-to-seed noise of the grid's best lr (scores of seeds " + ", ".join(map(str, SEEDS)) + "):")
    print("| workload | best lr's scores per seed | spread (sd / mean) | sd of a 3-seed mean | mean of per-seed "
          "best of 9 (vs best mean) | " + " | ".join(f"{a} gap per seed (mean +- se)" for a in AUTOMATIC) + " |")
    print("|---|---|---|---|---|" + "---|" * len(AUTOMATIC))
    for name, r in rows.items():
        scores = np.array(r["grid_runs"])[:, :, 0]
        best = scores[int(np.argmin(scores.mean(axis=1)))]
        spread = best.std(ddof=1) / best.mean()
        per_seed_best = scores.min(axis=0).mean()
        gaps = []
        for auto in AUTOMATIC:
            gap = np.array(r[auto]["per_seed"]) / best - 1
            gaps.append(", ".join(f"{g:+.1%}" for g in gap) + f" ({gap.mean():+.1%} +- "
                        f"{gap.std(ddof=1) / math.sqrt(len(gap)):.1%})")
        print(f"| {name} | " + ", ".join(f"{v:.4g}" for v in best) + f" | {spread:.1%} | "
              f"{spread / math.sqrt(len(best)):.1%} | {per_seed_best:.4g} ({per_seed_best / best.mean() - 1:+.1%}) | "
              + " | ".join(gaps) + " |")


def fresh_table(rows: dict) -> None:
    """The comparison again on seeds that played no part in picking the grid's lr: the minimum over 9 lrs of
    3-seed means is biased low by the noise it selects on; a retrain of the picked lr on FRESH seeds is not."""
    print(f"\nthe grid's best lr (picked on seeds {SEEDS}) and fit's defaults, both on fresh seeds {FRESH}:")
    print("| workload | grid's lr | its mean on the picking seeds | its mean on fresh seeds | optimizer auto on fresh "
          "seeds | gap per fresh seed | gap of the means | gap over all six seeds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        grid, auto = np.array(r["fresh"]["grid"]), np.array(r["fresh"]["optimizer auto"])
        per_seed = ", ".join(f"{g:+.1%}" for g in auto / grid - 1)
        pooled = (auto.sum() + sum(r["optimizer auto"]["per_seed"])) / (grid.sum() + r["best"] * len(SEEDS)) - 1
        print(f"| {name} | {r['best_lr']:.1e} | {r['best']:.4g} | {grid.mean():.4g} | {auto.mean():.4g} | {per_seed} "
              f"| {auto.mean() / grid.mean() - 1:+.1%} | {pooled:+.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", help="comma-separated names' starts (default: all), e.g. iris,bikeshare")
    parser.add_argument("--save", help="write the grid's runs (per lr and seed) to this JSON file")
    parser.add_argument("--grid", help="read the grid's runs from a JSON file --save wrote, instead of running it")
    args = parser.parse_args()
    torch.set_num_threads(1)
    wanted = [name for name in TASKS if not args.tasks or any(name.startswith(t) for t in args.tasks.split(","))]
    saved = json.loads(Path(args.grid).read_text()) if args.grid else {}
    rows = {}
    for name in wanted:
        rows[name] = measure(TASKS[name], saved.get(name))
        print(f"measured {name}", file=sys.stderr, flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps({name: r["grid_runs"] for name, r in rows.items()}))
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
    noise_table(rows)
    fresh_table(rows)
    for auto in AUTOMATIC:
        met = [name for name, r in rows.items() if r[auto]["gap"] <= 0.05 and r[auto]["steps_frac"] <= 0.2]
        print(f"goal for {auto} (within 5% of the grid's best, at most 20% of its compute): met on {len(met)} of "
              f"{len(rows)}" + (f" ({', '.join(met)})" if met else ""))
    fresh = [name for name, r in rows.items() if np.mean(r["fresh"]["optimizer auto"]) <= 1.05 * np.mean(
        r["fresh"]["grid"]) and r["optimizer auto"]["steps_frac"] <= 0.2]
    print(f"the same goal for optimizer auto on fresh seeds {FRESH} (the grid's lr picked on {SEEDS}): met on "
          f"{len(fresh)} of {len(rows)}" + (f" ({', '.join(fresh)})" if fresh else ""))


if __name__ == "__main__":
    main()
