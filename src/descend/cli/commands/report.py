"""`descend report RUN_DIR`: a self-contained report.html with the run's curves, findings and metrics."""
from __future__ import annotations

import argparse

from ...runs.report import write_report

HELP = "write RUN_DIR/report.html: loss curves, learning rate, gradient norms, findings, metrics, predictions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (fit(run_dir=...) or descend fit --out)")
    parser.add_argument("--out", default=None, help="where to write the page (default RUN_DIR/report.html)")


def run(args: argparse.Namespace) -> int:
    print(f"report written to {write_report(args.run_dir, args.out)}")
    return 0
