"""What recording a run costs: time per step of descend.fit without a run directory, with one that only appends
the history (one checkpoint at the end), and with a checkpoint every 10 steps, from which the cost of one
checkpoint follows; plus the time to resume. (By default fit checkpoints ten times per run, whatever its length.)

Each checkpoint writes weights, optimizer and RNG state, fsyncs them and renames the folder into place, so its cost
grows with the model; the history line per step is one buffered write. Runs alternate so machine noise hits all
variants alike; medians are compared. Usage: python benchmarks/run_dir_overhead.py [--repeats N]
"""
from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import descend as ds

N, BATCH, STEPS = 2048, 64, 100
MODELS = {"small MLP (6.4k params)": (32, 64), "wider MLP (395k params)": (256, 512)}


def make(width_in: int, hidden: int) -> tuple[nn.Module, tuple]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(width_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, 1))
    X = torch.randn(N, width_in)
    return model, (X, X[:, :1] * 2.0 + 0.1 * torch.randn(N, 1))


def timed(shape, scratch: Path, **recording) -> float:
    """Seconds per step of one fit; a fresh run directory each time."""
    model, data = make(*shape)
    shutil.rmtree(scratch, ignore_errors=True)
    run_dir = {"run_dir": str(scratch)} if recording else {}
    start = time.perf_counter()
    ds.fit(model, data, max_steps=STEPS, batch_size=BATCH, progress=False, **run_dir,
           **{k: v for k, v in recording.items() if v is not None})
    return (time.perf_counter() - start) / STEPS


def resume_seconds(shape, scratch: Path, lr: float | str = 1e-3) -> float:
    """Time of a fit that resumes at step STEPS-1 and runs the one remaining step (with lr="auto" the first run
    searched its lr with lr_find; the resume takes the lr from the checkpoint)."""
    class Crash(ds.loop.Callback):   # after the checkpoint at step STEPS-1: the last step is taken, never recorded
        def on_step(self, state, record):
            if state.step == STEPS:
                raise RuntimeError("stop here")

    model, data = make(*shape)
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        ds.fit(model, data, max_steps=STEPS, batch_size=BATCH, progress=False, run_dir=str(scratch), lr=lr,
               checkpoint_every=STEPS - 1, callbacks=[Crash()])
    except RuntimeError:
        pass
    model, data = make(*shape)
    start = time.perf_counter()
    ds.fit(model, data, max_steps=STEPS, batch_size=BATCH, progress=False, run_dir=str(scratch), lr=lr,
           resume=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    torch.set_num_threads(1)  # two spinning threads on a shared 2-core machine make step times erratic
    variants = {"no run_dir": None, "run_dir, history + final checkpoint": {"checkpoint_every": STEPS},
                "run_dir, checkpoint every 10 steps": {"checkpoint_every": 10}}
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, {STEPS} steps, "
          f"batch {BATCH}, median of {repeats}")
    print("| model | variant | ms/step | ratio to no run_dir |\n|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "run"
        for label, shape in MODELS.items():
            times = {name: [] for name in variants}
            timed(shape, scratch)  # warm-up: first-call costs (allocator, lazy imports) out of the measurement
            for _ in range(repeats):
                for name, recording in variants.items():
                    times[name].append(timed(shape, scratch, **(recording or {})))
            base = statistics.median(times["no run_dir"])
            for name, values in times.items():
                median = statistics.median(values)
                print(f"| {label} | {name} | {median * 1e3:.3f} | {median / base:.2f} |")
            extra = statistics.median(times["run_dir, checkpoint every 10 steps"]) - statistics.median(
                times["run_dir, history + final checkpoint"])
            print(f"| {label} | one checkpoint (difference / {STEPS // 10 - 1}) | "
                  f"{extra * STEPS / (STEPS // 10 - 1) * 1e3:.1f} ms | |")
            print(f"| {label} | resume + 1 step | {resume_seconds(shape, scratch) * 1e3:.0f} ms total | |")
            print(f"| {label} | resume + 1 step, lr='auto' | {resume_seconds(shape, scratch, 'auto') * 1e3:.0f} ms "
                  "total | |")


if __name__ == "__main__":
    main()
