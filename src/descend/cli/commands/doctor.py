"""`descend doctor RUN_DIR`: print the doctor's findings saved with a run (RUN_DIR/findings.json)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...doctor import load_findings, summary
from ...runs.verified import RunFiles, reading

HELP = "print the doctor's findings (codes, evidence, fixes) for a saved run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by fit(run_dir=...)")


def run(args: argparse.Namespace) -> int:
    path = Path(args.run_dir) / "findings.json"
    if path.is_file():   # checked against summary.json when the run has finished
        RunFiles(path.parent, required=False).bytes(path.name)
    with reading(path):
        findings = load_findings(path)
    print(summary(findings))
    return 0
