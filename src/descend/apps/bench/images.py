"""A small convolutional network on scikit-learn's 8x8 digits read as images: the suite's only convolutions.

Same split as digits_mlp (30% held out, stratified, random_state 0); pixels are divided by 16, so they lie in
[0, 1] as image pixels usually do, rather than standardized per column. The network: two 3x3 convolutions (16
and 32 channels, ReLU), 2x2 max pooling, a linear read-out of the 32x4x4 features (9,930 parameters). Target:
test accuracy 0.98, which tuned AdamW reaches in about 140 steps (digits_mlp's MLP is held to 0.97;
scikit-learn's SVC with its defaults scores 0.987 on this split, pixels scaled the same way).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from ...core import metrics
from .workload import Problem, Workload, scored


@lru_cache(maxsize=1)
def split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images_train, y_train, images_test, y_test): float32 images of shape (N, 1, 8, 8) in [0, 1]."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    images = lambda a: torch.tensor(a / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)  # noqa: E731
    return images(x_train), torch.tensor(y_train), images(x_test), torch.tensor(y_test)


def network() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def build(seed: int) -> Problem:
    x_train, y_train, x_test, y_test = split()
    torch.manual_seed(seed)
    return Problem(network(), (x_train, y_train), "cross_entropy", scored(metrics.accuracy, x_test, y_test))


WORKLOAD = Workload(
    name="digits_cnn", summary="CNN (2 conv layers) on digits as 8x8 images, test accuracy",
    build=build, metric_name="test accuracy", target=0.98, mode="max", batch_size=64, steps=600, quick_steps=200,
    eval_every=20)
