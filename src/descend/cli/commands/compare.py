"""`descend compare RUN_A RUN_B ...`: one page overlaying the curves of several runs, with how their settings differ."""
from __future__ import annotations

import argparse

from ...core.errors import DescendError
from ...runs.report import write_comparison

HELP = "overlay several runs' loss, learning-rate and gradient-norm curves in compare.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="two or more run directories")
    parser.add_argument("--out", default="compare.html", help="where to write the page (default compare.html)")


def run(args: argparse.Namespace) -> int:
    if len(args.run_dirs) < 2:
        raise DescendError("compare needs at least two run directories")
    print(f"comparison written to {write_comparison(args.run_dirs, args.out)}")
    return 0
