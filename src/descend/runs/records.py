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
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..core.errors import DescendError
from . import notebook
from .best import best_rows
from .verified import RunFiles, reading, runs_inside

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

    def summary_rows(self) -> list[list]:
        """[label, value] rows of how the run went: folder, steps, epochs, why it stopped, time, final and best
        losses, discarded updates (report.html's summary, and a notebook's)."""
        history, kept = self.history, kept_history(self)
        updates = len(self.metrics.get("updates", [])) if isinstance(self.metrics, dict) else 0
        refit = "phase" in history and bool((history["phase"] == "refit").any())
        # summary.json is the first run's; a table's refit and `descend update` add to the history
        fit = "the first run " if refit else "the fit " if updates else ""
        rows = [["run directory", str(self.path)], ["steps", _steps_by_part(history)],
                ["epochs", _epochs_by_part(history) if "epoch" in history else "?"],
                [f"{fit}stopped because", self.summary.get("stop_reason", "not finished (no summary.json)")],
                [f"{fit}took (s)" if fit else "elapsed (s)", self.summary.get("elapsed", "?")],
                ["chosen", self.config.get("auto", {}).get("line")],
                ["updates since", f"{updates} (steps and curves include them; each in the updates table)" if updates
                 else None],
                ["final training loss", last_value(kept, "loss")],
                [_last_validation_label(kept, fit), last_value(kept, "val_loss")]]
        rows += [[f"{phase}", "discarded: the previous weights were kept"] for phase in sorted(discarded_phases(self))]
        owner = {"the first run ": "the first run's ", "the fit ": "the fit's "}.get(fit, "")   # summary.json's best
        best = [[f"{owner}{label}", value] for label, value in best_rows(self.summary.get("best", {}))]
        return [row for row in rows if row[1] is not None] + best

    def settings_rows(self) -> list[list]:
        """[setting, value] rows of config.json's "run" section (settings left at None or empty are left out); the
        default limit that auto's own limit replaced says so."""
        replaced = self.config.get("auto", {}).get("limit", {}).get("replaces")
        named = self.config.get("labels", {})   # what an object called itself, in words, over its class path
        return [[key, f"{value} (not used: auto's limit replaced it, see chosen)" if key == replaced
                 else named[key] if key in named
                 else value if isinstance(value, (int, float)) else setting_text(value)]
                for key, value in self.config.get("run", {}).items() if value not in (None, [], {})]

    def __repr__(self) -> str:
        """What `print(read_run(...))` shows: the summary and the findings in a few lines, as a FitResult does; the
        history, config and the rest are attributes to look at on their own (not a DataFrame dump)."""
        rows = [f"  {label}: {f'{value:.4g}' if isinstance(value, float) else value}"
                for label, value in self.summary_rows()]
        return "\n".join([f"RunRecord {self.name}", *rows, *self._findings_lines(),
                          f"  (.history: {len(self.history)} records, one a step; .config, .summary, .metrics, "
                          ".findings, .predictions)"])

    def _findings_lines(self) -> list[str]:
        """The doctor's findings, one line each, as `descend doctor` prints them (runs may not import the doctor)."""
        if self.findings is None:
            return ["  findings: none recorded (no findings.json)"]
        if not self.findings:
            return ["  doctor: no problems found"]
        return [f"  doctor: {len(self.findings)} finding(s)",
                *(f"    [{f.get('severity')}] {'; '.join(filter(None, (f.get('message'), f.get('fix'))))} "
                  f"(code {f.get('code')})" for f in self.findings)]

    def _repr_html_(self) -> str:
        """Jupyter's view: the summary beside the loss curve, the findings coloured by severity, the settings."""
        return notebook.run_html(f"descend run: {self.name}", self.summary_rows(), self.history, self.findings,
                                 self.summary.get("best", {}).get("step"), self.settings_rows())


NAME_KEYS = ("optimizer", "schedule", "rule")   # the key that names a recorded object (config.py's records)
WRAPPED = {"EMA": "{inner}, its weights averaged (EMA)"}   # wrappers said after what they wrap
SCHEDULE = re.compile(r"(\w+)\(length=(.*)\)")   # a schedule's record: its repr, cosine(length=None)


def _named(key: str, name: str) -> str:
    """A recorded optimizer or schedule by the name a user knows: AdamW for the flat-kernel AdamWFlat (how, not
    what), "cosine over the whole run" for cosine(length=None), "warmup over 300 steps" for warmup(length=300)."""
    if key == "optimizer" and name.endswith("Flat"):
        return name[:-len("Flat")]
    found = SCHEDULE.fullmatch(name) if key == "schedule" else None
    if found is None:
        return name
    kind, length = found.groups()
    if length == "None":
        return f"{kind} over the whole run"
    return f"{kind} over {length} steps" if length.isdigit() else f"{kind} over {length} of the run"


def setting_text(value) -> str:
    """A recorded setting in words: an optimizer as "AdamW (lr 0.003, ...), its weights averaged (EMA)", a stopping
    rule as "Patience(patience 15, ...)", a class as its own name, lists joined; a schedule's preview values left out."""
    if isinstance(value, str):
        return value.rsplit(".", 1)[-1] if value.startswith("descend.") or value.startswith("torch.") else value
    if isinstance(value, list):
        parts = [setting_text(item) for item in value]
        if len(parts) == 1 or any(isinstance(item, (dict, list)) for item in value):
            return "; ".join(parts)
        return f"({', '.join(parts)})"
    if not isinstance(value, dict):
        return str(value)
    name = next((_named(key, value[key]) for key in NAME_KEYS if isinstance(value.get(key), str)), None)
    if name is None:
        return ", ".join(f"{key} {setting_text(item)}" for key, item in value.items())
    if "inner" in value:
        return WRAPPED.get(name, "{name} over {inner}").format(name=name, inner=setting_text(value["inner"]))
    details = value.get("defaults", {key: item for key, item in value.items() if key not in NAME_KEYS})
    shown = ", ".join(f"{key} {setting_text(item)}" for key, item in details.items()
                      if key != "values" and item is not None)
    return f"{name} ({shown})" if shown else name


def _parts(history: pd.DataFrame) -> pd.Series | None:
    """Each step's part of the run ("fit", "refit", "update 1", ...), or None when the history is one part."""
    if "phase" not in history or history["phase"].fillna("fit").nunique() < 2:
        return None
    return history["phase"].fillna("fit")


def _by_part(counts: pd.Series) -> str:
    """"114 (fit: 102, refit: 12)": the whole and each part's count, in the order the parts ran."""
    return f"{int(counts.sum())} ({', '.join(f'{phase}: {int(count)}' for phase, count in counts.items())})"


def _steps_by_part(history: pd.DataFrame) -> int | str:
    """The steps of the history, and with several parts (a table's refit, updates) each part's: "114 (fit: 102,
    refit: 12)", so that the first run's stop reason beside it is not read as the whole count's."""
    parts = _parts(history)
    return len(history) if parts is None else _by_part(parts.value_counts(sort=False))


def _epochs_by_part(history: pd.DataFrame) -> int | str:
    """The epochs the history went through, each part's counted from where it started (the fit and a refit at
    0, an update from the last record before it): "27 (fit: 21, refit: 6)", not the largest epoch number.
    A record's epoch counts the epochs done by its step, so a part's first record may already hold one."""
    parts = _parts(history)
    if parts is None:
        return int(history["epoch"].max())
    before = history["epoch"].shift(fill_value=0).where(~parts.isin(["fit", "refit"]), 0)
    starts = before.groupby(parts, sort=False).first()
    return _by_part(history["epoch"].groupby(parts, sort=False).max() - starts)


def _last_validation_label(history: pd.DataFrame, fit: str) -> str:
    """"final validation loss", or whose last one it is when a later part had no validation (a table's refit):
    then it is not the final model's."""
    parts = _parts(history)
    if parts is None or "val_loss" not in history or history["val_loss"].isna().all():
        return "final validation loss"
    part = parts[history["val_loss"].last_valid_index()]
    if part == parts.iloc[-1]:
        return "final validation loss"
    owner = {"fit": f"{fit.strip()}'s" if fit else "the fit's"}.get(part, f"{part}'s")
    return f"{owner} last validation loss"


def last_value(history: pd.DataFrame, column: str) -> float | None:
    """The last recorded value of a history column, None when it has none."""
    if column not in history:
        return None
    values = history[column].dropna()
    return float(values.iloc[-1]) if len(values) else None


def discarded_phases(record: RunRecord) -> set[str]:
    """The updates (by their history phase, "update 2") whose weights were thrown away for the previous ones."""
    updates = record.metrics.get("updates", []) if isinstance(record.metrics, dict) else []
    return {f"update {number}" for number, update in enumerate(updates, start=1)
            if isinstance(update, dict) and update.get("kept_previous")}


def kept_history(record: RunRecord) -> pd.DataFrame:
    """The history of the weights the run kept: without the steps of updates that were discarded."""
    history, discarded = record.history, discarded_phases(record)
    if not discarded or "phase" not in history:
        return history
    return history[~history["phase"].isin(discarded)]


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
    inside = runs_inside(path)
    raise DescendError(f"{path} is not a run directory: it has neither history.jsonl nor history.csv"
                       + (f"; {inside}" if inside else
                          " (write one with fit(..., run_dir=DIR) or `descend fit ... --out DIR`)"))


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
