"""The landscape of a saved tabular run (`descend fit --out DIR`): slices, sharpness and PNGs in one call.

The loss is the run's own training loss, on a fixed, seeded sample of the given rows, so that the same
settings always give the same numbers. Writes plane.png, line.png and landscape.json into `out`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ...core.errors import DescendError
from ...fit import losses
from ...runs.files import write_atomic
from ..tabular.run import TabularRun
from ..tabular.train import Say, rows_with_target
from .directions import random_directions
from .hessian import TRACE_PROBES, hessian_trace, top_eigenvalues
from .objective import model_objective, weights_of
from .plots import plot_slice_1d, plot_slice_2d
from .slices import slice_1d, slice_2d


@dataclass
class Settings:
    """Resolution, sample size and seed: the knobs that set what the landscape costs."""
    steps: int = 41
    rows: int = 2048
    span: float = 1.0
    seed: int = 0
    top_k: int = 3
    probes: int = TRACE_PROBES

    def check(self) -> None:
        if self.rows < 1 or self.top_k < 1 or self.probes < 2:
            raise DescendError(f"rows={self.rows}, top_k={self.top_k}, probes={self.probes}: use rows >= 1, "
                               "top_k >= 1 and probes >= 2")


def run_landscape(run_dir: str | Path, frame: pd.DataFrame, out: str | Path, settings: Settings,
                  say: Say = print) -> dict:
    """Slices and sharpness of the run in `run_dir` at its saved weights, on rows of `frame`; returns the summary
    that landscape.json holds."""
    settings.check()
    run = TabularRun.load(run_dir)
    run.model.eval()
    frame = rows_with_target(frame, run.target.name, say)
    picked = torch.randperm(len(frame), generator=torch.Generator().manual_seed(settings.seed))[:settings.rows]
    frame = frame.iloc[picked.numpy()]
    x, _ = run.encode(frame, "the data")
    y = run.target.encode(frame[run.target.name])
    objective = model_objective(run.model, losses.get(run.target.loss), x, y)
    weights = weights_of(run.model)
    first, second = random_directions(weights, 2, seed=settings.seed)
    say(f"evaluating a {settings.steps}x{settings.steps} slice on {len(frame)} rows ...")
    plane = slice_2d(objective, weights, (first, second), settings.span, settings.steps)
    line = slice_1d(objective, weights, first, settings.span, settings.steps)
    eigenvalues = top_eigenvalues(objective, weights, k=settings.top_k, seed=settings.seed)
    trace = hessian_trace(objective, weights, probes=settings.probes, seed=settings.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plot_slice_2d(plane, out / "plane.png")
    plot_slice_1d(line, out / "line.png")
    summary = {"settings": vars(settings), "rows": len(frame), "loss": float(objective(weights)),
               "top_eigenvalues": eigenvalues.tolist(), "trace": vars(trace),
               "offsets": plane.alphas.tolist(), "plane": plane.losses.tolist(), "line": line.losses.tolist()}
    write_atomic(out / "landscape.json", (json.dumps(summary, indent=1) + "\n").encode())
    return summary
