"""Where a default fit's time goes beyond its steps, on loop_overhead.py's workload: the doctor's reading of the
data, its per-layer samples, the model on the comparison rows, the diagnosis, auto's sweep snapshots and its
collapse watch, next to the whole fit and a hand loop with fit's optimizer (loop_overhead.hand_loop).

Each piece is timed by wrapping the function that does it (CPU time of this process, one torch thread, as
loop_overhead.py times; medians over the runs); the
per-layer samples by the difference between runs that sample every step and runs that sample none, divided by
the steps; fit's own per-step cost (its loop, batch stream, gradient norm and device-side NaN guard) by the
slope over run lengths of fit without sweep or doctor against the lean hand loop, shown as ms per run. A
ledger to find what to work on, not a comparison: loop_overhead.py is the bar's measure.
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
          "auto's sweep snapshots (Sweep._keep, all of them)": (sweep.Sweep, "_keep"),
          "auto's collapse watch (Sweep._read: the restart point and 7 checks)": (sweep.Sweep, "_read")}


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


def _per_step(X, y, choice, runs: int) -> tuple[float, float]:
    """Seconds one more step costs in fit with the optimizer and lr given and the doctor off (no sweep, no
    doctor: fit's own loop) and in the lean hand loop (fit's optimizer stepped as fit steps it), from runs of
    EPOCHS and 4 x EPOCHS epochs alternating (set-up cancels out)."""
    loops = {"fit": lambda e: descend_fit(X, y, e, optimizer=choice.optimizer, lr=choice.lr, doctor=False),
             "lean": lambda e: hand_loop(X, y, e, choice, lean=True)}
    times = {(name, e): [] for name in loops for e in (EPOCHS, 4 * EPOCHS)}
    for _ in range(runs):
        for (name, e), spent in times.items():
            spent.append(loops[name](e))
    extra = 3 * STEPS
    return tuple((statistics.median(times[name, 4 * EPOCHS]) - statistics.median(times[name, EPOCHS])) / extra
                 for name in loops)


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
    fit_step, lean_step = _per_step(X, y, choice, max(3, args.runs // 2))
    print(f"| fit's own loop (optimizer and lr given, doctor off) over the lean hand loop, one more step: "
          f"{fit_step * 1e6:.1f} against {lean_step * 1e6:.1f} us | {(fit_step - lean_step) * STEPS * 1e3:.3f} |")


if __name__ == "__main__":
    main()
