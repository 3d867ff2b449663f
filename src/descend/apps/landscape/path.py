"""The optimizer's path: weights recorded during a run, and the plane of their first two principal directions.

`WeightPath` is a fit callback that keeps the weights every `every` steps (and at the start and the end) with the
learning rate in use. `pca_plane` finds the two directions along which those points spread most, taken from the
final point (Li et al. 2018, section 7: random directions miss the path, which lives in a tiny subspace), and each
point's coordinates in that plane; `path_plane` evaluates the loss on a grid that covers the path there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from ...core.errors import DescendError
from ...core.loop import Callback, LoopState
from .objective import Objective, weights_of
from .slices import Slice2D, on_plane
from .vectors import flatten, unflatten

Params = Mapping[str, torch.Tensor]


class WeightPath(Callback):
    """Records `model`'s trainable weights every `every` steps, at the start and at the end: `points`, the
    `steps` they were taken at, and `lrs`, the learning rate of the step that led there (the first one's for the
    start). Pass it to fit: `fit(model, data, callbacks=[path])`; the copies live in memory, one per point."""

    def __init__(self, model: torch.nn.Module, every: int = 10):
        if every < 1:
            raise DescendError(f"every={every}: record the weights every 1 or more steps")
        self.model, self.every = model, every
        self.points: list[dict[str, torch.Tensor]] = []
        self.steps: list[int] = []
        self.lrs: list[float] = []

    def needs_sync(self, state: LoopState) -> bool:
        """Only the steps it records need the loop to stop and show them (fit settles the rest in batches)."""
        return state.step % self.every == 0

    def on_start(self, state: LoopState) -> None:
        self._keep(state.step, float(state.optimizer.param_groups[0]["lr"]))

    def on_step_end(self, state: LoopState, record: dict) -> None:
        if state.step % self.every == 0 and not state.replaying:
            self._keep(state.step, float(record["lr"]))

    def on_end(self, state: LoopState) -> None:
        if self.steps[-1] != state.step:
            self._keep(state.step, float(state.history[-1]["lr"]) if state.history else self.lrs[-1])

    def _keep(self, step: int, lr: float) -> None:
        self.points.append({name: w.cpu() for name, w in weights_of(self.model).items()})
        self.steps.append(step)
        self.lrs.append(lr)


@dataclass(frozen=True)
class PathPlane:
    """The plane through `center` along two orthonormal `directions`; `coordinates[i]` is point i's position in it
    and `explained` the share of the path's spread (variance about the centre) each direction carries."""
    center: dict[str, torch.Tensor]
    directions: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]
    coordinates: torch.Tensor
    explained: tuple[float, float]


def pca_plane(points: Sequence[Params], center: Params | None = None) -> PathPlane:
    """The first two principal directions of `points` taken from `center` (default: the last point, where the
    run ended), and the coordinates of every point along them."""
    if len(points) < 3:
        raise DescendError(f"the path has {len(points)} recorded points; a plane needs at least 3 (record more "
                           "often: WeightPath(model, every=...) with a smaller every)")
    center = dict(points[-1] if center is None else center)
    origin = flatten(center).double()
    spread = torch.stack([flatten(p).double() - origin for p in points])
    _, values, basis = torch.linalg.svd(spread, full_matrices=False)
    if float(values[1]) <= 1e-12 * max(float(values[0]), 1e-300):
        raise DescendError("the recorded points lie on one line (or one point): there is no plane to draw; "
                           "use ls.interpolate between the first and last point instead")
    top = basis[:2]
    dtype = next(iter(center.values())).dtype
    directions = tuple(unflatten(row.to(dtype), center) for row in top)
    share = values ** 2 / (values ** 2).sum()
    return PathPlane(center, directions, spread @ top.T, (float(share[0]), float(share[1])))


def path_plane(objective: Objective, plane: PathPlane, steps: int = 41, margin: float = 0.25,
               progress: bool | int = False) -> Slice2D:
    """The loss on a `steps` x `steps` grid over the path's bounding box in `plane`, widened by `margin` of its
    longer side on every side, so the whole path and some of the landscape around it show (a path that hardly
    leaves the first direction still gets a second axis to see the valley's walls in)."""
    if steps < 2 or margin <= 0:
        raise DescendError(f"steps={steps}, margin={margin}: pass at least 2 steps and a positive margin")
    lows, highs = plane.coordinates.min(dim=0).values, plane.coordinates.max(dim=0).values
    pad = margin * float((highs - lows).max())
    axes = [torch.linspace(float(low) - pad, float(high) + pad, steps, dtype=torch.float64)
            for low, high in zip(lows, highs)]
    return on_plane(objective, plane.center, plane.directions, axes[0], axes[1], progress)
