"""Ridge's penalty choice from one factorization per fold (glm.ridge_path) against one direct solve per penalty and
fold (glm.ridge, as choose_penalty fitted before): the chosen penalty, the largest difference of the validation
outputs relative to their largest size, and the CPU seconds of each way, on every regression table of the suite
and fresh lists. Each table runs `descend fit` in this process on the file tabular_suite.py's "cli" mode writes
(seed 0) until the linear model's penalty is chosen, where the design, target and folds are taken and the fit
stops (its printing hidden); the CPU seconds are on one thread (run with OMP_NUM_THREADS=1); a table whose loss
is not the squared error (counts: Poisson) does not use ridge and is listed as such. Run:
    OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks nice python benchmarks/ridge_path_check.py [--tables chicago,diabetes]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import tabular_suite as suite
from descend.apps.tabular import glm, linear
from descend.cli import main as descend
from tabular_fresh import FRESH
from tabular_fresh2 import FRESH2
from tabular_fresh3 import FRESH3
from tabular_fresh4 import FRESH4
from tabular_fresh5 import FRESH5

LISTS = {"suite": suite.TABLES, "fresh": FRESH, "fresh2": FRESH2, "fresh3": FRESH3, "fresh4": FRESH4,
         "fresh5": FRESH5}


class Taken(BaseException):
    """Stops `descend fit` once the penalty choice's inputs are taken (not an Exception: nothing catches it)."""

    def __init__(self, inputs: tuple):
        super().__init__()
        self.inputs = inputs


def _take(loss, design, y, folds, classes):
    raise Taken((loss, design, y, folds, classes))


def choice_inputs(table: suite.Table, folder: Path) -> tuple:
    """(loss, design, y, folds, classes) as `descend fit` passes them to choose_penalty on the table's file."""
    frame = table.load()
    frame = frame[frame[table.target].notna()].reset_index(drop=True)
    if not table.ordered:
        frame = frame.sample(frac=1.0, random_state=suite.SPLIT_SEED).reset_index(drop=True)
    frame.to_csv(folder / "all.csv", index=False)
    original, linear.choose_penalty = linear.choose_penalty, _take
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            descend(["fit", str(folder / "all.csv"), "--target", table.target, "--seed", "0", "--out",
                     str(folder / "run")])
    except Taken as taken:
        return taken.inputs
    finally:
        linear.choose_penalty = original
    raise RuntimeError(f"{table.name}: descend fit finished without choosing a linear penalty")


def direct_choice(design: np.ndarray, y: np.ndarray, folds: list) -> tuple[float, np.ndarray]:
    """The penalty choice as main makes it: glm.ridge per penalty and fold, scored as choose_penalty scores."""
    val_rows = np.concatenate([val for _, val in folds])
    target = torch.as_tensor(y[val_rows])
    best = None
    for penalty in linear.PENALTIES["mse"]:
        outputs = np.concatenate([glm.ridge(design[fit], y[fit], penalty).outputs(design[val]) for fit, val in folds])
        score = linear.mean_loss("mse", linear.as_mean("mse", outputs), target)
        if best is None or score < best[0]:
            best = (score, penalty, outputs)
    return best[1], best[2]


def cpu(call):
    start = time.process_time()
    out = call()
    return out, time.process_time() - start


def check(table: suite.Table) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        loss, design, y, folds, classes = choice_inputs(table, Path(tmp))
    if loss != "mse":
        return f"| {table.name} | {design.shape[0]} x {design.shape[1]} | {len(folds)} | {loss}: no ridge | | | |"
    (old_penalty, old), old_s = cpu(lambda: direct_choice(design, y, folds))
    (new_penalty, placed), new_s = cpu(lambda: linear.choose_penalty(loss, design, y, folds, classes))
    new = placed[np.concatenate([val for _, val in folds])]
    relative = float(np.abs(new - old).max() / np.abs(old).max())
    return (f"| {table.name} | {design.shape[0]} x {design.shape[1]} | {len(folds)} | {old_penalty:g} -> "
            f"{new_penalty:g}{'' if old_penalty == new_penalty else ' CHANGED'} | {relative:.1e} | {old_s:.3f} | "
            f"{new_s:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default=None, help="these tables only (default: every regression table)")
    args = parser.parse_args()
    print("| table | design rows x columns | folds | penalty: per-penalty solves -> one factorization | largest "
          "output difference / largest output | CPU s: per-penalty solves | CPU s: one factorization |")
    print("|---|---|---|---|---|---|---|")
    for name, tables in LISTS.items():
        for table in tables:
            if table.task == "regression" and (args.tables is None or table.name in args.tables.split(",")):
                print(check(table).replace(f"| {table.name} ", f"| {name}/{table.name} ", 1), flush=True)


if __name__ == "__main__":
    main()
