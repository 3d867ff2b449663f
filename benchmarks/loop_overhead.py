"""Time per step of descend.fit with its defaults against a hand-written PyTorch loop, on a small MLP where the
loop's own cost shows most.

fit is called as a user calls it: no optimizer, no lr, the doctor on. Its default optimizer "auto" then sweeps the
lr in the run's first steps and trains the rest with the optimizer and lr it picked (result.choice). The hand loop
uses that same optimizer, built the same way (descend.optim.create(model, choice.optimizer, lr=choice.lr): the
kernel fit trains with), at that lr held constant, for as many steps as fit took; a hand loop with plain
torch.optim.AdamW at the same lr is shown beside it. The hand loops log the loss with .item() each step, as people
do. fit's time includes its set-up (checks, one preflight batch, the doctor's look at the data, the lr sweep) and
its end (the doctor's diagnosis), spread over the run's steps, because a user pays for them; each loop also runs
for LONGER times as many epochs (2,048 steps), so that the difference between the two lengths gives the cost of one
more step (set-up excluded) and the set-up itself, and the ratio on the longer run shows how the fixed costs fade.
Runs alternate so that machine noise hits all alike, and each is timed in CPU time of this process
(time.process_time, one torch thread), which other processes on a shared machine disturb less than wall time.
Usage: python benchmarks/loop_overhead.py [--repeats N]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

import descend as ds
from descend.optim.base import step_unwrapped

N, D, BATCH, EPOCHS, LONGER = 4096, 32, 64, 4, 8
STEPS = EPOCHS * N // BATCH


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def hand_loop(X, y, epochs: int, choice=None, lean: bool = False) -> float:
    """The loop people write: with torch.optim.AdamW (choice None: lr 1e-3), or with the optimizer fit picked,
    built as fit builds it. CPU seconds, the optimizer's construction included (fit's time includes it too).
    `lean` steps the optimizer as fit does, without torch's per-step profiler wrapper (descend.optim.base.
    step_unwrapped), to show how much of fit's lead over `opt.step()` that is."""
    model = make_model()
    start = time.process_time()
    opt = (torch.optim.AdamW(model.parameters(), lr=1e-3) if choice is None else
           ds.optim.create(model, choice.optimizer, lr=choice.lr))
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(N, generator=g)
        for i in range(0, N, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(X[idx]).squeeze(-1), y[idx])
            loss.backward()
            step_unwrapped(opt) if lean else opt.step()
            losses.append(loss.item())
    return time.process_time() - start


def descend_fit(X, y, epochs: int, **settings) -> float:
    """fit with its defaults (plus `settings`), in CPU seconds."""
    model = make_model()
    start = time.process_time()
    result = ds.fit(model, (X, y), loss="mse", batch_size=BATCH, max_epochs=epochs, progress=False, **settings)
    elapsed = time.process_time() - start
    assert len(result.history) == epochs * N // BATCH
    return elapsed


def runs(choice) -> dict:
    """The loops compared, by name; each takes (X, y, epochs) and returns CPU seconds."""
    return {"hand-written PyTorch, torch.optim.AdamW": lambda X, y, e: hand_loop(X, y, e),
            f"hand-written PyTorch, fit's optimizer ({choice.optimizer} at lr {choice.lr:g})":
                lambda X, y, e: hand_loop(X, y, e, choice),
            "descend.fit, defaults (doctor on)": lambda X, y, e: descend_fit(X, y, e),
            "descend.fit, defaults, doctor=False": lambda X, y, e: descend_fit(X, y, e, doctor=False),
            f"descend.fit, optimizer={choice.optimizer!r}, lr={choice.lr:g} (no sweep)":
                lambda X, y, e: descend_fit(X, y, e, optimizer=choice.optimizer, lr=choice.lr),
            "hand-written, fit's optimizer stepped as fit steps it (no torch step wrapper)":
                lambda X, y, e: hand_loop(X, y, e, choice, lean=True)}


def workload() -> tuple[torch.Tensor, torch.Tensor, object]:
    """The data (noise: the loop's cost shows, not the model's), on one torch thread, and what fit with its
    defaults chooses on it (result.choice)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X, y = torch.randn(N, D), torch.randn(N)
    choice = ds.fit(make_model(), (X, y), loss="mse", batch_size=BATCH, max_epochs=EPOCHS, progress=False).choice
    return X, y, choice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    X, y, choice = workload()
    loops = runs(choice)
    lengths = (EPOCHS, EPOCHS * LONGER)
    for run in loops.values():  # warm up allocator and kernels
        run(X, y, EPOCHS)
    times: dict[tuple, list[float]] = {(name, e): [] for name in loops for e in lengths}
    for _ in range(args.repeats):
        for name, run in loops.items():
            for epochs in lengths:
                times[name, epochs].append(run(X, y, epochs))
    med = {key: statistics.median(t) for key, t in times.items()}
    extra_steps = (lengths[1] - lengths[0]) * N // BATCH
    step = {name: (med[name, lengths[1]] - med[name, lengths[0]]) / extra_steps for name in loops}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; torch {torch.__version__}, 1 thread; MLP {D}-64-64-1, batch {BATCH}, "
          f"{STEPS} steps/run ({EPOCHS} epochs; the longer runs {EPOCHS * LONGER}), {args.repeats} alternating "
          f"runs, CPU time; fit's choice: {choice.line()}")
    print(f"| loop | median us/step, {STEPS}-step run | one more step, us | set-up and end, ms |")
    print("|---|---|---|---|")
    for name in loops:
        fixed = med[name, lengths[0]] - step[name] * STEPS
        print(f"| {name} | {med[name, lengths[0]] / STEPS * 1e6:.1f} | {step[name] * 1e6:.1f} | {fixed * 1e3:.2f} |")
    torch_adamw, hand, on, off, named, lean = loops
    run_ratio = {name: med[name, lengths[0]] / med[hand, lengths[0]] for name in loops}
    print(f"ratio fit (defaults, doctor on) / hand loop with fit's optimizer, {STEPS}-step run: {run_ratio[on]:.3f}"
          f"   (bar <= 1.05, goal 1.02)")
    print(f"  the same, doctor=False: {run_ratio[off]:.3f};  optimizer and lr given (no sweep), doctor on: "
          f"{run_ratio[named]:.3f}")
    print(f"ratio of one more step (set-up excluded): fit defaults {step[on] / step[hand]:.3f}, doctor=False "
          f"{step[off] / step[hand]:.3f}, no sweep {step[named] / step[hand]:.3f}")
    long_ratio = {name: med[name, lengths[1]] / med[hand, lengths[1]] for name in loops}
    print(f"ratio on the {lengths[1] * N // BATCH}-step run: fit defaults {long_ratio[on]:.3f}, doctor=False "
          f"{long_ratio[off]:.3f}, no sweep {long_ratio[named]:.3f}")
    print(f"ratio fit (defaults) / the lean hand loop (stepped as fit steps), {STEPS}-step run: "
          f"{med[on, lengths[0]] / med[lean, lengths[0]]:.3f}; {lengths[1] * N // BATCH}-step run: "
          f"{med[on, lengths[1]] / med[lean, lengths[1]]:.3f}")
    print(f"ratio fit (defaults) / hand loop with torch.optim.AdamW, {STEPS}-step run: "
          f"{med[on, lengths[0]] / med[torch_adamw, lengths[0]]:.3f}   (what a user switching to fit sees)")


if __name__ == "__main__":
    main()
