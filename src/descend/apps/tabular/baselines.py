"""What the trained model is compared against: the training mean or majority class, and the linear model a
statistician would fit first (closed-form ridge for numbers, logistic regression for classes)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import glm
from .target import Target


def design_matrix(x_num: np.ndarray, x_cat: np.ndarray, sizes: list[int]) -> torch.Tensor:
    """Numbers plus every category one-hot (float64), the features the ridge baseline sees."""
    parts = [torch.as_tensor(x_num, dtype=torch.float64)]
    codes = torch.as_tensor(x_cat)
    parts += [F.one_hot(codes[:, i], size).double() for i, size in enumerate(sizes)]
    return torch.cat(parts, dim=1)


def linear_predictions(target: Target, x_train: torch.Tensor, y_train: np.ndarray,
                       x_test: torch.Tensor) -> tuple[str, np.ndarray]:
    """(the baseline's name, its predictions in the target's units): closed-form ridge values for numbers, held at
    the target's floor when the model's are (`Target.floor`: every training value 0 or more), so the comparison
    weighs the two models and not the floor; class probabilities of L2-regularized logistic regression (C 1,
    scikit-learn's default) for classes."""
    if target.task != "classification":
        values = glm.ridge(x_train.numpy(), y_train, alpha=1.0).outputs(x_test.numpy())[:, 0]
        if target.floor is None:
            return "ridge, closed form (alpha 1)", values
        return f"ridge, closed form (alpha 1), held at {target.floor:g} or above", np.maximum(values, target.floor)
    labels = y_train.astype(int)
    if len(np.unique(labels)) < 2:   # the training rows hold one class: logistic regression has nothing to fit
        return "logistic regression (C 1)", constant_predictions(target, y_train, len(x_test))
    model = glm.logistic(x_train.numpy(), labels, C=1.0)
    probs = np.zeros((len(x_test), len(target.classes)))
    probs[:, model.classes] = model.probabilities(x_test.numpy())   # classes absent from training get 0
    return "logistic regression (C 1)", probs


def constant_predictions(target: Target, y_train: np.ndarray, rows: int) -> np.ndarray:
    """The training mean for numbers; the training class shares (so the majority class wins) for classes."""
    if target.task != "classification":
        return np.full(rows, float(np.mean(y_train)))
    shares = np.bincount(y_train.astype(int), minlength=len(target.classes)) / len(y_train)
    return np.tile(shares, (rows, 1))
