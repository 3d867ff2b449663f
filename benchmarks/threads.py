"""One torch thread against torch's default for training steps of growing size: where more threads start to pay.

Each row times the same training steps (an MLP, AdamW, mini-batches in memory) at one intra-op thread and at torch's
default, interleaved, and reports the work of a step as multiply-adds (parameters x batch rows). fit's thread policy
(descend.fit's `threads="auto"`) uses one thread below the crossover this table shows.

    PYTHONPATH=src python benchmarks/threads.py [--rounds 5] [--steps 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from descend.fit.threads import SMALL_WORK

SHAPES = [(32, 64), (128, 64), (256, 256), (512, 256), (1024, 256), (2048, 512)]   # (hidden width, batch rows)


def steps(width: int, batch: int, count: int):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
    opt = torch.optim.AdamW(model.parameters(), fused=True)
    X, y = torch.randn(batch * count, 64), torch.randn(batch * count, 1)
    work = sum(p.numel() for p in model.parameters()) * batch

    def run() -> None:
        for i in range(count):
            opt.zero_grad()
            nn.functional.mse_loss(model(X[i * batch:(i + 1) * batch]), y[i * batch:(i + 1) * batch]).backward()
            opt.step()
    return run, work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    default = torch.get_num_threads()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, default threads {default}, "
          f"{args.rounds} interleaved rounds of {args.steps} steps, medians; one thread below {SMALL_WORK:.0e}")
    print("| width | batch | multiply-adds/step | 1 thread ms/step | default ms/step | default / 1 thread |")
    print("|---|---|---|---|---|---|")
    for width, batch in SHAPES:
        run, work = steps(width, batch, args.steps)
        times = {1: [], default: []}
        run()
        for _ in range(args.rounds):
            for threads in times:
                torch.set_num_threads(threads)
                start = time.perf_counter()
                run()
                times[threads].append((time.perf_counter() - start) / args.steps * 1e3)
        one, many = statistics.median(times[1]), statistics.median(times[default])
        print(f"| {width} | {batch} | {work:.1e} | {one:.3f} | {many:.3f} | {many / one:.2f} |", flush=True)
    torch.set_num_threads(default)


if __name__ == "__main__":
    main()
