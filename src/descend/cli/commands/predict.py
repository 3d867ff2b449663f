"""`descend predict DIR DATA`: apply a saved model (and its preprocessing) to new rows."""
from __future__ import annotations

import argparse
import sys

from ...apps.tabular import TabularRun, read_table
from ...apps.tabular.io import check_out, write_csv_atomic

HELP = "predict with a model saved by `descend fit --out DIR`"
EPILOG = ("Output columns, one row per input row in the same order: the --keep columns copied from the data "
          "(by default the identifier columns fit left out, such as an ID, when the data has them), then "
          "prediction (a value, an expected count, or the most likely class); for classes also p_<class>, the "
          "probability of each class (they sum to 1). A CSV file's predictions are written as it was: its "
          "separator, its decimal mark (3,5), its encoding when not UTF-8, and Excel's byte-order mark and CRLF "
          "line ends when it had them.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="DIR", help="the folder written by `descend fit --out`")
    parser.add_argument("data", help="CSV or Parquet file with the columns the model was trained on")
    parser.add_argument("--out", default=None, help="write predictions to this CSV file (default: print them)")
    parser.add_argument("--keep", default=None, metavar="COLS",
                        help="comma-separated columns of the data to copy beside the predictions, to match each "
                             "prediction with its row (default: the identifier columns fit left out; '' for none)")


def run(args: argparse.Namespace) -> int:
    if args.out:
        check_out(args.out, args.data, args.run_dir)
    model = TabularRun.load(args.run_dir, record=False)
    keep = None if args.keep is None else [name.strip() for name in args.keep.split(",") if name.strip()]
    frame = read_table(args.data, as_text=model.copied_only(keep))
    written = frame.attrs.get("written", {})   # as the rows were written: ';' and decimal commas stay so
    x, unseen = model.encode(frame, args.data)
    table = model.predicted_table(x, frame, args.data, keep)
    new = [name for name in model.unseen_columns(frame) if name not in (keep or [])]
    if new:
        print(f"note: {args.data}: {len(new)} column(s) the training file did not have, which the model cannot "
              f"use: {', '.join(new[:5])}{', ...' if len(new) > 5 else ''}", file=sys.stderr)
    for line in model.clock_notes(frame, args.data) + model.filled_notes(frame, args.data) + \
            model.far_date_notes(x, args.data):
        print(line, file=sys.stderr)
    for name, count in unseen.items():
        print(f"note: {count} row(s) have a {name!r} level not seen in training; {name!r} adds nothing to their "
              "predictions, which the other columns make", file=sys.stderr)
    bounded = model.bound_note(x, where=args.data)
    if bounded:
        print(bounded, file=sys.stderr)
    if args.out:
        write_csv_atomic(table, args.out, written)
        print(f"{len(table)} predictions written to {args.out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False, sep=written.get("sep", ","), decimal=written.get("decimal", "."))
    return 0
