"""Where a default fit's time goes beyond its steps, on loop_overhead.py's workload: the doctor's reading of the
data, its per-layer samples, the model on the comparison rows, the diagnosis, auto's sweep snapshots, next to
the whole fit and a hand loop with fit's optimizer (loop_overhead.hand_loop).

Each piece is timed by wrapping the function that does it (CPU time of this process, one torch thread, as
loop_overhead.py times; medians over the runs); the
per-layer samples by the difference between runs that sample every step and runs that sample none, divided by
the steps. A ledger to find what to work on, not a comparison: loop_overhead.py is the bar's measure.
Usage: python benchmarks/fit_ledger.py [--runs N]
"""
from __future__ import annotations

import argparse
import functools
import importlib
import os
import statistics
import time

from descend.doctor import instruments
from loop_overhead import EPOCHS, STEPS, descend_fit, hand_loop, workload

watch = importlib.import_module("descend.doctor.watch")
sweep = importlib.import_module("descend.fit.auto.sweep")
PIECES = {"the doctor's reading of the data (Doctor._read)": (watch.Doctor, "_read"),
          "the model on the comparison rows (Doctor._compare)": (watch.Doctor, "_compare"),
          "the diagnosis (diagnose)": (watch, "diagnose"),
          "  of which the references (reference.references)": (importlib.import_module("descend.doctor.advice"),
                                                                 "references"),
          "auto's sweep snapshots (Sweep._keep, all of them)": (sweep.Sweep, "_keep")}


def _timed(owner, name: str, spent: list[float]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[-1] += time.process_time() - start
    setattr(owner, name, wrapper)


def _per_sample(X, y, runs: int) -> float:
    """Seconds one per-layer sample adds to its step: runs sampling every step against runs sampling none."""
    schedule = instruments.sampled
    times = {True: [], False: []}
    try:
        for _ in range(runs):
            for every_step in (True, False):
                instruments.sampled = (lambda step, every: every_step)
                times[every_step].append(descend_fit(X, y, EPOCHS, optimizer="adamw", lr=1e-3))
    finally:
        instruments.sampled = schedule
    return (statistics.median(times[True]) - statistics.median(times[False])) / STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    spent = {label: [0.0] for label in PIECES}   # the first entry takes the warm-up fit's time
    for label, (owner, name) in PIECES.items():
        _timed(owner, name, spent[label])
    X, y, choice = workload()
    whole, hand = [], []
    for _ in range(args.runs):
        for label in PIECES:
            spent[label].append(0.0)
        whole.append(descend_fit(X, y, EPOCHS))
        hand.append(hand_loop(X, y, EPOCHS, choice))
    samples = sum(instruments.sampled(step, 25) for step in range(STEPS))
    print(f"{STEPS}-step default fit, {args.runs} runs, medians, CPU ms, 1 thread, load "
          f"{os.getloadavg()[0]:.1f}")
    print(f"| piece | ms per run |\n|---|---|\n| the whole fit | {statistics.median(whole) * 1e3:.2f} |\n"
          f"| a hand loop with fit's optimizer (loop_overhead.hand_loop) | "
          f"{statistics.median(hand) * 1e3:.2f} |")
    for label, values in spent.items():
        print(f"| {label} | {statistics.median(values[1:]) * 1e3:.3f} |")
    sample = _per_sample(X, y, max(3, args.runs // 2))
    print(f"| the per-layer samples ({samples} of them, {sample * 1e6:.0f} us each) | {samples * sample * 1e3:.3f} |")


if __name__ == "__main__":
    main()
