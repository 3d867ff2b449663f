"""The loss on a line or a plane through given weights: theta(a, b) = weights + a * d1 + b * d2.

Grids are evaluated without gradients; each point costs one pass over the objective's fixed data sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from ...core.errors import DescendError
from ...fit.progress import WorkBar
from .objective import Objective

Params = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Slice1D:
    """Loss values `losses[i]` at offsets `alphas[i]` along one direction (or, for `interpolate`, the fraction
    of the way from the first weight set to the second)."""
    alphas: torch.Tensor
    losses: torch.Tensor


@dataclass(frozen=True)
class Slice2D:
    """Loss values `losses[i, j]` at offsets `alphas[i]` along the first direction and `betas[j]` the second."""
    alphas: torch.Tensor
    betas: torch.Tensor
    losses: torch.Tensor


def grid(span: float, steps: int) -> torch.Tensor:
    """`steps` evenly spaced offsets from -span to span (an odd `steps` includes 0, the weights themselves)."""
    if steps < 2 or span <= 0:
        raise DescendError(f"steps={steps}, span={span}: pass at least 2 steps and a positive span")
    return torch.linspace(-span, span, steps, dtype=torch.float64)


def _moved(weights: Params, offsets: Sequence[tuple[float, Params]]) -> dict[str, torch.Tensor]:
    return {name: w + sum(float(a) * d[name] for a, d in offsets) for name, w in weights.items()}


@torch.no_grad()
def slice_1d(objective: Objective, weights: Params, direction: Params, span: float = 1.0,
             steps: int = 41, progress: bool | int = False) -> Slice1D:
    """The loss at weights + a * direction for `steps` values of a in [-span, span]."""
    alphas = grid(span, steps)
    with WorkBar(len(alphas), "landscape line", progress) as bar:
        losses = torch.tensor([_counted(bar, objective(_moved(weights, [(a, direction)]))) for a in alphas],
                              dtype=torch.float64)
    return Slice1D(alphas, losses)


def slice_2d(objective: Objective, weights: Params, directions: Sequence[Params], span: float = 1.0,
             steps: int = 41, progress: bool | int = False) -> Slice2D:
    """The loss at weights + a * d1 + b * d2 on a `steps` x `steps` grid over [-span, span]^2."""
    offsets = grid(span, steps)
    return on_plane(objective, weights, directions, offsets, offsets.clone(), progress)


@torch.no_grad()
def on_plane(objective: Objective, weights: Params, directions: Sequence[Params], alphas: torch.Tensor,
             betas: torch.Tensor, progress: bool | int = False) -> Slice2D:
    """The loss at weights + a * d1 + b * d2 for every a in `alphas` and b in `betas` (any grids: the plane of
    an optimizer's path is not centred on the final weights)."""
    if len(directions) != 2:
        raise DescendError(f"a 2-D slice needs two directions, got {len(directions)}")
    first, second = directions
    with WorkBar(len(alphas) * len(betas), "landscape plane", progress) as bar:
        losses = torch.tensor([[_counted(bar, objective(_moved(weights, [(a, first), (b, second)]))) for b in betas]
                               for a in alphas], dtype=torch.float64)
    return Slice2D(alphas, betas, losses)


def _counted(bar: WorkBar, loss: torch.Tensor) -> float:
    bar.advance()
    return float(loss)


@torch.no_grad()
def interpolate(objective: Objective, start: Params, end: Params, steps: int = 41,
                margin: float = 0.0) -> Slice1D:
    """The loss along (1 - t) * start + t * end for t in [-margin, 1 + margin]: a bump between t=0 and t=1
    says the two weight sets sit in different basins, a flat or convex line that they share one."""
    if steps < 2 or margin < 0:
        raise DescendError(f"steps={steps}, margin={margin}: pass at least 2 steps and a margin >= 0")
    if start.keys() != end.keys():
        raise DescendError("interpolate: the two weight sets name different parameters; pass weights of one model")
    ts = torch.linspace(-margin, 1 + margin, steps, dtype=torch.float64)
    delta = {name: end[name] - start[name] for name in start}
    losses = torch.tensor([float(objective(_moved(start, [(t, delta)]))) for t in ts], dtype=torch.float64)
    return Slice1D(ts, losses)
