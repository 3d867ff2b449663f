"""What a benchmark workload is: data, model, loss, batch size, step budget and the target that ends a trial.

A workload builds a fresh `Problem` per seed (the seed changes the model's initial weights and the batch order,
never the data split), so every optimizer starts from the same point for the same seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

Score = Callable[[torch.Tensor, torch.Tensor], float]


@dataclass
class Problem:
    """One seed's instance of a workload: the model to train, its data and the metric the target is set on.

    `metric(model)` returns the number compared with the target, always for the weights as they are now (after
    the step just taken), whether it scores held-out data or the whole objective of a full-batch problem.
    """

    model: nn.Module
    train: object                  # what fit takes as train: (X, y) tensors or a DataLoader
    loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # what fit takes as loss=
    metric: Callable[[nn.Module], float]


@dataclass(frozen=True)
class Workload:
    """A benchmark task: `build(seed)` makes the Problem; a trial ends when the metric reaches `target`."""

    name: str
    summary: str
    build: Callable[[int], Problem]
    metric_name: str
    target: float
    mode: str                      # "min": reach at or below the target; "max": at or above
    batch_size: int
    steps: int                     # step budget, the same for every optimizer
    quick_steps: int               # budget under --quick
    eval_every: int = 1            # steps between metric evaluations: the resolution of steps-to-target
    weight_decay: float | None = None  # None: the optimizer's default; 0 for objectives defined without decay

    def reached(self, value: float) -> bool:
        """Whether `value` meets the target."""
        return value <= self.target if self.mode == "min" else value >= self.target

    def budget(self, quick: bool) -> int:
        """The step budget of a full or a --quick run."""
        return self.quick_steps if quick else self.steps


def scored(score: Score, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> Callable[[nn.Module], float]:
    """A Problem metric: `score(model(inputs), targets)` without gradients, as a float. Every workload's metric is
    one of these: held-out data for trained models, the full-batch placeholder for objectives."""
    def metric(model: nn.Module) -> float:
        with torch.no_grad():
            return float(score(model(inputs), targets))
    return metric


def full_batch(inputs: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A one-row placeholder dataset for objectives that take no data: each step evaluates the whole objective."""
    return torch.zeros(1, inputs), torch.zeros(1)


def objective_value(output: torch.Tensor, _target: torch.Tensor) -> torch.Tensor:
    """Loss for models whose forward pass already returns the objective (or per-sample objectives): their mean."""
    return output.mean()
