"""`descend landscape RUN_DIR DATA`: the loss around a saved model's weights, and its sharpness, as PNGs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...apps.landscape.of_run import FLAT, Settings, run_landscape
from ...apps.tabular import read_table
from ...apps.tabular.options import thread_count

HELP = "draw the loss landscape around a saved model (filter-normalized slices, Hessian sharpness)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Settings()
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the folder written by `descend fit --out`")
    parser.add_argument("data", help="CSV or Parquet file with the training columns and the target")
    parser.add_argument("--out", default=None, help="folder for landscape.html, plane.png, line.png, landscape.json "
                                                    "(default RUN_DIR/landscape)")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"grid points per axis (default {d.steps})")
    parser.add_argument("--rows", type=int, default=d.rows, help=f"rows in the fixed sample (default {d.rows})")
    parser.add_argument("--span", type=float, default=d.span, help=f"how far each axis goes (default {d.span})")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the directions and the sample")
    parser.add_argument("--top-k", type=int, default=d.top_k, help=f"Hessian eigenvalues (default {d.top_k})")
    parser.add_argument("--probes", type=int, default=d.probes, help=f"trace probes (default {d.probes})")
    parser.add_argument("--threads", type=thread_count, default=d.threads,
                        help="CPU threads while evaluating: a number or auto (fit's policy); default 1, fastest on a "
                             "busy machine for the thousands of small passes a landscape makes")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it goes to stderr: a bar on a terminal, a line per tenth in logs)")


def run(args: argparse.Namespace) -> int:
    settings = Settings(args.steps, args.rows, args.span, args.seed, args.top_k, args.probes, args.threads)
    out = Path(args.out) if args.out else Path(args.run_dir) / "landscape"
    summary = run_landscape(args.run_dir, read_table(args.data), out, settings, progress=args.progress)
    top = ", ".join(f"{v:.4g}" for v in summary["top_eigenvalues"])
    print(f"loss {summary['loss']:.4g} on {summary['rows']} rows; top Hessian eigenvalues {top}; "
          f"trace {summary['trace']['value']:.4g} +- {summary['trace']['stderr']:.2g}")
    print(summary["sharpness_note"])
    if summary["flat"]:
        print(FLAT)
    print(f"wrote {out / 'landscape.html'} (open it in a browser), {out / 'plane.png'}, {out / 'line.png'} and "
          f"{out / 'landscape.json'}")
    return 0
