"""Can the full-horizon evidence that tells 0.25x, 1x and 4x the sweep's pick apart be had in under 1.8 runs?

auto20 found that choosing among three full runs (0.25x, 1x, 4x the pick, from the pick's kept weights) by their
own validation loss gains five workloads and loses none, at 3 runs. Here, from lr_auto_probe.py's full runs
(`--full runs.json`, which hold each run's validation losses) and, for the late fork, runs whose cosine is scaled
from a share of the steps after the sweep on (`--measure-fork P --fork fork.json`), each rule below is scored
without running it again: a candidate that a rule lets finish ends exactly as its full run did (the same weights,
batches and lr at every step), and one that it stops early costs only the steps it took. A candidate is read by
the lowest validation loss it has shown so far (what KeepBest would keep); ties keep 1x. Only the lists with
validation data (fit_held_out, 3, 5) can be chosen on: lr_auto_quality passes none, so every rule leaves it as
it is.
- main: 1x alone.
- (a) two full runs: 1x and one other factor, 0.25x where the sweep's smoothed loss fell by more than DEEP from
  where it settled to its lowest (a deep valley, whose pick fits the rows harder: auto15, auto19), else 4x.
- (b) a late fork: 1x up to P of the steps after the sweep, then the cosine's lr times 0.25 and/or 4 (`--branches`)
  from the trunk's weights to the end beside 1x's own; the lowest reading keeps (each branch with 1x, and all).
- (c) successive halving: 0.25x, 1x and 4x each on its full-horizon cosine; at 0.2 of the steps after the sweep
  the worst reading stops, at 0.5 the worse of the two left; the last one finishes with its state. Other pairs of
  shares (HALVINGS) show how much the outcome rests on these two; a pair at one share races three and keeps one.
Printed: how often the readings at a share of the run agree with the held-out scores; per rule and list: within
5% of the grid's best and the geometric mean; the workloads that cross 5% against main
(gained, lost); the mean compute in runs of the budget (the sweep once, then every step each candidate took).

    PYTHONPATH=src:. python benchmarks/lr_auto_probe.py --lists q,1,3,5 --save runs.json
    PYTHONPATH=src:. python benchmarks/lr_auto_race.py --full runs.json --measure-fork 0.6 --fork fork.json \
        [--branches 0.25,4]
    PYTHONPATH=src:. python benchmarks/lr_auto_race.py --full runs.json --fork fork.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path

from benchmarks.lr_auto_probe import FACTORS, GRID_BEST, SEEDS, fit_once, summary
from descend.fit.auto import sweep

LOW, ONE, HIGH = (str(f) for f in FACTORS)
DEEP = 0.5               # (a): the fall of the sweep's curve that sends the second run to 0.25x
# (c): the shares of the steps after the sweep where a candidate stops (the first pair: the rule named)
HALVINGS = ((0.2, 0.5), (0.1, 0.4), (0.1, 0.7), (0.2, 0.6), (0.25, 0.5), (0.3, 0.6), (0.4, 0.4), (0.3, 0.3))
VALIDATED = ("1", "3", "5")


@contextlib.contextmanager
def forked(scale: float, share: float):
    """fit's sweep and pick as always; from `share` of the steps after the sweep on, the cosine's lr times `scale`."""
    original = sweep.Sweep.multiplier

    def multiplier(self, step):
        value = original(self, step)
        if self.choice is not None and self.total and self.after is None:
            value *= scale if step >= self.ended_at + round(share * (self.total - self.ended_at)) else 1.0
        return value
    sweep.Sweep.multiplier = multiplier
    try:
        yield
    finally:
        sweep.Sweep.multiplier = original


def measure_fork(share: float, scales: list[str]) -> dict:
    """Per scale (of 0.25x, 4x) and run key, the score and validation losses of the run forked at `share`."""
    runs = {"share": share, **{scale: {} for scale in scales}}
    for which in VALIDATED:
        for name in GRID_BEST[which]:
            for seed in SEEDS:
                key = f"{which}/{name}/{seed}"
                for scale in scales:
                    with forked(float(scale), share):
                        score, history = fit_once(which, name, seed)
                    runs[scale][key] = dict(score=score, vals=[(i, r["val_loss"]) for i, r in enumerate(history)
                                                               if "val_loss" in r])
                print(key, *(f"{runs[s][key]['score']:.4g}" for s in scales), flush=True)
    return runs


def reading(run: dict, upto: float) -> float:
    """The lowest finite validation loss the run showed up to step `upto`; inf when none."""
    values = [v for step, v in run["vals"] if step <= upto and v is not None and math.isfinite(v)]
    return min(values, default=math.inf)


def best(candidates: dict, upto: float) -> str:
    """The factor whose run reads lowest up to step `upto` (1x on a tie)."""
    return min(candidates, key=lambda f: (reading(candidates[f], upto), f != ONE))


def main_rule(full: dict, key: str) -> tuple[dict, float]:
    return full[ONE][key], 1.0


def two_runs(full: dict, key: str) -> tuple[dict, float]:
    """(a): 1x and the factor the sweep's curve points to, both in full."""
    run = full[ONE][key]
    other = LOW if (run["fell"] or 0.0) > DEEP else HIGH
    kept = best({ONE: run, other: full[other][key]}, math.inf)
    return full[kept][key], 1 + after_sweep(run)


def halving(halves: tuple[float, float]):
    """(c): three candidates, the worst stopped at each of `halves` (both at one share: the best of three there goes
    on alone); the compute of every step each took."""
    def rule(full: dict, key: str) -> tuple[dict, float]:
        run = full[ONE][key]
        left = {f: full[f][key] for f in (LOW, ONE, HIGH)}
        spent, done = 0.0, 0.0
        for share in halves:
            spent += len(left) * (share - done)
            del left[max(left, key=lambda f: (reading(left[f], step_at(run, share)), f != ONE))]
            done = share
        spent += len(left) * (1 - done)
        kept = best(left, math.inf)
        return full[kept][key], 1 + (spent - 1) * after_sweep(run)
    return rule


def fork_rule(fork: dict, scales: tuple[str, ...]):
    """(b): 1x to the fork, then 1x and `scales` from its weights to the end; the lowest reading keeps."""
    def rule(full: dict, key: str) -> tuple[dict, float]:
        run = full[ONE][key]
        branches = {ONE: run, **{s: fork[s][key] for s in scales}}
        kept = best(branches, math.inf)
        return branches[kept], 1 + len(scales) * (1 - fork["share"]) * after_sweep(run)
    return rule


def after_sweep(run: dict) -> float:
    """The share of the run's steps that come after the sweep."""
    return (run["total"] - run["at"]) / run["total"]


def step_at(run: dict, share: float) -> float:
    """The step at `share` of the steps after the sweep."""
    return run["at"] + share * (run["total"] - run["at"])


def agreement(full: dict) -> None:
    """How often the readings at a share of the steps after the sweep name the factor whose full run scores best
    held out (of three), and order 4x and 0.25x against 1x as their scores do: where halving may stop a run."""
    keys = [k for k in full[ONE] if k.split("/")[0] in VALIDATED]
    score = lambda f, k: full[f][k]["score"]
    print(f"the readings at a share of the steps after the sweep agree with the held-out scores (of {len(keys)}):")
    for share in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        at = lambda f, k: reading(full[f][k], step_at(full[ONE][k], share))
        named = sum(min(FACTORS, key=lambda f: at(str(f), k)) == min(FACTORS, key=lambda f: score(str(f), k))
                    for k in keys)
        pairs = [sum((at(f, k) < at(ONE, k)) == (score(f, k) < score(ONE, k)) for k in keys) for f in (HIGH, LOW)]
        print(f"  {share:g}: the best of three {named}, 4x against 1x {pairs[0]}, 0.25x against 1x {pairs[1]}")


def report(full: dict, rules: dict) -> None:
    """Per rule, the lists' counts, the workloads that cross 5% against main, and the mean compute."""
    ratios = {label: {} for label in rules}
    for label, rule in rules.items():
        costs = []
        for which in VALIDATED:
            for name, grid in GRID_BEST[which].items():
                kept = [rule(full, f"{which}/{name}/{seed}") for seed in SEEDS]
                costs += [cost for _, cost in kept]
                ratios[label][f"{which}/{name}"] = sum(run["score"] for run, _ in kept) / len(kept) / grid
        cells = "; ".join(f"{w}: {summary([r for k, r in ratios[label].items() if k.startswith(w + '/')])}"
                          for w in VALIDATED)
        print(f"{label} (compute {sum(costs) / len(costs):.2f} runs): {cells}")
        base = ratios["main (1x)"]
        for word, moved in (("gained", lambda k: ratios[label][k] <= 1.05 < base[k]),
                            ("lost", lambda k: base[k] <= 1.05 < ratios[label][k])):
            names = [f"{k} {base[k]:.3f} -> {ratios[label][k]:.3f}" for k in base if moved(k)]
            print(f"    {word}: {', '.join(names) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", type=Path, required=True, help="lr_auto_probe.py's --save file (the full runs)")
    parser.add_argument("--fork", type=Path, help="the forked runs: read, or written with --measure-fork")
    parser.add_argument("--measure-fork", type=float, metavar="P", help="run the forks at share P and save them")
    parser.add_argument("--branches", default="0.25,4", help="the forks' scales to run: 0.25 and/or 4")
    args = parser.parse_args()
    full = json.loads(args.full.read_text())
    missing = [w for w in VALIDATED if not any(k.startswith(w + "/") and "vals" in r for k, r in full[ONE].items())]
    if missing:
        parser.error(f"{args.full} holds no validation losses of list(s) {', '.join(missing)}; run "
                     f"lr_auto_probe.py --lists {','.join(VALIDATED)} --save {args.full} first")
    if args.measure_fork is not None:
        if args.fork is None:
            parser.error("--measure-fork needs --fork FILE to save the forked runs in")
        named = {"0.25": LOW, "4": HIGH}
        unknown = [b for b in args.branches.split(",") if b not in named]
        if unknown:
            parser.error(f"--branches {args.branches}: {', '.join(unknown)} is not a branch; use 0.25 and/or 4")
        scales = [named[b] for b in args.branches.split(",")]
        args.fork.write_text(json.dumps(measure_fork(args.measure_fork, scales)))
    rules = {"main (1x)": main_rule, f"(a) 1x + (0.25x if fell > {DEEP:g} else 4x)": two_runs,
             **{f"(c) halving at {a:g}, {b:g}": halving((a, b)) for a, b in HALVINGS}}
    if args.fork is not None:
        fork = json.loads(args.fork.read_text())
        share = fork["share"]
        ran = tuple(scale for scale in (LOW, HIGH) if fork.get(scale))
        for scales in [(scale,) for scale in ran] + ([ran] if len(ran) > 1 else []):
            words = ", ".join(f"{float(f):.2g}x" for f in sorted((ONE, *scales), key=float))
            rules[f"(b) fork at {share:g}: {words}"] = fork_rule(fork, scales)
    agreement(full)
    report(full, rules)


if __name__ == "__main__":
    main()
