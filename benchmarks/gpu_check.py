"""The CUDA checks of issue #14 in one run: no host synchronization inside fit's steps, fit's steps per second
against a hand-written loop that never synchronizes, and fp32/bf16/fp16 fits that train.

Each step of fit runs under torch.cuda.set_sync_debug_mode("error"), so any call that makes the host wait for the
device (item, a bool of a tensor, a blocking copy) raises at once, naming the line; the loop's settling (every
32 steps and at evaluations, where reading the values is the point) runs in the default mode. Every check prints
one line, PASS or FAIL with numbers; the exit status is the number of failures. Run by benchmarks/gpu_check.sh.
`--device cpu` walks through the same checks without the sync-debug mode (a dry run of the script itself).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback

import torch
from torch import nn

import descend as ds
from descend.core.loop import Loop

WIDTH, BATCH, ROWS = 512, 256, 256 * 64


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 1))


def data(device: torch.device):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(ROWS, 64, generator=g)
    y = X[:, :8].sum(1) + 0.1 * torch.randn(ROWS, generator=g)
    return X.to(device), y.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def strict_steps(device: torch.device):
    """Run Loop._step in sync-debug "error" mode, everything else (settling, evaluation) in the default mode."""
    original = Loop._step
    if device.type != "cuda":
        return lambda: None

    def step(self):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return original(self)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    Loop._step = step
    return lambda: setattr(Loop, "_step", original)


def hand_loop(X, y, steps: int) -> float:
    """Seconds per step of the loop an expert writes: the same default optimizer, no .item(), shuffled batches."""
    net = model().to(X.device)
    opt = ds.optim.create(net, "adamw", lr=1e-3)
    g = torch.Generator(device=X.device).manual_seed(0)
    order = torch.randperm(ROWS, generator=g, device=X.device)
    sync(X.device)
    start = time.perf_counter()
    for i in range(steps):
        idx = order[(i * BATCH) % ROWS:(i * BATCH) % ROWS + BATCH]
        opt.zero_grad()
        nn.functional.mse_loss(net(X[idx]).squeeze(-1), y[idx]).backward()
        opt.step()
    sync(X.device)
    return (time.perf_counter() - start) / steps


def fit_seconds(X, y, steps: int, **options) -> tuple[float, ds.FitResult]:
    net = model()
    sync(X.device)
    start = time.perf_counter()
    result = ds.fit(net, (X, y), optimizer="adamw", lr=1e-3, batch_size=BATCH, max_steps=steps,
                    device=str(X.device), progress=False, **options)
    sync(X.device)
    return (time.perf_counter() - start) / steps, result


def check(name: str, run) -> bool:
    try:
        ok, line = run()
    except Exception:   # noqa: BLE001 - a check that crashes is a failed check; show why and go on
        print(f"FAIL {name}: {traceback.format_exc().strip().splitlines()[-1]}")
        traceback.print_exc(file=sys.stdout)
        return False
    print(f"{'PASS' if ok else 'FAIL'} {name}: {line}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("FAIL cuda: this torch sees no CUDA device")
        return 1
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run, no sync-debug mode)"
    print(f"torch {torch.__version__}, {name}, MLP 64-{WIDTH}-{WIDTH}-1, batch {BATCH}")
    X, y = data(device)
    Xv, yv = data(device)
    restore = strict_steps(device)
    failures = 0
    try:
        def no_sync():
            _, result = fit_seconds(X, y, 100, val=(Xv[:1024], yv[:1024]), eval_every=50)
            return len(result.history) == 100, "100 steps, doctor on, validation every 50: no sync inside a step"
        failures += not check("sync-free steps (fp32)", no_sync)

        def defaults_no_sync():
            result = ds.fit(model(), (X, y), batch_size=BATCH, max_steps=100, device=str(device), progress=False)
            return len(result.history) == 100, f"100 steps of fit's defaults ({result.choice.line().split(' (')[0]})"
        failures += not check("sync-free steps, no optimizer or lr given", defaults_no_sync)
        for precision in ("bf16", "fp16") if device.type == "cuda" else ("bf16",):
            def trains(precision=precision):
                _, result = fit_seconds(X, y, 200, precision=precision)
                first, last = result.history[0]["loss"], result.history[-1]["loss"]
                return last < 0.5 * first, f"loss {first:.3g} -> {last:.3g} in 200 steps"
            failures += not check(f"{precision} trains", trains)
    finally:
        restore()

    def speed():
        hand, fit, bare = [], [], []
        hand_loop(X, y, 50), fit_seconds(X, y, 50)   # warm-up
        for _ in range(args.repeats):
            hand.append(hand_loop(X, y, args.steps))
            fit.append(fit_seconds(X, y, args.steps)[0])
            bare.append(fit_seconds(X, y, args.steps, doctor=False)[0])
        h, f, b = (statistics.median(t) for t in (hand, fit, bare))
        return h / f >= 0.95, (f"steps/s: hand sync-free loop {1 / h:.0f}, fit {1 / f:.0f} ({h / f:.0%} of hand; goal "
                               f">= 95%), fit doctor=False {1 / b:.0f} ({h / b:.0%})")
    failures += not check("fit vs a hand-written sync-free loop", speed)
    return failures


if __name__ == "__main__":
    sys.exit(main())
