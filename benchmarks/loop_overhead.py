"""Time per step of descend.fit against a hand-written PyTorch loop, on a small MLP where overhead dominates.

Both train the same model on the same in-memory tensors with the same shuffling and the same optimizer: the
registry's default "adamw" (descend.optim.create(model, "adamw"), the kernel fit picks), so the ratio is the loop's
own cost; a hand loop with plain torch.optim.AdamW is shown beside them. The hand loops log the loss with .item()
each step, as people do. fit's time includes its set-up (checks, one preflight batch, the
doctor's look at the data) and its end (the doctor's diagnosis), spread over the run's steps, because a user
pays for them. Runs alternate (hand, hand with fit's groups, fit, fit without the doctor, ...) so machine noise
hits all alike, and each is timed in CPU time of this process (time.process_time, one torch thread), which other
processes on a shared machine disturb less than wall time. Usage: python benchmarks/loop_overhead.py [--repeats N]
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

N, D, BATCH, EPOCHS = 4096, 32, 64, 4
STEPS = EPOCHS * N // BATCH


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def hand_loop(X, y, default_optimizer: bool = False) -> float:
    """The loop people write, with torch.optim.AdamW or with descend's default optimizer (the same fit builds)."""
    model = make_model()
    opt = ds.optim.create(model, "adamw", lr=1e-3) if default_optimizer else torch.optim.AdamW(model.parameters(),
                                                                                              lr=1e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    start = time.process_time()
    for _ in range(EPOCHS):
        order = torch.randperm(N, generator=g)
        for i in range(0, N, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(X[idx]).squeeze(-1), y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return (time.process_time() - start) / STEPS


def descend_fit(X, y, doctor: bool = True) -> float:
    model = make_model()
    start = time.process_time()
    result = ds.fit(model, (X, y), loss="mse", optimizer="adamw", lr=1e-3, batch_size=BATCH, max_epochs=EPOCHS,
                    progress=False, doctor=doctor)
    elapsed = time.process_time() - start
    assert len(result.history) == STEPS
    return elapsed / STEPS


RUNS = {"hand-written PyTorch, torch.optim.AdamW": lambda X, y: hand_loop(X, y),
        "hand-written PyTorch, the default optimizer": lambda X, y: hand_loop(X, y, default_optimizer=True),
        "descend.fit (doctor on, the default)": lambda X, y: descend_fit(X, y),
        "descend.fit, doctor=False": lambda X, y: descend_fit(X, y, doctor=False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X, y = torch.randn(N, D), torch.randn(N)
    for run in RUNS.values():  # warm up allocator and kernels
        run(X, y)
    times: dict[str, list[float]] = {name: [] for name in RUNS}
    for _ in range(args.repeats):
        for name, run in RUNS.items():
            times[name].append(run(X, y))
    med = {name: statistics.median(t) for name, t in times.items()}
    torch_adamw, hand, on, off = med.values()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; torch {torch.__version__}, 1 thread; MLP {D}-64-64-1, batch {BATCH}, "
          f"{STEPS} steps/run, {args.repeats} alternating runs, CPU time")
    print("| loop | median us/step | min us/step |")
    print("|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {med[name] * 1e6:.1f} | {min(t) * 1e6:.1f} |")
    print(f"ratio fit (defaults, doctor on) / hand, same optimizer (median): {on / hand:.3f}   (bar <= 1.05, "
          f"goal 1.02)")
    print(f"ratio fit doctor=False / hand, same optimizer (median): {off / hand:.3f}   (the loop's own cost)")
    print(f"ratio doctor on / off (median): {on / off:.3f}   (the doctor's cost)")
    print(f"ratio fit (defaults) / hand with torch.optim.AdamW (median): {on / torch_adamw:.3f}   (what a user "
          f"switching to fit sees)")


if __name__ == "__main__":
    main()
