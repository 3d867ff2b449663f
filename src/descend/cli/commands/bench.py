"""`descend bench`: run the optimizer benchmark and write its table and plots."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

HELP = "benchmark optimizers: time-to-target on offline workloads, tuned and untuned, with plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ...apps.bench import DEFAULT_OPTIMIZERS, WORKLOADS
    parser.add_argument("--workloads", nargs="+", metavar="NAME",
                        help=f"workloads to run (default all: {', '.join(WORKLOADS)})")
    parser.add_argument("--optimizers", nargs="+", metavar="NAME",
                        help=f"optimizers to compare (default: {', '.join(DEFAULT_OPTIMIZERS)}); tuned AdamW "
                             "always runs as the reference")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per learning rate (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller step budgets and a decade learning-rate grid: about 70 s of CPU per seed on one "
                             "thread (2-core Xeon; 3 seeds by default); a shared, busy machine takes several times "
                             "that in wall time")
    parser.add_argument("--out", type=Path, default=Path("bench-results"),
                        help="folder for README.md, results.json and the plots, replaced as a whole "
                             "(default bench-results)")


def command_line(args: argparse.Namespace) -> str:
    """The command as a user would type it, for the report."""
    parts = ["descend", "bench"]
    for flag in ("workloads", "optimizers"):
        if getattr(args, flag):
            parts += [f"--{flag}", *getattr(args, flag)]
    parts += ["--seeds", str(args.seeds)] + (["--quick"] if args.quick else []) + ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from ...apps.bench import report, run as run_bench
    report.check_out(args.out)   # before the run: a bad --out must not cost the whole benchmark
    result = run_bench(args.workloads, args.optimizers, seeds=args.seeds, quick=args.quick)
    path = report.write(result, args.out, command_line(args))
    print(path.read_text())
    print(f"wrote {path}, {args.out / 'profile.png'} and one curves_<workload>.png per workload")
    return 0
