"""`descend tune DATA --target COL --trials N`: search a table's training settings with Optuna."""
from __future__ import annotations

import argparse

from ...apps.tabular import read_table
from ...apps.tabular.options import Options, declarations
from ...apps.tabular.train import prepare, train
from ...apps.tuning.tabular import space_for
from ...core.loop import Callback
from ...fit import FitResult
from .. import tune_options as tune_cli
from ..tabular_options import add_training_arguments, flag, given_options

HELP = "search learning rate, weight decay, width, depth, batch size and schedule for a table (Optuna)"  # a literal:
# `descend --help` reads it from this file without importing the command
SEARCHED = tuple(flag(name) for name, declared in declarations().items() if declared.search)  # tune draws them


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tune_cli.add_arguments(parser)
    add_training_arguments(parser, skip=(*SEARCHED, "--max-epochs", "--seed", "--log"))


def _quiet(text: str) -> None:
    """Trials print nothing of their own; the search prints one line per trial."""


def train_table(data: str, options: dict, callbacks: list[Callback]) -> FitResult:
    """One trial: the tabular fit with `options` on the training rows of `data`, scored on its validation rows
    (the test rows stay untouched, as in every search). Trials are not refitted: the search needs only the
    validation scores."""
    opts = Options.from_dict({**options, "progress": False, "refit": "no"}, "the trial's options")
    return train(prepare(read_table(data, _quiet), opts, _quiet), opts, _quiet, callbacks=callbacks)


def run(args: argparse.Namespace) -> int:
    tune_cli.check_arguments(args)
    shared = {k: v for k, v in given_options(args).items() if k not in ("max_epochs", "seed")}  # tune's own flags
    opts = Options.from_dict(tune_cli.base_options(args, shared), "the options")  # bad values before any trial
    prepared = prepare(read_table(args.data), opts, _quiet)   # the data's errors (no such target) before any trial
    space, capped = space_for(len(prepared.scheme.train_rows))
    if capped:
        print(capped)
    return tune_cli.run_with(args, train_table, shared, space)
