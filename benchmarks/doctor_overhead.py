"""What does watching a run cost? fit with doctor=True (the default) against doctor=False, side by side.

Two measurements, both on one torch thread:
- the doctor's own work: every entry point of the doctor (set-up, the per-step callback, the hooks on sampled
  steps, the diagnosis at the end) is wrapped in a perf_counter_ns timer during doctor=True runs, and the time
  inside them is divided by the steps and compared with the time of a doctor=False step. This counts what the
  doctor does and is hardly moved by other processes.
- end to end: CPU time of this process for the whole fit call, doctor=False and doctor=True runs interleaved
  (ABBA order) many times; the ratio of each pair, then its median and interquartile range. On a loaded machine
  the spread shows how far to trust it.
Goal: <= 5% extra time per step at default settings.

    PYTHONPATH=src python benchmarks/doctor_overhead.py
"""
from __future__ import annotations

import functools
import statistics
import time

import torch
from sklearn.datasets import load_digits
from torch import nn

import descend as ds
from descend.doctor import instruments, watch

STEPS = 400
PAIRS = 20


def digits():
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-8)
    model = lambda: nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))  # noqa: E731
    return "digits MLP 64-64-10, batch 64", model, (x, torch.tensor(y)), "cross_entropy", 64


def wide_regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8192, 32, generator=g)
    y = torch.sin(x @ torch.randn(32, generator=g))
    model = lambda: nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),  # noqa: E731
                                  nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    return "regression MLP 32-256x3-1, batch 128", model, (x, y), "mse", 128


def tiny_linear():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 8, generator=g)
    return "linear regression 8-1, batch 32 (worst case: tiny steps)", lambda: nn.Linear(8, 1), \
        (x, x @ torch.randn(8, generator=g)), "mse", 32


def fit(model, data, loss, batch_size, doctor) -> float:
    """CPU seconds of one fit call."""
    torch.manual_seed(0)
    start = time.process_time()
    ds.fit(model(), data, loss=loss, batch_size=batch_size, max_steps=STEPS, max_epochs=None, progress=False,
           doctor=doctor)
    return time.process_time() - start


ENTRY_POINTS = [(watch.Doctor, "__init__"), (watch.Doctor, "on_start"), (watch.Doctor, "on_end"),
                (instruments.Instruments, "on_start"), (instruments.Instruments, "on_step_begin"),
                (instruments.Instruments, "on_step"),
                (instruments.Instruments, "on_end"), (instruments.Instruments, "_pre_step"),
                (instruments.Instruments, "_post_step"), (instruments.Instruments, "_relu_hook")]


class DoctorClock:
    """Wraps the doctor's entry points (and the ReLU hooks they create) in a nanosecond timer while active.
    Nested calls (Doctor.on_end runs the rules) are counted once, by the outermost timer."""

    def __init__(self):
        self.ns, self.depth, self.saved = 0, 0, []

    def timed(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            self.depth += 1
            start = time.perf_counter_ns()
            try:
                result = func(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.ns += time.perf_counter_ns() - start
            return self.timed(result) if func.__name__ == "_relu_hook" else result
        return wrapper

    def __enter__(self):
        for owner, name in ENTRY_POINTS:
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, self.timed(getattr(owner, name)))
        return self

    def __exit__(self, *exc):
        for owner, name, original in self.saved:
            setattr(owner, name, original)


def doctor_share(model, data, loss, batch, repeats: int = 5) -> tuple[float, float]:
    """(microseconds of doctor code per step, that over a doctor=False step): medians over `repeats` runs."""
    inside, plain = [], []
    for _ in range(repeats):
        with DoctorClock() as clock:
            torch.manual_seed(0)
            ds.fit(model(), data, loss=loss, batch_size=batch, max_steps=STEPS, max_epochs=None, progress=False)
        inside.append(clock.ns / 1e3 / STEPS)
        start = time.perf_counter_ns()
        fit(model, data, loss, batch, False)
        plain.append((time.perf_counter_ns() - start) / 1e3 / STEPS)
    per_step = statistics.median(inside)
    return per_step, per_step / statistics.median(plain)


def paired(model, data, loss, batch) -> tuple[float, float, float, float]:
    """(ms per doctor=False step, median, first and third quartile of the on/off CPU-time ratio) over PAIRS."""
    fit(model, data, loss, batch, False)  # warm up
    ratios, off_times = [], []
    for i in range(PAIRS):
        order = (False, True) if i % 2 == 0 else (True, False)
        times = dict(zip(order, (fit(model, data, loss, batch, d) for d in order)))
        ratios.append(times[True] / times[False])
        off_times.append(times[False])
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return 1e3 * statistics.median(off_times) / STEPS, median - 1, q1 - 1, q3 - 1


def main() -> None:
    torch.set_num_threads(1)
    print(f"{STEPS} AdamW steps per fit, one torch thread; doctor code timed in 5 runs; {PAIRS} interleaved pairs")
    print("| workload | step, doctor off (ms) | doctor code per step (us) | doctor code share | end to end extra, "
          "median (IQR) |")
    print("|---|---|---|---|---|")
    for workload in (digits, wide_regression, tiny_linear):
        name, model, data, loss, batch = workload()
        per_step, share = doctor_share(model, data, loss, batch)
        step_ms, median, q1, q3 = paired(model, data, loss, batch)
        print(f"| {name} | {step_ms:.3f} | {per_step:.1f} | {share:.2%} | {median:+.1%} ({q1:+.1%} .. {q3:+.1%}) |")


if __name__ == "__main__":
    main()
