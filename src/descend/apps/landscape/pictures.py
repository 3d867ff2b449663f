"""Compute and draw in one call: the optimizer's path over its plane, the sharpness history, minimize runs over
their objective's contours. Each returns what it computed, so the numbers behind a picture stay at hand."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from .objective import Objective
from .optimizer_paths import Contours, TracedRun, contours
from .path import PathPlane, WeightPath, path_plane, pca_plane
from .plots import plot_path, plot_runs, plot_sharpness
from .sharpness import SharpnessHistory, sharpness_history
from .slices import Slice2D
from .vectors import all_finite


@torch.no_grad()
def draw_path(objective: Objective, recorded: WeightPath, file: str | Path, steps: int = 41,
              progress: bool | int = False) -> tuple[PathPlane, Slice2D]:
    """The loss on the plane of the recorded path's first two principal directions, the path drawn on it; a run
    that diverged is drawn up to its last finite point."""
    kept = finite_prefix(recorded.points)
    plane = pca_plane(recorded.points[:kept])
    found = path_plane(objective, plane, steps=steps, progress=progress)
    along = torch.tensor([float(objective(point)) for point in recorded.points[:kept]], dtype=torch.float64)
    plot_path(found, plane.coordinates, along, recorded.steps[:kept], file, plane.explained)
    return plane, found


def finite_prefix(points) -> int:
    """How many points come before the first one holding a NaN or Inf weight."""
    return next((i for i, point in enumerate(points) if not all_finite(point)), len(points))


def draw_sharpness(objective: Objective, recorded: WeightPath, file: str | Path,
                   progress: bool | int = False) -> SharpnessHistory:
    """lambda_max at every recorded point beside 2/lr, drawn."""
    found = sharpness_history(objective, recorded.points, recorded.steps, recorded.lrs, progress=progress)
    plot_sharpness(found, file)
    return found


@torch.no_grad()
def draw_runs(fun: Callable, runs: Sequence[TracedRun], file: str | Path, title: str, constraint=None,
              label: str = "f(x)", **grid) -> Contours:
    """Contours of `fun` with every traced run's path (`grid`: steps, margin, lower, upper of `contours`)."""
    found = contours(fun, runs, constraint=constraint, **grid)
    values = {run.label: torch.stack([torch.as_tensor(fun(p), dtype=torch.float64) for p in run.points])
              for run in runs}
    worse = {run.label: (values[run.label][1:] < values[run.label][:-1]) if run.maximize
             else (values[run.label][1:] > values[run.label][:-1]) for run in runs}
    plot_runs(found, file, title, values, label, worse)
    return found
