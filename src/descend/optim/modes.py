"""Train/eval switching for optimizers that keep evaluation weights apart (Schedule-Free, EMA).

torch.optim.Optimizer has no such modes, so these helpers call `train()`/`eval()` only where an optimizer
defines them. A look at the evaluation weights in the middle of training (an evaluation, a snapshot, a
checkpoint) goes through `evaluation_weights`, which swaps them back even when the look fails; `eval_mode` alone
is for the end of a run.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


def eval_mode(optimizer: torch.optim.Optimizer) -> None:
    """Put the weights meant for evaluation and saving (averaged, Schedule-Free x) into the model."""
    switch = getattr(optimizer, "eval", None)
    if callable(switch):
        switch()


def train_mode(optimizer: torch.optim.Optimizer) -> None:
    """Put the weights the next gradient is taken at back into the model."""
    switch = getattr(optimizer, "train", None)
    if callable(switch):
        switch()


@contextmanager
def evaluation_weights(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Inside, the model holds the weights meant for evaluation and saving; on leaving, the training weights."""
    eval_mode(optimizer)
    try:
        yield
    finally:
        train_mode(optimizer)
