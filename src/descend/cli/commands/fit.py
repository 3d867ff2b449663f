"""`descend fit DATA --target COL`: train on a CSV/Parquet table and report on held-out test rows."""
from __future__ import annotations

import argparse
import sys

from ...apps import tracking
from ...apps.tabular import TabularRun, fit_table, read_table, recording, subruns
from ...core.checks import check_positive_int
from ...core.errors import DescendError
from ..tabular_options import (REPORT, add_data_arguments, add_training_arguments, data_path, options_from,
                               read_config, report, saved)

HELP = "train a model on a CSV or Parquet table and report test scores against baselines"
EPILOG = ("Rows: the last --test-fraction of the rows (default 0.2; random rows with --split random) are the test set, "
          "scored once at the end; --test-fraction 0 keeps no test set (for your own test file and `descend "
          "predict`) and the report shows validation scores instead. Of the training rows, a table with up to "
          "2000 of them and no dates is cut into 5 folds: 10 networks, two per fold, each learn from the other 4 "
          "folds and are validated on their own (early stopping, and the blend with a linear model, on out-of-fold "
          "predictions). With up to 2000 and dates (time split), the last 3 runs of 15% of them (at most a third) "
          "validate in turn, each by 2 networks that learned only from the rows before it. Otherwise the last 15% "
          "of the training rows validate and the rest train. With up to 5000 "
          "training rows, or dates, the networks are then trained again on all training rows for the chosen number "
          "of epochs (--refit). On a table with dates and a squared-error target, the networks learn what the linear "
          "model leaves, so forecasts past the training range follow its trend.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser, data_optional=True)
    parser.add_argument("--out", default=None, metavar="DIR", help="folder to save the model, preprocessing, metrics, "
                        "history and checkpoints (recorded in DIR.partial while training)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run of --out DIR from its "
                        "last checkpoint (same data and options)")
    parser.add_argument("--config", default=None, metavar="FILE", help="options (and data) from a JSON file, e.g. "
                        "best.json from `descend tune`; flags given here override it")
    parser.add_argument("--nproc", type=int, default=1, metavar="N", help="train data-parallel in N local processes "
                        "(torch.distributed; the batch size stays the global one)")
    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config, frozenset(vars(args))) if args.config else None
    data = data_path(args, config)   # first: `descend fit --out DIR` lacks the file before the target
    opts = options_from(args, config)
    check_positive_int(args.nproc, "--nproc")
    if args.resume and not args.out:
        raise DescendError("--resume needs --out DIR: the folder of the run to continue")
    tracking.from_targets(opts.log)   # a tracker whose package is missing is refused before any file is written
    if not args.out:
        print(report(fit_table(read_table(data), opts, nproc=args.nproc)))
        print("not saved: add --out DIR to keep the model for `descend predict`")
        return 0
    with recording(args.out, args.resume) as plan:
        return _already_complete(args.out, opts) if plan.complete else _recorded(plan, opts, data, args)


def _already_complete(out: str, opts) -> int:
    run = TabularRun.load(out)
    changed = run.other_options(opts)
    if changed:
        raise DescendError(f"--resume: {out} holds a complete run of other options ({'; '.join(changed)}); to train "
                           "these, leave out --resume and give a new --out")
    print(f"the run in {out} is already complete; nothing to resume")
    print(report(run))
    return 0


def _recorded(plan, opts, data: str, args: argparse.Namespace) -> int:
    """Train recording in DIR.partial, then save to DIR; Ctrl-C after the record began says how to complete it."""
    drawn = (plan.folder / REPORT).is_file()   # `descend report DIR.partial` of the run unfinished
    try:
        result = fit_table(read_table(data), opts, run_dir=plan.folder, resume=plan.resume, nproc=args.nproc)
        print(report(result))
        print(saved(result.save(args.out, plan.folder)))
    except KeyboardInterrupt:
        if subruns.recorded(plan.folder):
            print(f"the run is kept in {plan.folder}; the same command with --resume completes it", file=sys.stderr)
        raise
    if drawn:   # runs.report loads matplotlib: only when there is a page to draw
        from ...runs.report import write_report
        print(f"note: {REPORT}, drawn of the run unfinished, is drawn again of the finished run: "
              f"{write_report(args.out)}", file=sys.stderr)
    return 0
