"""fit's defaults on regression targets in their own units (dollars, metres, kelvin, counts), against the fix a
user applies by hand: the same model trained on the standardized target, predictions mapped back.

Each problem is a user's own model (MLPs of different depths, an embedding model, a 1-D CNN, a linear model, all
ending in nn.Linear) under MSE or MAE, with targets whose mean and spread run from ~1e-3 to ~1e5 (some with mean >>
spread, some heavy-tailed). Per problem and seed, on the same data, batches and steps:
- raw: `descend.fit(model, (X, y), loss=..., val=(Xv, yv))` and nothing else, y in its own units;
- by hand: the same call on (y - mean) / sd of the training rows (validation rows mapped alike), predictions
  mapped back (x sd + mean);
- a grid: AdamW + cosine at a few lrs on the standardized target (doctor off), its best lr by mean over seeds.
Scores: test RMSE in the target's own units on rows nobody trains on, raw over by hand (1.0: as good as the fix).
The data are generated (the same for every seed); the seed draws the initialization and the batch order.

    PYTHONPATH=src python benchmarks/raw_targets.py [--problems salary,kelvin] [--seeds 3]
        [--save refs.json | --load refs.json]   (--load reruns only the raw runs)
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import descend as ds

sys.path.insert(0, str(Path(__file__).parent))
from fit_held_out import run_list  # noqa: E402  (the held-out lists' command line)

GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
EPOCHS, BATCH = 20, 64   # fit's defaults, given to the grid explicitly


@dataclass
class Problem:
    """A user's model and data: (train, val, test) splits of (X, y) with y in its own units, and the loss named."""

    model: nn.Module
    train: tuple
    val: tuple
    test: tuple
    loss: str

    def rmse(self, mean: float = 0.0, sd: float = 1.0) -> float:
        """Test RMSE in the target's units of the model's predictions mapped back by `mean` and `sd`."""
        self.model.eval()
        with torch.no_grad():
            predicted = self.model(self.test[0]).reshape(self.test[1].shape) * sd + mean
        value = float(((predicted - self.test[1]) ** 2).mean().sqrt())
        return value if math.isfinite(value) else math.inf


def _splits(x: np.ndarray, y: np.ndarray, n_train: int = 1400, n_val: int = 300) -> tuple:
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32).reshape(-1, 1)
    a, b = n_train, n_train + n_val
    return (x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:], y[b:])


def _mlp(inputs: int, widths: list[int], activation=nn.ReLU) -> nn.Sequential:
    layers, last = [], inputs
    for width in widths:
        layers += [nn.Linear(last, width), activation()]
        last = width
    return nn.Sequential(*layers, nn.Linear(last, 1))


def _rng() -> np.random.Generator:
    return np.random.default_rng(2026)   # the data are the same for every seed


def salary(seed: int) -> Problem:
    """A salary in dollars (mean ~63,000, sd ~11,400, noise sd 4,000) from 6 standardized features, 6-64-64-1."""
    x = _rng().normal(size=(2700, 6))
    y = (60000 + 9000 * x[:, 0] + 6000 * np.tanh(x[:, 1] * x[:, 2]) + 5000 * np.sin(2 * x[:, 3])
         + 3000 * x[:, 4] ** 2 + 4000 * _rng().normal(size=2700))
    return Problem(_mlp(6, [64, 64]), *_splits(x, y), "mse")


def house_prices(seed: int) -> Problem:
    """House prices in dollars, log-normal (mean ~300,000, a heavy right tail), one hidden layer of 128."""
    rng = _rng()
    x = rng.normal(size=(2700, 8))
    log_price = 12.5 + 0.35 * x[:, 0] + 0.2 * x[:, 1] * x[:, 2] + 0.15 * np.abs(x[:, 3]) + 0.25 * rng.normal(size=2700)
    return Problem(_mlp(8, [128]), *_splits(x, np.exp(log_price)), "mse")


def droplet_metres(seed: int) -> Problem:
    """A droplet's size in metres (mean ~2e-3, sd ~3.6e-4), a 3-hidden-layer tanh MLP."""
    rng = _rng()
    x = rng.normal(size=(2700, 5))
    y = 2e-3 + 4e-4 * np.sin(x[:, 0] + x[:, 1]) + 2e-4 * x[:, 2] * x[:, 3] + 1e-4 * rng.normal(size=2700)
    return Problem(_mlp(5, [64, 64, 64], nn.Tanh), *_splits(x, y), "mse")


def kelvin(seed: int) -> Problem:
    """A temperature in kelvin (mean ~290 >> sd ~4) with Laplace noise, under MAE (L1), 4-32-32-1."""
    rng = _rng()
    x = rng.normal(size=(2700, 4))
    y = 290 + 3 * x[:, 0] + 2 * np.cos(2 * x[:, 1]) + 1.5 * x[:, 2] * x[:, 3] + rng.laplace(scale=0.6, size=2700)
    return Problem(_mlp(4, [32, 32]), *_splits(x, y), "mae")


class StoreVisits(nn.Module):
    """Column 0 is a store's id (an embedding), the rest numeric features, into a small MLP."""

    def __init__(self, stores: int, features: int):
        super().__init__()
        self.store = nn.Embedding(stores, 8)
        self.head = nn.Sequential(nn.Linear(8 + features, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.store(x[:, 0].long()), x[:, 1:]], dim=1))


def store_visits(seed: int) -> Problem:
    """Daily visitors of 50 stores (counts in the thousands: mean ~3,400, sd ~2,400), an embedding model."""
    rng = _rng()
    effect = rng.lognormal(0.0, 0.5, size=50)
    ids = rng.integers(0, 50, size=2700)
    x = rng.normal(size=(2700, 3))
    y = np.round(2600 * effect[ids] * (1 + 0.25 * x[:, 0] + 0.1 * np.sin(3 * x[:, 1])) + 200 * rng.normal(size=2700))
    return Problem(StoreVisits(50, 3), *_splits(np.column_stack([ids, x]), y), "mse")


def pulse_energy(seed: int) -> Problem:
    """A pulse's energy in raw units (mean ~650, sd ~280) from a noisy 64-sample signal, a 1-D CNN, under MAE."""
    rng = _rng()
    t = np.arange(64)
    height, width, where = rng.uniform(2, 6, 2700), rng.uniform(2, 6, 2700), rng.uniform(16, 48, 2700)
    x = height[:, None] * np.exp(-0.5 * ((t - where[:, None]) / width[:, None]) ** 2) + 0.5 * rng.normal(size=(2700, 64))
    y = 40 * height * width + 20 * rng.normal(size=2700)
    model = nn.Sequential(nn.Unflatten(1, (1, 64)), nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                          nn.Conv1d(8, 16, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(4), nn.Flatten(),
                          nn.Linear(64, 1))
    return Problem(model, *_splits(x, y), "mae")


def claims(seed: int) -> Problem:
    """Insurance claims in dollars (mean ~100,000, Student-t noise of 3 degrees of freedom), a 6-layer MLP, MAE."""
    rng = _rng()
    x = rng.normal(size=(2700, 6))
    y = 1e5 + 2.5e4 * x[:, 0] + 1.5e4 * np.maximum(x[:, 1], 0) * x[:, 2] + 1e4 * rng.standard_t(3, size=2700)
    return Problem(_mlp(6, [32] * 6), *_splits(x, y), "mae")


def lab_batch(seed: int) -> Problem:
    """60 lab samples in milligrams (mean ~1,000, sd ~250): one full batch, a 3-16-1 tanh MLP."""
    rng = _rng()
    x = rng.normal(size=(460, 3))
    y = 1000 + 200 * x[:, 0] + 100 * np.tanh(2 * x[:, 1]) + 30 * rng.normal(size=460)
    return Problem(_mlp(3, [16], nn.Tanh), *_splits(x, y, 60, 40), "mse")


def weekly_sales(seed: int) -> Problem:
    """Weekly sales in units sold (mean ~2,000, sd ~570), linear in 8 standardized features: a linear model."""
    rng = _rng()
    x = rng.normal(size=(2700, 8))
    y = 2000 + x @ rng.normal(size=8) * 150 + 60 * rng.normal(size=2700)
    return Problem(nn.Linear(8, 1), *_splits(x, y), "mse")


PROBLEMS = {"salary": salary, "house_prices": house_prices, "droplet_metres": droplet_metres, "kelvin": kelvin,
            "store_visits": store_visits, "pulse_energy": pulse_energy, "claims": claims, "lab_batch": lab_batch,
            "weekly_sales": weekly_sales}


def built(build, seed: int) -> Problem:
    """The problem with its model initialized from `seed` (torch's own initialization, as a user's model has)."""
    torch.manual_seed(seed)
    return build(seed)


def _standardized(problem: Problem) -> tuple[tuple, tuple, float, float]:
    y = problem.train[1]
    mean, sd = float(y.mean()), float(y.std())
    return (problem.train[0], (y - mean) / sd), (problem.val[0], (problem.val[1] - mean) / sd), mean, sd


def run_raw(build, seed: int) -> dict:
    """fit's defaults on the target in its own units: RMSE, seconds, the choice and every finding."""
    problem = built(build, seed)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ds.fit(problem.model, problem.train, loss=problem.loss, val=problem.val, seed=seed, progress=False)
    return {"rmse": problem.rmse(), "seconds": time.perf_counter() - start,
            "chose": result.choice.line() if result.choice else "", "findings": [f.code for f in result.findings],
            "warnings": sorted({str(w.message) for w in caught})}


def run_by_hand(build, seed: int) -> float:
    """fit's defaults on the standardized target, predictions mapped back: the user's fix."""
    problem = built(build, seed)
    train, val, mean, sd = _standardized(problem)
    ds.fit(problem.model, train, loss=problem.loss, val=val, seed=seed, progress=False)
    return problem.rmse(mean, sd)


def run_grid_point(build, seed: int, lr: float) -> float:
    """AdamW at `lr` with a cosine decay on the standardized target, fit's batch size and steps."""
    problem = built(build, seed)
    train, _, mean, sd = _standardized(problem)
    steps = EPOCHS * math.ceil(len(train[0]) / BATCH)
    ds.fit(problem.model, train, loss=problem.loss, optimizer="adamw", lr=lr, schedule=ds.schedules.cosine(),
           max_steps=steps, batch_size=BATCH, seed=seed, progress=False, doctor=False)
    return problem.rmse(mean, sd)


def measure(build, seeds: range, saved: dict | None) -> dict:
    if saved:
        hand, grid = saved["hand"][:len(seeds)], np.array(saved["grid"])[:, :len(seeds)]
    else:
        hand = [run_by_hand(build, seed) for seed in seeds]
        grid = np.array([[run_grid_point(build, seed, lr) for seed in seeds] for lr in GRID])
    return {"hand": hand, "grid": grid.tolist(), "raw": [run_raw(build, seed) for seed in seeds]}


def report(rows: dict, seeds: range) -> None:
    print(f"test RMSE in the target's units, fit's defaults on the raw target against the same call on the "
          f"standardized target (by hand) and an AdamW + cosine grid {GRID} on it; seeds {list(seeds)}")
    print("| problem | loss | target mean / sd | raw (per seed) | by hand (per seed) | grid's best (lr) | "
          "raw / by hand | raw / grid | raw s | findings on raw |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for name, row in rows.items():
        problem = PROBLEMS[name](0)
        y = problem.train[1]
        raw = [r["rmse"] for r in row["raw"]]
        grid = np.array(row["grid"]).mean(axis=1)
        best = int(np.argmin(grid))
        ratio = float(np.mean(raw) / np.mean(row["hand"]))
        ratios.append(ratio)
        findings = sorted({code for r in row["raw"] for code in r["findings"]})
        print(f"| {name} | {problem.loss} | {float(y.mean()):.3g} / {float(y.std()):.3g} | "
              f"{', '.join(f'{v:.4g}' for v in raw)} | {', '.join(f'{v:.4g}' for v in row['hand'])} | "
              f"{grid[best]:.4g} ({GRID[best]:g}) | **{ratio:.3f}** | {np.mean(raw) / grid[best]:.3f} | "
              f"{np.mean([r['seconds'] for r in row['raw']]):.2f} | {', '.join(findings) or 'none'} |")
    print(f"geometric mean raw / by hand: {math.exp(np.mean(np.log(ratios))):.3f}; within 5%: "
          f"{sum(r <= 1.05 for r in ratios)}/{len(ratios)}")
    for name, row in rows.items():
        print(f"{name}: {row['raw'][0]['chose']}")


def main() -> None:
    run_list(__doc__, PROBLEMS, "problems", 3, "take the by-hand and grid runs from a file --save wrote; rerun the "
             "raw runs", measure, report)


if __name__ == "__main__":
    main()
