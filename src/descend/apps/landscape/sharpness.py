"""Sharpness over a run: lambda_max of the Hessian at each recorded point, beside 2/lr.

Gradient descent with step size lr is stable on a quadratic only while lambda_max < 2/lr; full-batch training
drifts up to that edge and then hovers at it (Cohen et al. 2021, "Gradient Descent on Neural Networks Typically
Occurs at the Edge of Stability"). A point above the edge says the step was too large for the curvature there,
the cause of a loss that rises or oscillates. The threshold is exact for plain gradient descent; momentum raises
it to (2 + 2 * momentum) / lr and adaptive methods (Adam) precondition the Hessian, so for them the curve is a
guide, not a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

from ...core.errors import DescendError
from ...fit.progress import WorkBar
from .hessian import top_eigenvalues
from .objective import Objective
from .vectors import all_finite

Params = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class SharpnessHistory:
    """lambda_max at each recorded step and the learning rate there."""
    steps: list[int]
    sharpness: list[float]
    lrs: list[float]

    @property
    def edge(self) -> list[float]:
        """2/lr at each point: the largest lambda_max gradient descent is stable at."""
        return [2.0 / lr if lr > 0 else float("inf") for lr in self.lrs]

    def above_edge(self) -> list[int]:
        """The steps at which lambda_max exceeded 2/lr."""
        return [step for step, value, edge in zip(self.steps, self.sharpness, self.edge) if value > edge]


def sharpness_history(objective: Objective, points: Sequence[Params], steps: Sequence[int], lrs: Sequence[float],
                      tol: float = 1e-4, seed: int = 0, progress: bool | int = False) -> SharpnessHistory:
    """lambda_max (Lanczos to `tol` relative) at each of `points`, recorded at `steps` with learning rates `lrs`
    (WeightPath's three lists)."""
    if not len(points) == len(steps) == len(lrs) or not points:
        raise DescendError(f"sharpness history: {len(points)} points, {len(steps)} steps and {len(lrs)} learning "
                           "rates; pass one step and one lr per recorded point (WeightPath's points, steps, lrs)")
    values = []
    with WorkBar(len(points), "sharpness", progress) as bar:
        for point in points:
            values.append(float(top_eigenvalues(objective, point, k=1, tol=tol, seed=seed)[0]) if all_finite(point)
                          else float("nan"))   # a diverged run's weights have no Hessian to speak of
            bar.advance()
    return SharpnessHistory(list(steps), values, [float(lr) for lr in lrs])
