"""Reading a finished or running run directory back: history, config, summary, metrics, findings, predictions.

Files other parts of descend may leave in a run directory, and what the report does with them:
    history.jsonl (or history.csv)   one record per step: step, loss, lr, grad_norm, val_* ...
    metrics.json                     test scores: {"scores": {model_or_baseline: {metric: value}}} or flat numbers
    findings.json                    the doctor's findings: a list of {code, severity, message, fix, ...}
    test_predictions.csv             columns actual, predicted and optionally time (the x-axis of residuals)
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import DescendError
from .verified import RunFiles, reading

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


def _json(files: RunFiles, name: str, default):
    return files.json(name) if files.has(name) else default


def _history(files: RunFiles) -> pd.DataFrame:
    path = files.folder
    if files.has("history.jsonl"):
        lines = [line for line in files.text("history.jsonl").splitlines() if line.strip()]
        try:
            return pd.DataFrame([json.loads(line) for line in lines])
        except ValueError as err:
            raise DescendError(f"{path / 'history.jsonl'} has a line that is not JSON ({err})") from err
    if files.has("history.csv"):
        with reading(path / "history.csv"):
            return pd.read_csv(io.BytesIO(files.bytes("history.csv")))
    raise DescendError(f"{path} is not a run directory: it has neither history.jsonl nor history.csv "
                       "(write one with fit(..., run_dir=DIR) or `descend fit ... --out DIR`)")


def _predictions(files: RunFiles) -> pd.DataFrame | None:
    if not files.has(PREDICTIONS):
        return None
    file = files.folder / PREDICTIONS
    with reading(file):
        table = pd.read_csv(io.BytesIO(files.bytes(PREDICTIONS)))
    missing = {"actual", "predicted"} - set(table.columns)
    if missing:
        raise DescendError(f"{file} needs columns actual and predicted; missing {', '.join(sorted(missing))}")
    return table


def _expect(value, kind: type, path: Path, what: str):
    if not isinstance(value, kind):
        raise DescendError(f"{path} must hold {what}; it holds a {type(value).__name__}")
    return value


def read_run(run_dir) -> RunRecord:
    """A RunRecord for `run_dir`, each file checked against summary.json's checksums when the run has finished;
    raises DescendError naming the directory or file when it is not a run directory or a file is damaged."""
    path = Path(run_dir)
    if not path.is_dir():
        raise DescendError(f"run directory {path} does not exist")
    files = RunFiles(path, required=False)
    findings = _json(files, "findings.json", None)
    if findings is not None:
        _expect(findings, list, path / "findings.json", "a JSON list of findings")
    return RunRecord(path, _history(files), _expect(_json(files, "config.json", {}), dict, path / "config.json",
                                                     "a JSON object"),
                     _expect(_json(files, "summary.json", {}), dict, path / "summary.json", "a JSON object"),
                     _expect(_json(files, "metrics.json", {}), dict, path / "metrics.json", "a JSON object"),
                     findings, _predictions(files))
