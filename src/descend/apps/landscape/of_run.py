"""The landscape of a saved tabular run (`descend fit --out DIR`): slices, sharpness and PNGs in one call.

The loss is the run's own training loss, on a fixed, seeded sample of the given rows, so that the same
settings always give the same numbers. Writes plane.png, line.png, landscape.json and landscape.html into `out`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ...core.errors import DescendError
from ...fit import losses
from ...fit import threads as threads_lib
from ..tabular.io import reading_notes
from ..tabular.run import TabularRun
from ..tabular.train import Say, rows_with_target
from .directions import random_directions
from .hessian import TRACE_PROBES, hessian_trace, top_eigenvalues
from .folder import LandscapeFolder
from .note import sharpness_note
from .objective import model_objective, weights_of
from .plots import plot_slice_1d, plot_slice_2d
from .slices import grid, slice_1d, slice_2d


@dataclass
class Settings:
    """Resolution, sample size and seed: the knobs that set what the landscape costs."""
    steps: int = 41
    rows: int = 2048
    span: float = 1.0
    seed: int = 0
    top_k: int = 3
    probes: int = TRACE_PROBES
    threads: int | str | None = 1     # torch's CPU threads while evaluating (see model_objective)

    def check(self) -> None:
        if self.rows < 1 or self.top_k < 1 or self.probes < 2:
            raise DescendError(f"rows={self.rows}, top_k={self.top_k}, probes={self.probes}: use rows >= 1, "
                               "top_k >= 1 and probes >= 2")
        grid(self.span, self.steps)      # refuses fewer than 2 steps or a span <= 0 before any work
        threads_lib.check(self.threads)


def run_landscape(run_dir: str | Path, frame: pd.DataFrame, out: str | Path, settings: Settings,
                  say: Say = print, progress: bool | int = True) -> dict:
    """Slices and sharpness of the run in `run_dir` at its saved weights, on rows of `frame`; writes the PNGs,
    landscape.json and landscape.html into `out` and returns what landscape.json holds beside its index."""
    settings.check()
    run = TabularRun.load(run_dir)
    if run.model.linear_alone:
        raise DescendError(f"{run_dir}: the saved model is the linear model alone (validation gave its networks no "
                           "weight), so its loss does not move with the network weights a landscape walks; there is "
                           "no landscape to draw for this run")
    folder = LandscapeFolder(out)        # before the work: an --out that cannot be a folder is said at once
    x, y = sample_rows(run, frame, settings, say)
    objective, rows = model_objective(run.model, losses.get(run.target.loss), x, y, threads=settings.threads), len(x)
    weights = weights_of(run.model)
    first, second = random_directions(weights, 2, seed=settings.seed)
    say(f"evaluating a {settings.steps}x{settings.steps} slice and a line on {rows} rows ...")
    plane = slice_2d(objective, weights, (first, second), settings.span, settings.steps, progress)
    line = slice_1d(objective, weights, first, settings.span, settings.steps, progress)
    say(f"sharpness: the top {settings.top_k} Hessian eigenvalues and a {settings.probes}-probe trace ...")
    eigenvalues = top_eigenvalues(objective, weights, k=settings.top_k, seed=settings.seed)
    trace = hessian_trace(objective, weights, probes=settings.probes, seed=settings.seed)
    plot_slice_2d(plane, folder.picture("plane.png", "The loss around the trained weights", PLANE))
    plot_slice_1d(line, folder.picture("line.png", "The loss along one direction", LINE))
    fitted = {"optimizer": run.config.get("options", {}).get("optimizer"), "lr": run.config.get("lr")}
    data = {"settings": vars(settings), "rows": rows, "loss": float(objective(weights)),
            "top_eigenvalues": eigenvalues.tolist(), "trace": vars(trace),
            "offsets": plane.alphas.tolist(), "plane": plane.losses.tolist(), "line": line.losses.tolist(),
            "sharpness_note": sharpness_note(float(eigenvalues[0]), fitted.get("optimizer"), fitted.get("lr"))}
    data["flat"] = float(plane.losses.max()) == float(plane.losses.min())
    notes = [data["sharpness_note"], NOTE] + ([FLAT] if data["flat"] else [])
    folder.finish(_numbers(data, settings, trace, fitted), notes, data,
                  f"descend: loss landscape of {Path(run_dir).name}")
    return data


def sample_rows(run: TabularRun, frame: pd.DataFrame, settings: Settings,
                say: Say = print) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's inputs and encoded targets for a seeded sample of `settings.rows` rows of `frame` (the rows
    the landscape is evaluated on; the model is put in evaluation mode)."""
    run.model.eval()
    frame = rows_with_target(frame, run.target.name, reading_notes(say))
    picked = torch.randperm(len(frame), generator=torch.Generator().manual_seed(settings.seed))[:settings.rows]
    frame = frame.iloc[picked.numpy()]
    x, _ = run.encode(frame, "the data")
    y = run.target.encode(frame[run.target.name])
    return x, y


def _numbers(data: dict, settings: Settings, trace, fitted: dict) -> dict:
    """The page's table: what was measured, on what, and the run's settings it is compared with."""
    top = data["top_eigenvalues"][0]
    return {"loss at the weights": data["loss"], "rows in the sample": data["rows"],
            "grid": f"{settings.steps} x {settings.steps} over [-{settings.span}, {settings.span}]",
            "top Hessian eigenvalues": ", ".join(f"{v:.4g}" for v in data["top_eigenvalues"]),
            "2 / lambda_max (largest stable gradient-descent lr)": 2 / top if top > 0 else float("inf"),
            "Hessian trace (Hutchinson)": f"{trace.value:.4g} +- {trace.stderr:.2g} ({trace.probes} probes)",
            "the run's optimizer and peak lr": f"{fitted.get('optimizer')} {fitted.get('lr')}"}


PLANE = ("Filled contours of the training loss on a plane through the saved weights (the red star), along two "
         "random directions scaled filter by filter to the weights' own size (Li et al. 2018). A wide basin means "
         "small changes of the weights barely change the loss; tight, crowded contours mean a sharp minimum.")
LINE = "The loss along the first of the two directions; 0 is the saved weights."
FLAT = ("The loss is the same at every point of the plane: the model's output does not depend on its trainable "
        "weights here. A tables run whose blend gave the linear model all the weight (the networks none) looks like "
        "this; its landscape is the linear model's, which has no trainable weights to move.")
NOTE = ("Sharpness is the Hessian's largest eigenvalue lambda_max. Plain gradient descent is stable only while "
        "lr < 2 / lambda_max; momentum and Adam shift that edge, so for them compare with care.")
