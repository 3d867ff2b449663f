"""Rosenbrock's valley in 2 and 100 dimensions (the chained form), minimum 0 at all ones; target f < 1e-8.

Seed 0 starts from the classic point (-1.2, 1, -1.2, 1, ...); other seeds add N(0, 0.1^2) noise to it, so the
seeds are different starts rather than repeats of one deterministic run. Runs in float64.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .workload import Problem, Workload, full_batch, objective_value, scored


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def start(dim: int, seed: int) -> torch.Tensor:
    x0 = torch.tensor([-1.2, 1.0], dtype=torch.float64).repeat(dim // 2)
    if seed:
        x0 += 0.1 * torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x0


class Rosenbrock(nn.Module):
    """The objective as a module: forward ignores its input and returns f(x)."""

    def __init__(self, x0: torch.Tensor):
        super().__init__()
        self.x = nn.Parameter(x0.clone())

    def forward(self, _unused: torch.Tensor) -> torch.Tensor:
        return rosenbrock(self.x)


def builder(dim: int) -> Callable[[int], Problem]:
    """build(seed) for the `dim`-dimensional valley, scored by f at the current point."""
    def build(seed: int) -> Problem:
        return Problem(Rosenbrock(start(dim, seed)), full_batch(), objective_value,
                       scored(objective_value, full_batch()[0]))
    return build


WORKLOADS = [
    Workload("rosenbrock_2d", "Rosenbrock, 2-D, from (-1.2, 1)", builder(2), "f", 1e-8, "min",
             batch_size=1, steps=2000, quick_steps=600, weight_decay=0.0),
    Workload("rosenbrock_100d", "chained Rosenbrock, 100-D, from (-1.2, 1, ...)", builder(100), "f", 1e-8, "min",
             batch_size=1, steps=2000, quick_steps=600, weight_decay=0.0),
]
