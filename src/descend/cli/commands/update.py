"""`descend update DIR NEWDATA`: keep training a saved model on new rows and show before/after scores."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...apps.tabular import TabularRun, read_table
from ...apps.tabular.evaluate import table
from ...apps.tabular.update import judged, update_run
from ...runs import lock
from ..tabular_options import REPORT, fixed_learning_rate, saved

HELP = "continue training a saved model on new rows (warm start); scores on the newest rows before and after"
EPILOG = ("Rows, in time order (by the fit's --time-column, else as given): the newest --test-fraction of the fit "
          "(default 0.2) are held out and scored before and after; the last 15% of the rest validate for early "
          "stopping, and when the validation loss ends worse than it began, the previous weights are kept (the "
          "output says which weights stayed). A model that is the linear model alone, which an update leaves as "
          "fitted, trains nothing and is only scored. The steps, findings and scores join the run's history, "
          "findings.json and metrics.json (`descend report DIR` draws them as their own part).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="DIR", help="the folder written by `descend fit --out`; updated in place")
    parser.add_argument("data", metavar="NEWDATA", help="CSV or Parquet file of new rows, target included")
    parser.add_argument("--max-epochs", metavar="N", type=int, default=None, help="default: as in the original fit")
    parser.add_argument("--lr", metavar="LR", type=fixed_learning_rate, default=None,
                        help="default: 0.3 x the original fit's")


def run(args: argparse.Namespace) -> int:
    with lock.hold(args.run_dir, args.run_dir, create=False):   # one update at a time, and none during a fit
        model = TabularRun.load(args.run_dir)
        record = update_run(model, read_table(args.data), max_epochs=args.max_epochs, lr=args.lr)
        print(f"newest {record['newest_rows']} rows of the new data:")
        print(table({"before update": record["before"], "after update": record["after"]}))
        print("\n".join(judged(record)))
        print(saved(model.save(args.run_dir)))
    if (Path(args.run_dir) / REPORT).is_file():   # drawn before this update: it shows none of it
        print(f"note: {Path(args.run_dir) / REPORT} shows the run before this update; `descend report "
              f"{args.run_dir}` draws it again", file=sys.stderr)
    return 0
