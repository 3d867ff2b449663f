"""Reading a finished or running run directory back: history, config, summary, metrics, findings, predictions.

Files other parts of descend may leave in a run directory, and what the report does with them:
    history.jsonl (or history.csv)   one record per step: step, loss, lr, grad_norm, val_* ...
    metrics.json                     test scores: {"scores": {model_or_baseline: {metric: value}}} or flat numbers
    findings.json                    the doctor's findings: a list of {code, severity, message, fix, ...}
    test_predictions.csv             columns actual, predicted and optionally time (the x-axis of residuals)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import DescendError

PREDICTIONS = "test_predictions.csv"


@dataclass
class RunRecord:
    """Everything readable in one run directory; missing optional files leave their field empty."""

    path: Path
    history: pd.DataFrame
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    findings: list | None = None          # None: no findings.json; []: the doctor found nothing
    predictions: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        return self.path.name


def _json(path: Path, default):
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise DescendError(f"{path} is not valid JSON ({err})") from err


def _history(path: Path) -> pd.DataFrame:
    jsonl, csv = path / "history.jsonl", path / "history.csv"
    if jsonl.is_file():
        lines = [line for line in jsonl.read_text().splitlines() if line.strip()]
        try:
            return pd.DataFrame([json.loads(line) for line in lines])
        except ValueError as err:
            raise DescendError(f"{jsonl} has a line that is not JSON ({err})") from err
    if csv.is_file():
        return pd.read_csv(csv)
    raise DescendError(f"{path} is not a run directory: it has neither history.jsonl nor history.csv "
                       "(write one with fit(..., run_dir=DIR) or `descend fit ... --out DIR`)")


def _predictions(path: Path) -> pd.DataFrame | None:
    file = path / PREDICTIONS
    if not file.is_file():
        return None
    table = pd.read_csv(file)
    missing = {"actual", "predicted"} - set(table.columns)
    if missing:
        raise DescendError(f"{file} needs columns actual and predicted; missing {', '.join(sorted(missing))}")
    return table


def read_run(run_dir) -> RunRecord:
    """A RunRecord for `run_dir`; raises DescendError naming the directory when it is not a run directory."""
    path = Path(run_dir)
    if not path.is_dir():
        raise DescendError(f"run directory {path} does not exist")
    findings = _json(path / "findings.json", None)
    if findings is not None and not isinstance(findings, list):
        raise DescendError(f"{path / 'findings.json'} must hold a JSON list of findings")
    return RunRecord(path, _history(path), _json(path / "config.json", {}), _json(path / "summary.json", {}),
                     _json(path / "metrics.json", {}), findings, _predictions(path))
