"""`descend doctor RUN_DIR`: print the doctor's findings saved with a run (RUN_DIR/findings.json)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...doctor import load_findings, summary

HELP = "print the doctor's findings (codes, evidence, fixes) for a saved run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by fit(run_dir=...)")


def run(args: argparse.Namespace) -> int:
    findings = load_findings(Path(args.run_dir) / "findings.json")
    print(summary(findings))
    return 0
