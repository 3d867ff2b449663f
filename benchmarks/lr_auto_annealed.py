"""Does what an lr reaches when annealed, over a short segment after fit's sweep, order the lrs as their full runs do?

lr_auto_probe.py runs fit's defaults in full at 0.25x, 1x and 4x the sweep's pick (`--save runs.json`). Here, for
the same runs, each factor trains from the pick's own kept weights for a segment of SHARE of the steps left after
the sweep, on a cosine that itself decays to 0, and the segment's end is read: the validation loss where the list
passes val= (fit_held_out lists), else the loss on a fifth of the training rows held out of the sweep and the
segment (lr_auto_quality's workloads, which have no validation rows; their sweep sees the other four fifths, so the
pick is set to the full run's). Printed: how often the readings order 4x and 0.25x against 1x as the full runs'
held-out scores do; and the reading as a rule, free of its cost: the factor with the lowest reading keeps the run
(its full run's score), alone or only where its row losses lie 2 standard errors below 1x's (KeepBest's paired
test); within 5% of the grid's best and the geometric mean per list, against 1x (main) and the best factor per run.

    PYTHONPATH=src:. python benchmarks/lr_auto_annealed.py --full runs.json [--share 0.1] [--lists q,1,3,5]
        [--save segments.json | --load segments.json]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
from pathlib import Path

import torch

import descend as ds
from benchmarks import lr_auto_quality
from benchmarks.lr_auto_probe import FACTORS, GRID_BEST, SEEDS, summary
from descend.fit.auto import sweep
from descend.fit.auto.best import standard_errors

HELD = 0.2            # share of lr_auto_quality's training rows held out of the sweep and the segment
SIGNIFICANCE = 2.0    # standard errors of the paired row losses that a factor must beat 1x by (KeepBest's)


class SegmentEnd(BaseException):
    """Raised at the segment's last step, past fit's own handlers, once the reading is taken."""


@contextlib.contextmanager
def annealed_segment(lr: float, share: float, held: list | None, seen: dict):
    """fit's sweep, then `lr` on a cosine to 0 over `share` of the steps left, from the pick's kept weights; at its
    end the loss and the row losses (validation rows, or the `held` batches) go to `seen` and the run stops."""
    choose, step_end, needs_sync = sweep.Sweep._choose, sweep.Sweep.on_step_end, sweep.Sweep.needs_sync

    def chosen(self, _, schedule, how, steps):
        seen["steps"] = max(5, round(share * (self.total - steps)))
        choose(self, lr, schedule, how, steps)
        self.total = steps + seen["steps"]

    def ended(self, state, record):
        step_end(self, state, record)
        if not self.sweeping and state.step >= self.ended_at + seen["steps"]:
            seen["end"] = end_losses(state.task, held)
            raise SegmentEnd

    sweep.Sweep._choose, sweep.Sweep.on_step_end = chosen, ended
    sweep.Sweep.needs_sync = lambda self, state: True   # every step is told as it ends: the reading is that step's
    try:
        yield
    except SegmentEnd:
        pass
    finally:
        sweep.Sweep._choose, sweep.Sweep.on_step_end, sweep.Sweep.needs_sync = choose, step_end, needs_sync


def end_losses(task, held: list | None) -> dict:
    """The loss on the validation rows (or the `held` rows where fit has no validation data), and each row's (None
    where the loss cannot be taken a row at a time)."""
    kept = task.val_source
    if held is not None:
        task.val_source = held
    try:
        try:
            rows = [float(v) for v in task.validation_row_losses()]
        except (RuntimeError, ValueError, TypeError, IndexError):
            rows = None
        return {"loss": task.evaluate()["val_loss"], "rows": rows}
    finally:
        task.val_source = kept


def segment(which: str, name: str, seed: int, lr: float, share: float) -> dict | None:
    """The losses at the end of one annealed segment at `lr` (end_losses; None when it did not finish)."""
    torch.set_num_threads(1)
    seen = {}
    train, held = quality_run(name, seed) if which == "q" else (held_out_run(which, name, seed), None)
    with annealed_segment(lr, share, held, seen):
        train()
    return seen.get("end")


def held_out_run(which: str, name: str, seed: int):
    """fit's defaults on one model of a fit_held_out list, as the list runs it, to call."""
    case = importlib.import_module("benchmarks.fit_held_out" + ("" if which == "1" else which)).MODELS[name](seed)
    return lambda: ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=seed, progress=False)


def quality_run(name: str, seed: int) -> tuple:
    """fit's defaults on one lr_auto_quality workload without HELD of its training rows (to call), and those rows."""
    build, batch, steps, decay, _ = next(v for k, v in lr_auto_quality.TASKS.items() if k.split()[0] == name)
    problem = build(seed)
    x, y = problem.train
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int((1 - HELD) * len(x))
    kept, held = order[:cut], order[cut:]
    return (lambda: ds.fit(problem.model, (x[kept], y[kept]), loss=problem.loss, max_steps=steps, batch_size=batch,
                           weight_decay=decay, seed=seed, progress=False, doctor=False)), [(x[held], y[held])]


def measure(full: dict, lists: list[str], share: float) -> dict:
    """Per factor and run key, the segment's end losses (the pick is the full run's, as lr_auto_probe saved it)."""
    segments = {str(f): {} for f in FACTORS}
    for which in lists:
        for name in GRID_BEST[which]:
            for seed in SEEDS:
                key = f"{which}/{name}/{seed}"
                for factor in FACTORS:
                    segments[str(factor)][key] = segment(which, name, seed, full["1.0"][key]["pick"] * factor, share)
                print(key, *(f"{reading(segments[str(f)][key]):.4g}" for f in FACTORS), flush=True)
    return segments


def reading(end: dict | None) -> float:
    """The segment's end loss; inf where the segment did not finish or the loss is not finite."""
    return end["loss"] if end is not None and math.isfinite(end["loss"]) else math.inf


def beats_one(segments: dict, factor: str, key: str) -> bool:
    """Whether `factor`'s row losses lie SIGNIFICANCE standard errors below 1x's (paired over the same rows); a
    finished segment beats one that did not finish, and rows that cannot say leave 1x (KeepBest's convention)."""
    ours, ones = segments[factor][key], segments["1.0"][key]
    if not math.isfinite(reading(ours)) or not math.isfinite(reading(ones)):
        return math.isfinite(reading(ours))
    if ours["rows"] is None or ones["rows"] is None:
        return False
    differences = torch.tensor(ones["rows"], dtype=torch.float64) - torch.tensor(ours["rows"], dtype=torch.float64)
    return standard_errors(differences) >= SIGNIFICANCE


def report(full: dict, segments: dict, lists: list[str]) -> None:
    """Print the orderings and the rules of the module docstring."""
    factors = [str(f) for f in FACTORS]
    keys = [k for k in segments["1.0"] if k.split("/")[0] in lists]
    score = lambda f, k: full[f][k]["score"]
    lowest = lambda k: min(factors, key=lambda f: reading(segments[f][k]))
    print(f"the annealed segments order the factor against 1x as the full runs' scores do ({len(keys)} runs):")
    for factor in (factors[2], factors[0]):
        agree = sum((reading(segments[factor][k]) < reading(segments["1.0"][k])) == (score(factor, k) <
                                                                                     score("1.0", k)) for k in keys)
        print(f"  {float(factor):.2g}x: {agree}/{len(keys)}")
    rules = {"1x (main)": lambda k: "1.0", "the best factor per run": lambda k: min(factors, key=lambda f: score(f, k)),
             "the lowest reading": lowest,
             f"the lowest, if {SIGNIFICANCE:g} SE below 1x": lambda k: (lowest(k) if beats_one(segments, lowest(k), k)
                                                                        else "1.0")}
    print("the reading as a rule, free of its cost (within 5% of the grid's best, geometric mean):")
    for label, rule in rules.items():
        cells = []
        for which in lists:
            ratios = [sum(score(rule(k), k) for k in (f"{which}/{name}/{s}" for s in SEEDS)) / len(SEEDS) / best
                      for name, best in GRID_BEST[which].items()]
            cells.append(f"{which}: {summary(ratios)}")
        print(f"  {label:32s} " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", type=Path, required=True, help="lr_auto_probe.py's --save file (the full runs)")
    parser.add_argument("--share", type=float, default=0.1, help="the segment's share of the steps after the sweep")
    parser.add_argument("--lists", default="q,1,3,5", help="q (lr_auto_quality) and 1..5 (fit_held_out lists)")
    parser.add_argument("--save", type=Path, help="write the segments' end losses here")
    parser.add_argument("--load", type=Path, help="read segments written by --save instead of running")
    args = parser.parse_args()
    lists = args.lists.split(",")
    full = json.loads(args.full.read_text())
    missing = [w for w in lists if not any(k.startswith(w + "/") for k in full["1.0"])]
    if missing:
        parser.error(f"{args.full} holds no runs of list(s) {', '.join(missing)}; run lr_auto_probe.py --lists "
                     f"{','.join(lists)} --save {args.full} first")
    segments = json.loads(args.load.read_text()) if args.load else measure(full, lists, args.share)
    if args.save:
        args.save.write_text(json.dumps(segments))
    report(full, segments, lists)


if __name__ == "__main__":
    main()
