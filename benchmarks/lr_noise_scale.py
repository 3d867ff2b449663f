"""Does the gradient noise say which way auto's lr pick is off? Measured on three lists against their lr grids.

For every workload and seed of lr_auto_quality.py (8), fit_held_out.py (10 models) and lr_reading_rules.py (the
generated problems), fit's default run is started and read through a global optimizer step hook (torch's): the
batch gradients of the sweep's first WINDOW steps (lr 1e-4 .. 4e-4, where the weights barely move, so the batches
are samples at one point), the lr auto picks (the first step after the sweep), the BELOW_PICK sweep steps up to
the last one at no more than the pick, and WINDOW steps at each share of the run after the sweep in MID_RUN.
From k batch gradients g_i of batch size B at one point (McCandlish et al. 2018, "An empirical model of
large-batch training"): the noise tr(Sigma)/B = k/(k-1) (mean |g_i|^2 - |mean g|^2),
the signal |G|^2 = |mean g|^2 - noise/k, and B_simple/B = noise/signal (inf when the signal does not stand above
the noise). Also read: the noise's share of the batch gradients' energy (noise / mean |g_i|^2: near 0 clean, near
1 noise only) and, as the cheapest proxy, the spread of the batch gradient norms the loop already computes (sd over
mean). Each is set against log10(best grid lr / pick) per seed (Spearman's rho, per list); the best grid lr of a
seed is its grid's lowest score, refined by a parabola through it and its neighbours (log lr, log score). Then
picks rescaled by the noise as the large-batch model says the best lr moves (lr / (1 + B_simple/B)^a) are scored
by each list's grid interpolated at them, as lr_reading_rules.py scores its readings.

The grids come from the lists' own --save files; fit runs only up to the last window (a second or two a run).

    PYTHONPATH=src:. python benchmarks/lr_noise_scale.py --quality q.json --held h.json --generated g.json [...]
        [--save rows.json | --load rows.json]
"""
from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch.optim.optimizer import register_optimizer_step_pre_hook

import descend as ds
from benchmarks import fit_held_out, lr_auto_quality, lr_reading_rules
from benchmarks.lr_reading_rules import GRID, at
from descend.core.loop import LR_SCALE
from descend.fit.auto.sweep import PER_DECADE, START_LR

WINDOW = 8                     # batch gradients per reading
BELOW_PICK = 5                 # sweep steps read up to the pick (a decade of lr: the weights move)
MID_RUN = (0.25, 0.5, 0.75)    # where in the run after the sweep the later readings start
EXPONENTS = (0.25, 0.5, 1.0)   # lr / (1 + B_simple / B)^a; a = 1 is the large-batch model's own


class Enough(Exception):
    """Raised from the step hook once the last window is read: the rest of the run is not needed."""


class Reader:
    """A global step pre-hook that keeps the batch gradients of the sweep and of the windows after it, and finds the
    sweep's end and pick from the lr (the sweep raises it by 10x every PER_DECADE steps; the run after it starts at
    the pick, below)."""

    def __init__(self, total_steps: int):
        self.total, self.step, self.pick, self.end = total_steps, 0, None, None
        self.sweep: list[tuple[float, torch.Tensor]] = []   # (lr, batch gradient) of every sweep step
        self.windows: dict[str, list[torch.Tensor]] = {}
        self.norms: list[float] = []

    def __call__(self, optimizer, args, kwargs) -> None:
        lr = optimizer.param_groups[0]["lr"] / optimizer.param_groups[0].get(LR_SCALE, 1.0)
        if self.pick is None and lr < START_LR * 10 ** (self.step / PER_DECADE) * (1 - 1e-6):
            self.pick, self.end = lr, self.step
            self._sweep_windows()
        if self.pick is None or self._window() is not None:
            grads = [p.grad.reshape(-1).double() for g in optimizer.param_groups for p in g["params"]
                     if p.grad is not None]
            flat = torch.cat(grads).clone()
            if self.pick is None:
                self.sweep.append((lr, flat))
            else:
                self.windows.setdefault(self._window(), []).append(flat)
        self.step += 1
        if self.end is not None and self.step >= self._start(MID_RUN[-1]) + WINDOW:
            raise Enough

    def _sweep_windows(self) -> None:
        """The sweep's first WINDOW gradients, and the BELOW_PICK ones up to the last step at no more than the pick
        (where the run goes on from)."""
        self.windows["start"] = [g for _, g in self.sweep[:WINDOW]]
        self.windows["below pick"] = [g for lr, g in self.sweep if lr <= self.pick * (1 + 1e-9)][-BELOW_PICK:]
        self.norms = [float(g.norm()) for g in self.windows["start"]]
        self.sweep = []

    def _start(self, share: float) -> int:
        return self.end + int(share * (self.total - self.end))

    def _window(self) -> str | None:
        for share in MID_RUN:
            if 0 <= self.step - self._start(share) < WINDOW:
                return f"mid{share:g}"
        return None


def noise_reading(grads: list[torch.Tensor]) -> dict:
    """B_simple / B (inf when the signal does not stand above the noise) and the noise's share of the energy."""
    finite = [g for g in grads if torch.isfinite(g).all()]
    k = len(finite)
    if k < 3:
        return {"ratio": math.nan, "share": math.nan}
    stacked = torch.stack(finite)
    mean, energy = stacked.mean(0), float((stacked * stacked).sum(1).mean())
    noise = k / (k - 1) * (energy - float(mean @ mean))
    signal = float(mean @ mean) - noise / k
    return {"ratio": noise / signal if signal > 0 else math.inf, "share": noise / energy}


def read_run(train, total_steps: int) -> dict:
    """Start fit's default run (`train()` calls fit) and read it: the pick and each window's noise."""
    reader = Reader(total_steps)
    handle = register_optimizer_step_pre_hook(reader)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train()
    except Enough:
        pass
    finally:
        handle.remove()
    norms = np.array(reader.norms)
    return {"pick": reader.pick, "norm_spread": float(norms.std(ddof=1) / norms.mean()),
            **{name: noise_reading(grads) for name, grads in reader.windows.items()}}


def quality_rows(grids: dict) -> list[dict]:
    rows = []
    for name, (build, batch, steps, decay, _) in lr_auto_quality.TASKS.items():
        runs = np.array(grids[name])[:, :, 0]   # lr, seed
        for seed in lr_auto_quality.SEEDS:
            problem = build(seed)
            read = read_run(lambda: ds.fit(problem.model, problem.train, loss=problem.loss, max_steps=steps,
                                           batch_size=batch, weight_decay=decay, seed=seed, progress=False,
                                           doctor=False), steps)
            rows.append({"list": "lr_auto_quality", "name": name, "seed": seed, "grid": runs[:, seed].tolist(),
                         "mean_grid": runs.mean(1).tolist(), **read})
    return rows


def held_rows(saved: dict) -> list[dict]:
    rows = []
    for name, build in fit_held_out.MODELS.items():
        runs = np.array(saved[name]["grid_runs"])[:, :, 0]
        for seed in range(runs.shape[1]):
            case = build(seed)
            read = read_run(lambda: ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=seed,
                                           progress=False, doctor=False), fit_held_out.steps_of(case))
            rows.append({"list": "fit_held_out", "name": name, "seed": seed, "grid": runs[:, seed].tolist(),
                         "mean_grid": runs.mean(1).tolist(), **read})
    return rows


def generated_rows(saved: list[dict]) -> list[dict]:
    rows = []
    for run in saved:
        number, seed = run.get("problem", run.get("i")), run["seed"]
        _, build, data, loss, batch, steps, _ = lr_reading_rules.problem(number)
        model = build(seed)
        read = read_run(lambda: ds.fit(model, data, loss=loss, batch_size=batch, max_steps=steps, seed=seed,
                                       progress=False, doctor=False), steps)
        rows.append({"list": "generated", "name": f"{number}/{seed}", "seed": seed, "grid": run["grid"],
                     "mean_grid": run["grid"], **read})
    return rows


def best_lr(scores: list[float]) -> float:
    """The grid's lowest score's lr, moved to the vertex of a parabola through it and its neighbours (log-log)."""
    logs = np.log(np.minimum(scores, 1e6))
    i = int(np.argmin(logs))
    step = math.log10(GRID[1] / GRID[0])
    if 0 < i < len(logs) - 1 and logs[i - 1] - 2 * logs[i] + logs[i + 1] > 0:
        offset = 0.5 * (logs[i - 1] - logs[i + 1]) / (logs[i - 1] - 2 * logs[i] + logs[i + 1])
        return GRID[i] * 10 ** (offset * step)
    return GRID[i]


def pick_error(row: dict) -> float:
    """log10(best grid lr / auto's pick): above 0 where the pick was too low."""
    return math.log10(best_lr(row["grid"]) / row["pick"])


def readings(row: dict) -> dict:
    """The statistics set against the pick's error, each as a number (log10 of B_simple/B, capped at 1e3)."""
    values = {"log10 B_simple/B, sweep's start": _log_ratio(row["start"]["ratio"]),
              "noise share, sweep's start": row["start"]["share"],
              "batch-norm spread, sweep's start": row["norm_spread"],
              "log10 B_simple/B, below the pick": _log_ratio(row["below pick"]["ratio"])}
    for share in MID_RUN:
        values[f"noise share at {share:.0%} of the run"] = row.get(f"mid{share:g}", {}).get("share", math.nan)
    return values


def _log_ratio(ratio: float) -> float:
    return math.log10(min(max(ratio, 1e-3), 1e3)) if not math.isnan(ratio) else math.nan


def correlation_table(rows: list[dict], lists: list[str]) -> None:
    print("Spearman's rho of log10(best grid lr / auto's pick), per seed, with each reading (p in brackets):")
    print("| reading | " + " | ".join(f"{name} (n)" for name in lists) + " |")
    print("|---|" + "---|" * len(lists))
    for reading in readings(rows[0]):
        cells = []
        for name in lists:
            chosen = [r for r in rows if r["list"] == name and math.isfinite(readings(r)[reading])]
            x = [readings(r)[reading] for r in chosen]
            y = [pick_error(r) for r in chosen]
            rho, p = spearmanr(x, y)
            cells.append(f"{rho:+.2f} ({p:.2g}, {len(chosen)})")
        print(f"| {reading} | " + " | ".join(cells) + " |")
    medians = [np.median([pick_error(r) for r in rows if r["list"] == name]) for name in lists]
    print("| median log10(best / pick) | " + " | ".join(f"{m:+.2f}" for m in medians) + " |")


def gaps(rows: list[dict], scale) -> np.ndarray:
    """Each workload's held-out score at pick x scale(row) over its grid's best (the mean over its seeds of the
    per-seed grids interpolated, over the best mean; a generated run is its own workload)."""
    names = list(dict.fromkeys(r["name"] for r in rows))
    out = []
    for name in names:
        runs = [r for r in rows if r["name"] == name]
        score = np.mean([at(r["grid"], r["pick"] * scale(r)) for r in runs])
        out.append(score / min(runs[0]["mean_grid"]) - 1)
    return np.array(out)


def _bounded(ratio: float) -> float:
    """B_simple/B for a rescaling: inf (no signal above the noise) as 1e3; NaN (no reading) as 0, no change."""
    return 0.0 if math.isnan(ratio) else min(max(ratio, 0.0), 1e3)


def rescaled_table(rows: list[dict], lists: list[str]) -> None:
    rules = {"the pick (today)": lambda r: 1.0}
    for where, words in (("start", "the sweep's start"), ("below pick", "the steps below the pick")):
        for a in EXPONENTS:
            rules[f"pick / (1 + B_simple/B)^{a:g}, read at {words}"] = (
                lambda r, a=a, where=where: 1 / (1 + _bounded(r[where]["ratio"])) ** a)
    print("\nheld-out score at the rescaled pick over the grid's best (interpolated in the grid): median, "
          "within 5%")
    print("| pick | " + " | ".join(lists) + " |")
    print("|---|" + "---|" * len(lists))
    for name, scale in rules.items():
        cells = [gaps([r for r in rows if r["list"] == lst], scale) for lst in lists]
        print(f"| {name} | " + " | ".join(f"{np.median(g):+.1%}, {np.mean(g <= 0.05):.0%} of {len(g)}"
                                          for g in cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality", help="lr_auto_quality.py's --save file (its grid)")
    parser.add_argument("--held", help="fit_held_out.py's --save file")
    parser.add_argument("--generated", nargs="*", default=[], help="lr_reading_rules.py's --save files")
    parser.add_argument("--save", help="write the measured rows to this JSON file")
    parser.add_argument("--load", help="read rows --save wrote instead of measuring")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.load:
        rows = json.loads(Path(args.load).read_text())
    else:
        rows = quality_rows(json.loads(Path(args.quality).read_text())) if args.quality else []
        rows += held_rows(json.loads(Path(args.held).read_text())) if args.held else []
        for path in args.generated:
            rows += generated_rows(json.loads(Path(path).read_text()))
    if args.save:
        Path(args.save).write_text(json.dumps(rows))
    lists = list(dict.fromkeys(r["list"] for r in rows))
    correlation_table(rows, lists)
    rescaled_table(rows, lists)


if __name__ == "__main__":
    main()
