"""`descend doctor RUN_DIR`: print the doctor's findings saved with a run (RUN_DIR/findings.json), and the
sharpness note of `descend landscape` when the run has one (RUN_DIR/landscape/landscape.json)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...core.errors import DescendError
from ...doctor import load_findings, summary
from ...runs.records import runs_inside
from ...runs.report import LANDSCAPE, LANDSCAPE_INDEX
from ...runs.verified import RunFiles, reading

HELP = "print the doctor's findings (codes, evidence, fixes) for a saved run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by fit(run_dir=...)")


def _check_folder(folder: Path) -> None:
    """Refuse a folder that is no run directory, saying what it is instead (missing, other; a run still in
    DIR.partial is told so before any command runs)."""
    if not folder.is_dir():
        raise DescendError(f"run directory {folder} does not exist")
    if not (folder / "findings.json").is_file() and not (folder / "config.json").is_file():
        raise DescendError(f"{folder} is not a run directory (no config.json or findings.json); "
                           + (runs_inside(folder) or "give the folder of fit(run_dir=...) or of descend fit --out"))


def run(args: argparse.Namespace) -> int:
    _check_folder(Path(args.run_dir))
    path = Path(args.run_dir) / "findings.json"
    if path.is_file():   # checked against summary.json when the run has finished
        RunFiles(path.parent, required=False).bytes(path.name)
    with reading(path):
        findings = load_findings(path)
    print(summary(findings))
    landscape = Path(args.run_dir) / LANDSCAPE / LANDSCAPE_INDEX
    if landscape.is_file():   # written by `descend landscape RUN_DIR DATA`: quote its sharpness note
        with reading(landscape):
            note = json.loads(landscape.read_text()).get("sharpness_note")
        if note:
            print(f"note from descend landscape: {note}")
    return 0
