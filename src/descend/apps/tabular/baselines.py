"""What the trained model is compared against: the training mean or majority class, and closed-form ridge."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...minimize.solve import least_squares
from .target import Target


def design_matrix(x_num: np.ndarray, x_cat: np.ndarray, sizes: list[int]) -> torch.Tensor:
    """Numbers plus every category one-hot (float64), the features the ridge baseline sees."""
    parts = [torch.as_tensor(x_num, dtype=torch.float64)]
    codes = torch.as_tensor(x_cat)
    parts += [F.one_hot(codes[:, i], size).double() for i, size in enumerate(sizes)]
    return torch.cat(parts, dim=1)


def ridge(x: torch.Tensor, y: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form ridge with an unpenalized intercept: (weights, intercept), from descend.solve."""
    return least_squares(x, y, ridge=alpha, intercept=True)


def ridge_predictions(target: Target, x_train: torch.Tensor, y_train: np.ndarray, x_test: torch.Tensor) -> np.ndarray:
    """Ridge predictions in the target's units: values, or class probabilities from one-hot targets (clipped)."""
    if target.task != "classification":
        w, b = ridge(x_train, torch.as_tensor(y_train, dtype=torch.float64))
        return (x_test @ w + b).numpy()
    onehot = F.one_hot(torch.as_tensor(y_train, dtype=torch.long), len(target.classes)).double()
    w, b = ridge(x_train, onehot)
    scores = (x_test @ w + b).clamp(1e-3, 1.0)
    return (scores / scores.sum(dim=1, keepdim=True)).numpy()


def constant_predictions(target: Target, y_train: np.ndarray, rows: int) -> np.ndarray:
    """The training mean for numbers; the training class shares (so the majority class wins) for classes."""
    if target.task != "classification":
        return np.full(rows, float(np.mean(y_train)))
    shares = np.bincount(y_train.astype(int), minlength=len(target.classes)) / len(y_train)
    return np.tile(shares, (rows, 1))
