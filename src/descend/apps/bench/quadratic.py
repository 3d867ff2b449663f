"""DeepOBS's noisy quadratic `quadratic_deep`, rebuilt from its definition (Schneider et al., 2019).

Matched to DeepOBS: eigenvalues from numpy RandomState(42) (90 uniform in (0, 1), then 10 uniform in (30, 60)),
rotated by a Haar-random rotation drawn next from the same generator with the Diaconis-Shahshahani subgroup
algorithm; training data 1000 points N(0, 0.6^2 I) from RandomState(42), test data from RandomState(43), both
float32; theta starts at ones; the loss is the batch mean of 0.5 (theta - x)^T Q (theta - x); batch size 128 with
the last partial batch dropped (7 steps per epoch); DeepOBS's budget of 100 epochs = 700 steps.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .workload import Problem, Workload, objective_value, scored

DIM, TRAIN_SIZE, NOISE, BATCH = 100, 1000, 0.6, 128


def haar_rotation(dim: int, rng: np.random.RandomState) -> np.ndarray:
    """A rotation in SO(dim), grown one dimension at a time by Householder reflections (subgroup algorithm)."""
    angle = 2 * np.pi * rng.uniform()
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    for d in range(2, dim):
        v = rng.normal(size=(d + 1, 1))
        v /= np.sqrt(v.T @ v)
        e = np.zeros((d + 1, 1))
        e[0, 0] = 1.0
        x = (e - v) / np.sqrt((e - v).T @ (e - v))
        embedded = np.zeros((d + 1, d + 1))
        embedded[0, 0] = 1.0
        embedded[1:, 1:] = rot
        rot = embedded - 2 * np.outer(x, x.T @ embedded)
    return -rot


def hessian() -> np.ndarray:
    """The fixed Hessian Q = R^T diag(eigenvalues) R of quadratic_deep."""
    rng = np.random.RandomState(42)
    eigenvalues = np.concatenate([rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10)])
    rot = haar_rotation(DIM, rng)
    return rot.T @ np.diag(eigenvalues) @ rot


def points(seed: int) -> torch.Tensor:
    """DeepOBS's 1000 data points N(0, 0.6^2 I) from RandomState(seed), float32."""
    return torch.from_numpy(np.float32(np.random.RandomState(seed).normal(0.0, NOISE, (TRAIN_SIZE, DIM))))


class NoisyQuadratic(nn.Module):
    """theta in R^100; the forward pass returns each sample's 0.5 (theta - x)^T Q (theta - x)."""

    def __init__(self, q: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(torch.ones(DIM))
        self.register_buffer("q", q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = self.theta - x
        return 0.5 * ((diff @ self.q) * diff).sum(dim=1)


_CACHE: dict = {}


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not _CACHE:
        _CACHE["q"] = torch.from_numpy(np.float32(hessian()))
        _CACHE["train"], _CACHE["test"] = points(42), points(43)
    return _CACHE["q"], _CACHE["train"], _CACHE["test"]


class Rows(Dataset):
    """Rows of tensors. DataLoader fetches a whole batch in one indexing call (`__getitems__`) instead of one call
    per row; `__getitem__` serves code that reads a Dataset row by row."""

    def __init__(self, *tensors: torch.Tensor):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, row: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[row] for t in self.tensors)

    def __getitems__(self, rows: list[int]) -> tuple[torch.Tensor, ...]:
        return tuple(t[rows] for t in self.tensors)


def collate(batch: tuple | list) -> tuple[torch.Tensor, ...]:
    """A batch from `Rows.__getitems__` is already tensors; rows read one by one are stacked into them."""
    return batch if isinstance(batch, tuple) else tuple(torch.stack(column) for column in zip(*batch))


def build(seed: int) -> Problem:
    """theta starts at ones for every seed (as in DeepOBS); the seed changes the batch order."""
    q, train, test = _data()
    loader = DataLoader(Rows(train, torch.zeros(TRAIN_SIZE)), batch_size=BATCH, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed), collate_fn=collate)
    return Problem(NoisyQuadratic(q), loader, objective_value, scored(objective_value, test))


WORKLOAD = Workload(
    name="quadratic_deep", summary="DeepOBS noisy quadratic, 100-D, test loss (best possible about 87.13)",
    build=build, metric_name="test loss", target=87.70, mode="min", batch_size=BATCH, steps=700,
    quick_steps=210, eval_every=7, weight_decay=0.0)
