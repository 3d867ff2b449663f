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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    add_training_arguments(parser, skip=("--log", "--lr"))   # the sweep is no run to track, and it sets the lr
    parser.add_argument("--lr", default=argparse.SUPPRESS, help=argparse.SUPPRESS)   # refused in words, in run


def curve_table(lrs: list[float], smoothed: list[float], rows: int = CURVE_ROWS) -> str:
    """About `rows` evenly spaced points of the sweep, and its last one: lr and smoothed loss."""
    picks = sorted({round(i * (len(lrs) - 1) / (rows - 1)) for i in range(rows)})
    return "\n".join(["        lr   smoothed loss"] + [f"  {lrs[i]:8.2e}   {smoothed[i]:.4g}" for i in picks])


def run(args: argparse.Namespace) -> int:
    if hasattr(args, "lr"):
        raise DescendError(f"--lr {args.lr}: lr-find sweeps the learning rate itself, from 1e-07 upward, "
                           "so it takes none; leave --lr out, and give the lr it suggests to descend fit")
    opts = options_from(args)
    prepared = prepare(read_table(args.data), opts, sweep=True)
    found = find_lr(prepared, opts)
    print(curve_table(found.lrs, found.smoothed))
    print(found.summary())
    command = shlex.join(["descend", "fit", args.data, "--target", opts.target, "--lr", f"{found.suggestion:.2g}"])
    print(f"use it: {command}   (or --lr auto)")
    return 0
