"""Paths of descend.minimize runs over the contours of their objective.

`trace` runs `minimize` and keeps every iterate. `contours` evaluates the objective on a grid covering the
paths: on 2-D problems the plane is x itself (axes x[0] and x[1]); on larger ones it is the plane of the runs'
first two principal directions through the last run's answer, so a slice of a 100-D problem still shows where
each method went. A constraint (a descend.constraints set) is evaluated too, so the picture shades where x may
not go.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ...core.errors import DescendError
from ...minimize import MinimizeResult, minimize
from .path import pca_plane
from .slices import Slice2D, on_plane


@dataclass(frozen=True)
class TracedRun:
    """One minimize run: its `label`, every iterate (`points[0]` is x0), its result, and whether it maximized."""
    label: str
    points: torch.Tensor
    result: MinimizeResult
    maximize: bool = False


@dataclass(frozen=True)
class Contours:
    """The objective on a plane (`grid`; rows follow `grid.alphas`, the first axis), each run's path in that
    plane's coordinates, the axes' names, and `feasible[i, j]` (None without a constraint)."""
    grid: Slice2D
    paths: dict[str, torch.Tensor]
    axes: tuple[str, str]
    feasible: torch.Tensor | None


def trace(fun: Callable, x0, label: str | None = None, **options) -> TracedRun:
    """`descend.minimize(fun, x0, **options)` with every iterate kept; x0 must be a flat vector."""
    start = torch.as_tensor(x0, dtype=torch.float64).detach().clone()
    if start.dim() != 1:
        raise DescendError(f"x0 has shape {tuple(start.shape)}; tracing a path needs a flat vector x0")
    points = [start]
    user = options.pop("callback", None)

    def keep(x, record):
        points.append(torch.as_tensor(x, dtype=torch.float64).detach().clone())
        return bool(user(x, record)) if user is not None else False

    result = minimize(fun, start, callback=keep, **options)
    return TracedRun(label or options.get("method", "lbfgs"), torch.stack(points), result,
                     bool(options.get("maximize", False)))


def contours(fun: Callable, runs: Sequence[TracedRun], steps: int = 101, margin: float = 0.15,
             lower: Sequence[float] | None = None, upper: Sequence[float] | None = None,
             constraint=None) -> Contours:
    """`fun` on a `steps` x `steps` grid around the paths of `runs` (widened by `margin` of the larger side, or
    the box `lower`..`upper` in plane coordinates), with each path in that plane."""
    if not runs:
        raise DescendError("contours: pass at least one traced run (ls.trace(fun, x0, method=...))")
    size = runs[0].points.shape[1]
    if size == 2:
        center = torch.zeros(2, dtype=torch.float64)
        basis = torch.eye(2, dtype=torch.float64)
        axes = ("x[0]", "x[1]")
    else:
        if constraint is not None:
            raise DescendError("contours: a constraint can be shaded only on 2-D problems (x has "
                               f"{size} elements)")
        plane = pca_plane([{"x": p} for run in runs for p in run.points], center={"x": runs[-1].points[-1]})
        center, basis = runs[-1].points[-1], torch.stack([d["x"] for d in plane.directions])
        axes = (f"principal direction 1 ({plane.explained[0]:.0%} of the spread)",
                f"principal direction 2 ({plane.explained[1]:.0%})")
    paths = {run.label: (run.points - center) @ basis.T for run in runs}
    ranges = _ranges(torch.cat(list(paths.values())), steps, margin, lower, upper)
    grid = on_plane(lambda p: fun(p["x"]), {"x": center}, [{"x": basis[0]}, {"x": basis[1]}], *ranges)
    return Contours(grid, paths, axes, None if constraint is None else _feasible(constraint, *ranges))


def _ranges(points: torch.Tensor, steps: int, margin: float, lower, upper) -> list[torch.Tensor]:
    if steps < 2 or margin < 0:
        raise DescendError(f"steps={steps}, margin={margin}: pass at least 2 steps and a margin >= 0")
    finite = points[torch.isfinite(points).all(dim=1)]
    lows, highs = finite.min(dim=0).values, finite.max(dim=0).values
    pad = margin * float((highs - lows).max().clamp_min(1e-12))
    lows = torch.as_tensor(lower, dtype=torch.float64) if lower is not None else lows - pad
    highs = torch.as_tensor(upper, dtype=torch.float64) if upper is not None else highs + pad
    if lows.shape != (2,) or highs.shape != (2,) or not bool((lows < highs).all()):
        raise DescendError(f"lower={lower}, upper={upper}: pass two numbers each, lower below upper")
    return [torch.linspace(float(lo), float(hi), steps, dtype=torch.float64) for lo, hi in zip(lows, highs)]


def _feasible(constraint, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Whether each grid point is in the constraint's set: its projection leaves it where it is."""
    bound = constraint.bind(2, torch.float64, "x")
    mask = [[bool(torch.allclose(bound.project(p), p, rtol=0, atol=1e-9))
             for p in (torch.stack([a, b]) for b in second)] for a in first]
    return torch.tensor(mask)
