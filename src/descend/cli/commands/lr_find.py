"""`descend lr-find DATA --target COL`: the learning-rate sweep that `descend fit --lr auto` runs, shown."""
from __future__ import annotations

import argparse
import shlex

from ...apps.tabular import read_table
from ...core.errors import DescendError
from ...apps.tabular.train import find_lr, prepare
from ..tabular_options import add_data_arguments, add_training_arguments, options_from

HELP = "sweep the learning rate on a table's training rows and suggest one (what `descend fit --lr auto` uses)"
CURVE_ROWS = 12
UNUSED = ("--max-epochs", "--patience", "--refit", "--schedule")   # fit's run length and schedule: no sweep's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    add_training_arguments(parser, skip=("--log", "--lr", *UNUSED))   # the sweep is no run to track, sets the lr
    for flag in ("--lr", *UNUSED):   # fit's flags, refused in words in run, not by argparse as unknown
        parser.add_argument(flag, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def refuse_unused(args: argparse.Namespace) -> None:
    """fit's flags a sweep has no use for, named with what the sweep does instead (a user copying a fit command
    line would otherwise believe them applied)."""
    if hasattr(args, "lr"):
        raise DescendError(f"--lr {args.lr}: lr-find sweeps the learning rate itself, from 1e-07 upward, "
                           "so it takes none; leave --lr out, and give the lr it suggests to descend fit")
    given = [flag for flag in UNUSED if hasattr(args, flag[2:].replace("-", "_"))]
    if given:
        raise DescendError(f"{', '.join(given)}: lr-find takes none of these descend fit options: its sweep runs "
                           "at most 100 steps at a rising lr, stopping where the loss diverges, with no schedule, "
                           "epochs, early stopping or refit; leave them out here and give them to descend fit")


def curve_table(lrs: list[float], smoothed: list[float], rows: int = CURVE_ROWS) -> str:
    """About `rows` evenly spaced points of the sweep, and its last one: lr and smoothed loss."""
    picks = sorted({round(i * (len(lrs) - 1) / (rows - 1)) for i in range(rows)})
    return "\n".join(["        lr   smoothed loss"] + [f"  {lrs[i]:8.2e}   {smoothed[i]:.4g}" for i in picks])


def run(args: argparse.Namespace) -> int:
    refuse_unused(args)
    opts = options_from(args)
    prepared = prepare(read_table(args.data), opts, sweep=True)
    found = find_lr(prepared, opts)
    print(curve_table(found.lrs, found.smoothed))
    print(found.summary())
    command = shlex.join(["descend", "fit", args.data, "--target", opts.target, "--lr", f"{found.suggestion:.2g}"])
    print(f"use it: {command}   (or --lr auto)")
    return 0
