"""Permutation feature importance: how much worse the kept model scores on the validation rows when one input
column's values are shuffled among them (Breiman 2001), every feature made from that column shuffled together.

It measures what this model uses, not what is true of the world: two columns that carry the same information
share the credit, and a column the model ignores scores zero however telling it is.
"""
from __future__ import annotations

import numpy as np
import torch

from . import evaluate
from .preprocess import Preprocessor
from .run import TabularRun

REPEATS = 3
BATCH_ROWS = 16_384   # shuffled copies scored in one forward pass, up to this many rows: a wide table's
                      # thousands of columns are tens of passes, not thousands of small ones


def _score(run: TabularRun, x: torch.Tensor, truth: np.ndarray, metric: str) -> float:
    return evaluate.scores(run.target, truth, run.outputs(x))[metric]


def permutation_importance(run: TabularRun, pre: Preprocessor, x: torch.Tensor, truth: np.ndarray,
                           seed: int = 0, rows: str | None = None) -> dict:
    """{"measure": what the numbers mean, "columns": {column: mean rise in validation RMSE or log-loss}} for the
    validation rows `x` (encoded) and `truth` (values or class indices), most important first; `rows` says in
    words which rows they are (default: "N rows")."""
    metric = "log_loss" if run.target.task == "classification" else "rmse"
    base = _score(run, x, truth, metric)
    generator = torch.Generator().manual_seed(seed)
    positions = pre.feature_positions()
    shuffles = [(name, places, torch.randperm(len(x), generator=generator))
                for name, places in positions.items() for _ in range(REPEATS)]
    per_pass = max(1, BATCH_ROWS // len(x))
    rises = dict.fromkeys(positions, 0.0)
    for start in range(0, len(shuffles), per_pass):
        batch = shuffles[start:start + per_pass]
        outputs = run.outputs(torch.cat([_shuffled(x, places, order) for _, places, order in batch]))
        for (name, _, _), output in zip(batch, np.split(outputs, len(batch))):
            rises[name] += (evaluate.scores(run.target, truth, output)[metric] - base) / REPEATS
    label = "log-loss" if metric == "log_loss" else "RMSE"
    return {"measure": f"rise in validation {label} (from {base:.4g}) when the column is shuffled, mean of "
                       f"{REPEATS} shuffles of {rows or f'{len(x)} rows'}",
            "columns": dict(sorted(rises.items(), key=lambda item: -item[1]))}


def _shuffled(x: torch.Tensor, places: list[int], order: torch.Tensor) -> torch.Tensor:
    """`x` with the features at `places` (one column's) taken from the rows in `order`."""
    copy = x.clone()
    copy[:, places] = x[order][:, places]
    return copy
