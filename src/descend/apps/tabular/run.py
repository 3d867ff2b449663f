"""A trained tabular model with everything needed to use it again, and its folder on disk.

The folder holds model.safetensors (weights), preprocess.json (every fitted transformation and the target's
encoding), config.json (under "tabular": options and architecture; beside it the fit run's own sections),
metrics.json (test scores), history.csv and history.jsonl (one row per step), findings.json (the doctor's) and
test_predictions.csv (with each class's probability for classes). When `descend fit --out` recorded the run as
it went, the folder also keeps that record (checkpoints/, summary.json). No pickle anywhere. Saving fills a
temporary sibling folder and renames it into place, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from ...core.errors import DescendError
from ...doctor import Finding, load_findings, save_findings
from ...runs.directory import refresh_checksums
from ...runs.files import jsonable, replace_folder, write_atomic
from .model import TabularNet, inputs
from .preprocess import Preprocessor
from .target import Target

FILES = ("model.safetensors", "preprocess.json", "config.json", "metrics.json", "history.csv")
WRITTEN = ("model.safetensors", "preprocess.json", "metrics.json", "history.csv", "findings.json",
           "test_predictions.csv")   # written fresh by every save; what else a run folder holds is carried over


@dataclass
class TabularRun:
    """Preprocessing, target encoding, network and the record of how it was trained."""

    preprocessor: Preprocessor
    target: Target
    model: TabularNet
    config: dict
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    test_predictions: pd.DataFrame | None = None

    def encode(self, frame: pd.DataFrame, where: str) -> tuple[torch.Tensor, dict[str, int]]:
        """Model inputs for `frame` and, per text column, the count of rows with a level training never saw (a
        new month of a date or a new whole-number code is not counted: its numeric side still carries it)."""
        self.preprocessor.check_columns(frame, where)
        x_num, x_cat, unseen = self.preprocessor.transform(frame)
        text = {c.name for c in self.preprocessor.columns if c.kind == "categorical"}
        return inputs(x_num, x_cat), {name: count for name, count in unseen.items() if name in text}

    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> np.ndarray:
        """Decoded predictions for encoded inputs: values, expected counts or class probabilities."""
        self.model.eval()
        return self.target.decode(self.model(x))

    def predictions(self, frame: pd.DataFrame, where: str = "the data") -> tuple[pd.DataFrame, dict[str, int]]:
        """A table with a `prediction` column (and p_<class> columns for classes), one row per input row."""
        x, unseen = self.encode(frame, where)
        out = self.outputs(x)
        if self.target.task != "classification":
            return pd.DataFrame({"prediction": out}), unseen
        table = pd.DataFrame({"prediction": [self.target.classes[i] for i in out.argmax(axis=1)]})
        for i, label in enumerate(self.target.classes):
            table[f"p_{label}"] = out[:, i]
        return table, unseen

    def save(self, out: str | Path, recorded: str | Path | None = None) -> Path:
        """Write the run folder atomically and return it. `recorded` is the folder `fit` recorded the training in
        (config, history.jsonl, checkpoints, the final weights and findings, summary.json): the tabular files join
        it and it becomes `out`. Without it (a model saved without a record, or `descend update` rewriting a run),
        a temporary folder gets links to what `out` holds, the weights and tabular files are written fresh (a file
        both keep, such as config.json, is replaced, never written through its link) and it replaces `out`."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if recorded is not None:
            folder = Path(recorded)
        else:
            folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
            _link_others(out, folder)
        try:
            self._write(folder, fresh_weights=recorded is None)
            replace_folder(folder, out)
        finally:
            if recorded is None:
                shutil.rmtree(folder, ignore_errors=True)
        return out

    def _write(self, folder: Path, fresh_weights: bool) -> None:
        if fresh_weights:   # else fit wrote them (and their checksums in summary.json) as the run ended
            save_file({k: v.contiguous() for k, v in self.model.state_dict().items()},
                      str(folder / "model.safetensors"))
            save_findings(self.findings, folder / "findings.json")
        _dump(folder / "preprocess.json", {"preprocess": self.preprocessor.to_dict(), "target": self.target.to_dict()})
        _dump(folder / "metrics.json", self.metrics)
        pd.DataFrame(self.history).to_csv(folder / "history.csv", index=False)
        if self.test_predictions is not None:
            self.test_predictions.to_csv(folder / "test_predictions.csv", index=False)
        config = folder / "config.json"
        _dump(config, {**(json.loads(config.read_text()) if config.is_file() else {}), "tabular": self.config})
        _extend_history(folder / "history.jsonl", self.history)
        if fresh_weights:
            refresh_checksums(folder)

    @classmethod
    def load(cls, folder: str | Path) -> "TabularRun":
        """Rebuild a run from its folder; names the missing file when the folder is not a run folder."""
        folder = Path(folder)
        for name in FILES:
            if not (folder / name).is_file():
                raise DescendError(f"{folder} is not a descend run folder: {name} is missing "
                                   "(make one with `descend fit DATA --target COL --out DIR`)")
        fitted = json.loads((folder / "preprocess.json").read_text())
        config = json.loads((folder / "config.json").read_text()).get("tabular")
        if config is None:
            raise DescendError(f"{folder / 'config.json'} has no \"tabular\" section: the folder holds a run of "
                               "descend.fit, not of `descend fit DATA`; load its weights with safetensors instead")
        model = TabularNet.build(config["architecture"])
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        history = pd.read_csv(folder / "history.csv").to_dict("records")
        findings = load_findings(folder / "findings.json") if (folder / "findings.json").is_file() else []
        predictions = folder / "test_predictions.csv"
        return cls(Preprocessor.from_dict(fitted["preprocess"]), Target(**fitted["target"]), model, config,
                   json.loads((folder / "metrics.json").read_text()), history, findings,
                   pd.read_csv(predictions) if predictions.is_file() else None)


def _dump(path: Path, data) -> None:
    """Strict JSON (NaN, which strict readers refuse, is written as null), replacing the file as a whole."""
    write_atomic(path, (json.dumps(_strict(data), indent=2) + "\n").encode())


def _extend_history(path: Path, history: list[dict]) -> None:
    """history.jsonl with a line for each record beyond those it holds (fit's recorder wrote the first ones at
    full precision; an update adds its own)."""
    lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
    if len(lines) < len(history):
        extra = [json.dumps(jsonable(record)) + "\n" for record in history[len(lines):]]
        write_atomic(path, "".join(lines + extra).encode())


def _strict(value):
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _link_others(out: Path, folder: Path) -> None:
    """Give `folder` everything in `out` that saving does not write fresh (hard links, so nothing is copied)."""
    if not out.is_dir():
        return
    for entry in out.iterdir():
        if entry.name in WRITTEN or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.copytree(entry, folder / entry.name, copy_function=os.link)
        else:
            os.link(entry, folder / entry.name)


def recording_folder(out: str | Path) -> Path:
    """Where `descend fit --out DIR` records training as it goes (DIR.partial, beside DIR); it is renamed to DIR
    once the run is complete, so DIR itself never holds half a run."""
    out = Path(out)
    return out.with_name(f"{out.name}.partial")


def _check_parent(out: Path) -> None:
    parent = next(p for p in out.absolute().parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise DescendError(f"--out {out}: cannot create it inside {parent} (not a writable folder); pick another place")


def check_out(out: str | Path, resume: bool = False) -> Path:
    """Check --out before any work starts and return the folder to record the training in.

    A new run needs a new or empty --out and no interrupted run beside it; --resume needs that interrupted run."""
    out, partial = Path(out), recording_folder(out)
    _check_parent(out)
    if resume:
        if (partial / "config.json").is_file():
            return partial
        if (out / "config.json").is_file():
            raise DescendError(f"the run in --out {out} already finished; nothing to resume (start a new run with "
                               "another --out, or `descend update` it with new rows)")
        raise DescendError(f"nothing to resume: no interrupted run of --out {out} (it would be in {partial}); "
                           "start without --resume")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DescendError(f"--out {out} already exists and is not empty; pick a new folder or remove it")
    if (partial / "config.json").is_file():
        raise DescendError(f"{partial} holds an interrupted run for --out {out}: add --resume to continue it, or "
                           "delete that folder to start over")
    return partial
