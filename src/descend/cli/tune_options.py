"""The body of `descend tune DATA --target COL --trials N`: arguments, the search, the printed table.

descend.cli.commands.tune supplies the tabular training function and the options every trial shares (see `run_with`),
so this module can be tested with any training function.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ..apps.tabular.options import Options
from ..apps.tuning.search import tune
from ..apps.tuning.study import PRUNERS, SAMPLERS
from ..apps.tuning.tabular import TABULAR_SPACE, TabularObjective
from ..core.checks import check_positive_int
from ..core.errors import DescendError



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="CSV or Parquet file")
    parser.add_argument("--target", required=True, metavar="COL", help="column to predict")
    parser.add_argument("--trials", type=int, required=True, help="finished trials the study should hold")
    parser.add_argument("--storage", default=None, help="database URL keeping the study, e.g. sqlite:///tune.db "
                        "(needed to resume or for --workers)")
    parser.add_argument("--study", default="descend", help="study name inside the storage (default: descend)")
    parser.add_argument("--workers", type=int, default=1, help="processes searching in parallel (default: 1)")
    parser.add_argument("--sampler", default="tpe", help=f"one of {', '.join(SAMPLERS)} (default: tpe)")
    parser.add_argument("--pruner", default="asha", help=f"one of {', '.join(PRUNERS)} (default: asha)")
    parser.add_argument("--max-epochs", type=int, default=None, metavar="N",
                        help=f"epoch limit of each trial (default {Options(target='').max_epochs}, as descend fit's)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="stop starting trials after this many seconds (default: none, --trials alone ends it)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="the sampler's draws, and each trial's initialization and batch order (default 0)")
    parser.add_argument("--out", default="tune", help="folder for best.json, trials.csv and plots (default: tune)")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse tune's own flags out of range by their flag names, before the data is read (the search would
    refuse them too, but by its Python parameters: n_trials, storage=)."""
    for flag in ("trials", "workers"):
        check_positive_int(getattr(args, flag), f"--{flag}")
    if args.workers > 1 and not args.storage:
        raise DescendError(f"--workers {args.workers} needs --storage, a database the processes share, such as "
                           "--storage sqlite:///tune.db")


def base_options(args: argparse.Namespace, shared: dict | None = None) -> dict:
    """The fit options every trial shares: `shared` ones, the target, the seed and, when given, the epoch limit."""
    base = {**(shared or {}), "target": args.target, "seed": args.seed}
    if args.max_epochs is not None:
        base["max_epochs"] = args.max_epochs
    return base


def run_with(args: argparse.Namespace, train: Callable, shared: dict | None = None, space: dict | None = None) -> int:
    """Run the search over `space` (default: the tabular one) with `train(data_path, options, callbacks)` as each
    trial's work, every trial with the `shared` options besides the drawn ones; print the table."""
    if not Path(args.data).is_file():
        raise FileNotFoundError(f"data file {args.data!r} does not exist")
    objective = TabularObjective(train, args.data, base_options(args, shared))
    result = tune(objective, space or TABULAR_SPACE, args.trials, storage=args.storage, study_name=args.study,
                  sampler=args.sampler, pruner=args.pruner, seed=args.seed, workers=args.workers,
                  timeout=args.timeout, out=args.out)
    print(result.table())
    print(f"best: trial {result.best_trial}, val_loss {result.best_value:.5g}; "
          f"reproduce with `descend fit --config {result.files['best']}`")
    print("wrote " + ", ".join(result.files.values()))
    return 0
