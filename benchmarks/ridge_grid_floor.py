"""Where ridge's penalty grid reaching below 0.1 (to 1e-4) changes the linear model validation chooses: on every
regression table of every list (tabular_suite.py, tabular_held_out.py, islp_tables.py, dated_tables.py and the ten
fresh lists), the penalty chosen from the grid that started at 0.1 and from linear.PENALTIES, with the out-of-fold
(or held-out) loss of each. Each table runs `descend fit` on the file tabular_suite.py's "cli" mode writes (seed 0)
until the penalty is chosen (ridge_path_check.choice_inputs), so the design, target and folds are the run's own; a
table whose loss is not the squared error (counts: Poisson) has no ridge and is listed as such. A table whose
choice is the same on both grids trains, blends and predicts as it did. Run:
    PYTHONPATH=src:benchmarks nice python benchmarks/ridge_grid_floor.py [--tables meats,diabetes] [--wheel W]
"""
from __future__ import annotations

import argparse
import importlib
import tempfile
from pathlib import Path

import numpy as np
import torch

import dated_tables
import islp_tables
import tabular_suite as suite
from descend.apps.tabular import glm, linear
from ridge_path_check import choice_inputs
from tabular_held_out import HELD_OUT

FROM_TENTH = (0.1, 1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, 1e6)   # the grid before it reached below 0.1


def lists() -> dict[str, list[suite.Table]]:
    """Every list's tables by the list's name (a dated table as an ordered regression table)."""
    fresh = {f"fresh{n}": getattr(importlib.import_module(f"tabular_fresh{n}"), f"FRESH{n}")
             for n in ("", 2, 3, 4, 5, 6, 7, 8, 9, 10)}
    dated = [suite.Table(d.name, d.load, d.target, "regression", ordered=True)
             for d in dated_tables.HELD_OUT if d.held_out]
    return {"suite": suite.TABLES, "held_out": HELD_OUT, "islp": islp_tables.ISLP_TABLES, "dated": dated, **fresh}


def choice(design: np.ndarray, y: np.ndarray, folds: list, grid: tuple[float, ...]) -> tuple[float, float]:
    """The penalty of `grid` with the lowest validation loss over `folds`, as choose_penalty scores it, and that
    loss."""
    val_rows = np.concatenate([val for _, val in folds])
    target = torch.as_tensor(y[val_rows])
    paths = [glm.ridge_path(design[fit], y[fit], grid) for fit, _ in folds]
    scores = {}
    for i, penalty in enumerate(grid):
        outputs = np.concatenate([path[i].outputs(design[val]) for path, (_, val) in zip(paths, folds)])
        scores[penalty] = linear.mean_loss("mse", linear.as_mean("mse", outputs), target)
    best = min(scores, key=scores.get)
    return best, scores[best]


def row(list_name: str, table: suite.Table) -> str:
    name = f"{list_name}/{table.name}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            loss, design, y, folds, _ = choice_inputs(table, Path(tmp))
        except RuntimeError:   # fit refused the file before any model (fresh8's yrbss: 'other' among numbers)
            return f"| {name} | | descend fit refuses the file as it is | | |"
    if loss != "mse":
        return f"| {name} | {design.shape[0]} x {design.shape[1]} | {loss}: no ridge | | |"
    (old, old_loss), (new, new_loss) = (choice(design, y, folds, grid)
                                        for grid in (FROM_TENTH, linear.PENALTIES["mse"]))
    changed = "" if old == new else " CHANGED"
    return (f"| {name} | {design.shape[0]} x {design.shape[1]} | {old:g} ({old_loss:.4g}) | {new:g} "
            f"({new_loss:.4g}){changed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default=None, help="these tables only (default: every regression table)")
    parser.add_argument("--wheel", type=Path, default=islp_tables.WHEEL, help="the ISLP wheel islp_tables.py reads")
    args = parser.parse_args()
    islp_tables._source["wheel"] = args.wheel
    print("| table | design rows x columns | penalty from 0.1 (validation loss) | penalty from 1e-4 (validation "
          "loss) |")
    print("|---|---|---|---|")
    for list_name, tables in lists().items():
        for table in tables:
            if table.task == "regression" and (args.tables is None or table.name in args.tables.split(",")):
                print(row(list_name, table), flush=True)


if __name__ == "__main__":
    main()
