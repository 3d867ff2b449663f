"""Does averaging the weights of a run's tail make fit's automatic lr as good as a grid's best? Measured on
generated problems (benchmarks/lr_reading_rules.py's), not the bench's.

Every run (AdamW + cosine at the 9 grid lrs, and fit's defaults) carries a `TailAverages` callback that keeps,
beside the weights the run ends with, a uniform average of the parameters over the last 20% and the last 50% of
the run's steps and an exponential moving average whose memory is 10% of the run. Each is scored on the held-out
rows; the gap is to the grid's best final (not averaged) score, the plain grid a user would run instead, and, for
a like-for-like view, to the grid's best score under the same averaging.

    PYTHONPATH=src:. python benchmarks/tail_average.py [--problems 12] [--seeds 2]
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch

import descend as ds
from benchmarks.lr_reading_rules import GRID, problem

TAIL_SHARES = (0.2, 0.5)   # uniform averages over these last shares of the run
EMA_SHARE = 0.1            # the moving average's memory, as a share of the run


class TailAverages(ds.loop.Callback):
    """Keeps the tail averages of the module docstring for a run of `total` steps; `variants()` lists them as
    {name: parameter tensors} beside the final weights."""

    def __init__(self, model: torch.nn.Module, total: int):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.total = total
        self.starts = {f"tail {share:.0%}": math.ceil((1 - share) * total) for share in TAIL_SHARES}
        self.sums = {name: None for name in self.starts}
        self.counts = dict.fromkeys(self.starts, 0)
        self.decay = 1 - 1 / (EMA_SHARE * total)
        self.ema = None

    def on_step_end(self, state, record) -> None:
        now = [p.detach().clone() for p in self.params]
        for name, start in self.starts.items():
            if state.step > start:
                self.sums[name] = now if self.sums[name] is None else [s + p for s, p in zip(self.sums[name], now)]
                self.counts[name] += 1
        self.ema = now if self.ema is None else [self.decay * e + (1 - self.decay) * p for e, p in zip(self.ema, now)]

    def variants(self) -> dict[str, list[torch.Tensor]]:
        out = {"final": [p.detach().clone() for p in self.params]}
        for name, total in self.sums.items():
            if total is not None:
                out[name] = [s / self.counts[name] for s in total]
        out[f"ema {EMA_SHARE:.0%}"] = self.ema
        return out


def scores(model: torch.nn.Module, averages: TailAverages, score) -> dict[str, float]:
    """The held-out score of each variant's weights (the model is left with its final weights)."""
    out = {}
    variants = averages.variants()
    for name, weights in variants.items():
        with torch.no_grad():
            for p, w in zip(averages.params, weights):
                p.copy_(w)
        out[name] = score(model)
    with torch.no_grad():
        for p, w in zip(averages.params, variants["final"]):
            p.copy_(w)
    return out


def trained(build, seed: int, train, score, settings: dict, **how) -> tuple[dict[str, float], object]:
    model = build(seed)
    averages = TailAverages(model, settings["max_steps"])
    result = ds.fit(model, train, callbacks=[averages], **settings, **how)
    return scores(model, averages, score), result


def measure(i: int, seed: int) -> dict:
    desc, build, train, loss, batch, steps, score = problem(i)
    settings = dict(loss=loss, batch_size=batch, max_steps=steps, seed=seed, progress=False, doctor=False)
    grid = [trained(build, seed, train, score, settings, optimizer="adamw", lr=lr,
                    schedule=ds.schedules.cosine())[0] for lr in GRID]
    auto, result = trained(build, seed, train, score, settings)
    return {"desc": desc, "grid": grid, "auto": auto, "lr": result.choice.lr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for i in range(args.problems):
        for seed in range(args.seeds):
            rows.append(measure(i, seed))
            r = rows[-1]
            best = min(g["final"] for g in r["grid"])
            print(f"{r['desc']} seed {seed}: auto lr {r['lr']:.2g}, " + ", ".join(
                f"{k} {v / best - 1:+.0%}" for k, v in r["auto"].items()), flush=True)
    print(f"\n{len(rows)} runs: fit's defaults, held-out loss over the grid's best final score (and over the grid's "
          "best under the same averaging)")
    print("| weights scored | mean | median | within 5% | worst | like-for-like mean | grid's best lr moved |")
    print("|---|---|---|---|---|---|---|")
    for name in rows[0]["auto"]:
        plain = np.array([r["auto"][name] / min(g["final"] for g in r["grid"]) - 1 for r in rows])
        same = np.array([r["auto"][name] / min(g[name] for g in r["grid"]) - 1 for r in rows])
        moved = np.mean([np.argmin([g[name] for g in r["grid"]]) != np.argmin([g["final"] for g in r["grid"]])
                         for r in rows])
        print(f"| {name} | {plain.mean():+.1%} | {np.median(plain):+.1%} | {np.mean(plain <= 0.05):.0%} | "
              f"{plain.max():+.0%} | {same.mean():+.1%} | {moved:.0%} |")


if __name__ == "__main__":
    main()
