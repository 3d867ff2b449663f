"""How would other readings of auto's sweep curve have done? Measured on generated problems, not the bench's.

Each generated problem (Friedman #1, make_regression through tanh, sums of sines, make_classification with 2-5
classes; 600-2400 rows, 6-20 features, MLPs 32-256 wide and 1-3 deep, ReLU/Tanh/GELU, batch 16-128, 200-800 steps,
all drawn from the problem's number) is trained, per seed, by AdamW + cosine at 9 log-spaced lrs (1e-4 .. 1) and
once with fit's defaults, whose history holds the sweep's curve. A reading rule maps the curve to an lr; its score
is the grid's held-out loss interpolated (in log lr, log loss) at that lr, against the grid's best. The row for
today's rule can be checked against the real auto runs (the last row). A second table takes the runs whose curve
shows no valley (where the rules differ in their fallback): the calibrated default 1e-3 (before issue 13's fourth
pass), today's pick from the curve's lowest point, and, with --slower N, fit's defaults retrained with a sweep of
N steps per decade from the start (what a longer second sweep could at best give: it would also pay for the
first). Used in RESULTS.md (issue 13, second and fourth passes).

    PYTHONPATH=src:. python benchmarks/lr_reading_rules.py [--problems 18] [--seeds 2] [--save rows.json |
        --load rows.json] [--slower 10]
"""
from __future__ import annotations

import argparse
import json
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification, make_friedman1, make_regression
from torch import nn

import descend as ds
from descend.fit.auto import sweep as sweep_lib
from descend.fit.auto.sweep import MEMORY, without_valley
from descend.fit.lr_find import NO_VALLEY, read

GRID = [float(v) for v in np.logspace(-4, 0, 9)]
DEFAULT_LR = 1e-3   # AdamW's calibrated default: the floor of the sweep's pick when its curve has no valley


def data(i: int, rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray, str]:
    kind = ("friedman", "regression", "classification", "sines")[i % 4]
    if kind == "friedman":
        x, y = make_friedman1(n_samples=n + 500, n_features=max(d, 5), noise=float(rng.choice([0.3, 1.0, 2.0])),
                              random_state=i)
    elif kind == "regression":
        x, y = make_regression(n_samples=n + 500, n_features=d, n_informative=d // 2, noise=float(rng.choice([5, 20])),
                               random_state=i)
        y = np.tanh(y / y.std()) + 0.1 * y / y.std()
    elif kind == "sines":
        x = rng.uniform(-1, 1, (n + 500, d))
        y = np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + rng.normal(0, float(rng.choice([0.05, 0.3])), n + 500)
    else:
        x, y = make_classification(n_samples=n + 500, n_features=d, n_informative=max(2, d // 2),
                                   n_classes=int(rng.choice([2, 3, 5])), n_clusters_per_class=1,
                                   flip_y=float(rng.choice([0.0, 0.05, 0.15])), random_state=i)
    return x, y, kind


def problem(i: int):
    """(description, build(seed), train, loss, batch size, steps, held-out score) of generated problem i."""
    rng = np.random.default_rng(1000 + i)
    n, d = int(rng.choice([600, 1200, 2400])), int(rng.choice([6, 10, 20]))
    x, y, kind = data(i, rng, n, d)
    x = torch.tensor(x, dtype=torch.float32)
    x = (x - x[:n].mean(0)) / x[:n].std(0)
    classes = kind == "classification"
    y = torch.tensor(y) if classes else torch.tensor(y, dtype=torch.float32)[:, None]
    if not classes:
        y = (y - y[:n].mean()) / y[:n].std()
    width, depth = int(rng.choice([32, 64, 128, 256])), int(rng.choice([1, 2, 3]))
    act = (nn.ReLU, nn.Tanh, nn.GELU)[int(rng.integers(3))]
    batch, steps = int(rng.choice([16, 32, 64, 128])), int(rng.choice([200, 400, 800]))

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        sizes = [d] + [width] * depth
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), act())]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], int(y.max()) + 1 if classes else 1))

    def score(model: nn.Module) -> float:
        with torch.no_grad():
            out = model(x[n:])
            value = float(F.cross_entropy(out, y[n:]) if classes else F.mse_loss(out, y[n:]))
        return value if math.isfinite(value) else 1e30
    desc = f"{kind} n={n} d={d} {width}x{depth} {act.__name__} batch {batch}, {steps} steps"
    return desc, build, (x[:n], y[:n]), "cross_entropy" if classes else "mse", batch, steps, score


def measure(i: int, seed: int) -> dict:
    grid = []
    for lr in GRID:
        grid.append(train(i, seed, optimizer="adamw", lr=lr, schedule=ds.schedules.cosine())[0])
    auto, result = train(i, seed)
    curve = [r for r in result.history if r.get("sweep") and "smoothed" in r]
    return {"problem": i, "seed": seed, "desc": problem(i)[0], "grid": grid, "auto": auto,
            "lrs": [r["lr"] for r in curve], "smoothed": [r["smoothed"] for r in curve]}


def train(i: int, seed: int, **settings) -> tuple[float, ds.FitResult]:
    """Problem i trained once (fit's defaults unless `settings` say otherwise): its held-out score and result."""
    _, build, data, loss, batch, steps, score = problem(i)
    model = build(seed)
    result = ds.fit(model, data, loss=loss, batch_size=batch, max_steps=steps, seed=seed, progress=False,
                    doctor=False, **settings)
    return score(model), result


@contextmanager
def slower_sweep(per_decade: int):
    """auto's sweep with `per_decade` steps per tenfold lr increase, its memory and distances in decades kept."""
    names = ("PER_DECADE", "SMOOTHING", "MEMORY", "KEEP", "BELOW_LOWEST")
    saved = {name: getattr(sweep_lib, name) for name in names}
    smoothing = 1 - 1 / (sweep_lib.LR_FIND_DECADES * per_decade)
    changed = (per_decade, smoothing, round(1 / (1 - smoothing)), 3 * per_decade,
               round(saved["BELOW_LOWEST"] * per_decade / saved["PER_DECADE"]))
    try:
        for name, value in zip(names, changed):
            setattr(sweep_lib, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(sweep_lib, name, value)


def no_valley(lrs: list[float], smoothed: list[float]) -> bool:
    return read(lrs, smoothed, settled_from=MEMORY - 1)[1].endswith(NO_VALLEY)


def valley_pick(lrs: list[float], smoothed: list[float]) -> float:
    """Today's reading (fit/auto/sweep.py): lr_find's rule up to the settled lowest point, else from that point."""
    lr, rule = read(lrs, smoothed, settled_from=MEMORY - 1)
    return without_valley(lrs, smoothed, DEFAULT_LR)[0] if rule.endswith(NO_VALLEY) else lr


def default_without_valley(lrs: list[float], smoothed: list[float]) -> float:
    """The reading before issue 13's fourth pass: the calibrated default (capped at the last lr) without a valley."""
    return min(DEFAULT_LR, lrs[-1]) if no_valley(lrs, smoothed) else valley_pick(lrs, smoothed)


def lowest(lrs: list[float], smoothed: list[float]) -> float:
    return lrs[MEMORY - 1 + int(np.argmin(smoothed[MEMORY - 1:]))]


RULES = {"valley rule (today's)": valley_pick,
         "valley rule, the calibrated default without a valley (before)": default_without_valley,
         "lowest point": lowest,
         "lowest point / 2": lambda lrs, s: lowest(lrs, s) / 2,
         "geometric mean of valley and lowest": lambda lrs, s: math.sqrt(valley_pick(lrs, s) * lowest(lrs, s)),
         "valley rule x 1.6": lambda lrs, s: 1.585 * valley_pick(lrs, s)}


def at(grid: list[float], lr: float) -> float:
    """The grid's score interpolated at `lr` (log lr, log score), clamped to the grid's range."""
    position = math.log10(min(max(lr, GRID[0]), GRID[-1]))
    return math.exp(np.interp(position, np.log10(GRID), np.log(np.minimum(grid, 1e6))))


def line(name: str, gaps: np.ndarray) -> str:
    return (f"| {name} | {gaps.mean():+.0%} | {np.median(gaps):+.0%} | {np.mean(gaps <= 0.05):.0%} | "
            f"{gaps.max():+.0%} |")


def table(rows: list[dict]) -> None:
    print("| reading | mean | median | within 5% | worst |\n|---|---|---|---|---|")
    for name, rule in RULES.items():
        print(line(name, np.array([at(r["grid"], rule(r["lrs"], r["smoothed"])) / min(r["grid"]) - 1 for r in rows])))
    print(line("fit's defaults, trained (not interpolated)", np.array([r["auto"] / min(r["grid"]) - 1 for r in rows])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=18)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--save", help="write the runs (grid, auto's score and sweep curve) to this JSON file")
    parser.add_argument("--load", help="read the runs --save wrote instead of training them")
    parser.add_argument("--slower", type=int, help="retrain the no-valley runs with this many sweep steps a decade")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.load:
        rows = json.loads(Path(args.load).read_text())
    else:
        rows = [measure(i, seed) for i in range(args.problems) for seed in range(args.seeds)]
    if args.save:
        Path(args.save).write_text(json.dumps(rows))
    print(f"{len(rows)} runs: held-out loss at the rule's lr over the grid's best")
    table(rows)
    flat = [r for r in rows if no_valley(r["lrs"], r["smoothed"])]
    print(f"\nthe {len(flat)} runs whose curve shows no valley:")
    table(flat)
    if args.slower:
        with slower_sweep(args.slower):
            gaps = np.array([train(r["problem"], r["seed"])[0] / min(r["grid"]) - 1 for r in flat])
        print(line(f"fit's defaults, a sweep of {args.slower} steps a decade, trained", gaps))


if __name__ == "__main__":
    main()
