"""A trained tabular model with everything needed to use it again, and its folder on disk.

The folder holds model.safetensors (weights), preprocess.json (every fitted transformation and the target's
encoding), config.json (under "tabular": options and architecture; beside it the fit run's own sections),
metrics.json (test scores), history.csv and history.jsonl (one row per step), findings.json (the doctor's) and
test_predictions.csv (with each class's probability for classes). When `descend fit --out` recorded the run as
it went, the folder also keeps that record (checkpoints/, summary.json). No pickle anywhere. Saving fills a
temporary sibling folder and renames it into place, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load as load_weights

from ...core.errors import DescendError
from ...doctor import Finding
from ...runs import faults, lock
from ...runs.checkpoint import weights_bytes
from ...runs.directory import record_checksums
from ...runs.files import jsonable, replace_folder, write_atomic
from ...runs.verified import RunFiles, reading
from . import subruns
from .cells import check_plain
from .columns import known_columns, unread_clock
from .dates import NAMED, check_dates
from .model import COUNT_BOUND, TabularNet, inputs
from .preprocess import Preprocessor
from .target import Target

WRITTEN = ("model.safetensors", "preprocess.json", "metrics.json", "history.csv", "findings.json",
           "test_predictions.csv")   # written fresh by every save; what else a run folder holds is carried over
WATCHING = ("progress", "threads", "log")   # options that change how a run is watched, not what it trains


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

    def other_options(self, opts) -> list[str]:
        """The options of `opts` (a tabular Options) that decide the result and differ from those this run was
        trained with, each as "--target: 'spend' in the run, 'age' now"; how a run is watched (progress, threads,
        trackers) is left out."""
        saved, now = self.config.get("options", {}), jsonable(asdict(opts))
        return [f"--{name.replace('_', '-')}: {saved[name]!r} in the run, {value!r} now" for name, value in now.items()
                if name in saved and name not in WATCHING and jsonable(saved[name]) != value]

    def encode(self, frame: pd.DataFrame, where: str) -> tuple[torch.Tensor, dict[str, int]]:
        """Model inputs for `frame` and, per text, month or weekday column, the count of rows with a level training
        never saw (a new month of a date or a new whole-number code is not counted: its numeric side still carries
        it)."""
        self.preprocessor.check_columns(frame, where)
        check_plain(frame, [column.name for column in self.preprocessor.columns], where)
        for column in self.preprocessor.columns:
            if column.kind in ("date", "datetime"):
                check_dates(frame[column.name], column.name, column.dayfirst, where)
        try:
            x_num, x_cat, unseen = self.preprocessor.transform(frame)
        except DescendError as err:   # a cell that is no number: name the file it is in
            raise DescendError(f"{where}: {err}") from None
        text = {c.name for c in self.preprocessor.columns if c.kind in ("categorical", *NAMED)}
        return inputs(x_num, x_cat), {name: count for name, count in unseen.items() if name in text}

    def clock_notes(self, frame: pd.DataFrame, where: str) -> list[str]:
        """One note per time-of-day column of `frame` with cells that are no time of day: they are read as empty,
        as fit read them, so the run's own training file still predicts, but not without a word."""
        notes = [(column.name, unread_clock(frame[column.name])) for column in self.preprocessor.columns
                 if column.kind == "timeofday"]
        return [f"note: {where}: column {name!r} has {unread}; correct those cells, or empty them to say the "
                "time is unknown" for name, unread in notes if unread]

    def filled_notes(self, frame: pd.DataFrame, where: str, use: str = "predicted") -> list[str]:
        """One note per input column `frame` has empty cells in where training had none: the model never learned
        what empty means there, so those rows are `use`d (predicted; trained on and scored) with a stand-in value,
        which the user should know."""
        pre = self.preprocessor
        return [f"note: {where}: {count} row(s) have {name!r} empty, which it never was in training; they are "
                f"{use} with {pre.filled_with(name)} in its place"
                for name, count in pre.filled_cells(frame).items()]

    def far_date_notes(self, x: torch.Tensor, where: str) -> list[str]:
        """One note per date column with rows of the encoded `x` further from the training dates than those span:
        such a prediction carries the trend the model learned over the training dates that far past them."""
        far = self.preprocessor.far_dates(x[:, :self.model.numeric_width].numpy())
        return [f"note: {where}: {count} row(s) have {name!r} further from the dates the model was fitted on "
                f"({_date(spec.low)} to {_date(spec.high)}, before the validation rows) than those span, as far as "
                f"{_date(value)}; their predictions carry the trend learned over those dates that far, so trust them "
                "less" for name, (count, value, spec) in far.items()]

    @torch.no_grad()
    def outputs(self, x: torch.Tensor) -> np.ndarray:
        """Decoded predictions for encoded inputs: values, expected counts or class probabilities."""
        self.model.eval()
        return self.target.decode(self.model(x))

    def predictions(self, frame: pd.DataFrame, where: str = "the data",
                    keep: list[str] | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
        """A table with a `prediction` column (and p_<class> columns for classes), one row per input row, after
        the `keep` columns of `frame` copied as they are (None: the identifier columns fit left out, those
        `frame` has), so each prediction carries its row's own key."""
        x, unseen = self.encode(frame, where)
        return self.predicted_table(x, frame, where, keep), unseen

    def predicted_table(self, x: torch.Tensor, frame: pd.DataFrame, where: str = "the data",
                        keep: list[str] | None = None) -> pd.DataFrame:
        """`predictions`' table for `frame` encoded as `x`."""
        out = self.outputs(x)
        if self.target.task != "classification":
            table = pd.DataFrame({"prediction": out})
        else:
            table = pd.DataFrame({"prediction": [self.target.classes[i] for i in out.argmax(axis=1)]})
            for i, label in enumerate(self.target.classes):
                table[f"p_{label}"] = out[:, i]
        return _with_kept(table, frame, self.kept_columns(frame, where, keep))

    @torch.no_grad()
    def bound_note(self, x: torch.Tensor, rows: str = "row", where: str | None = None) -> str | None:
        """One line when a bound on the predictions (a count's, model.COUNT_BOUND; a value's floor,
        Target.floor) held some of the encoded rows `x` (`rows`: what they are, `where`: the file they came from):
        how many, the bound, and which number lies furthest outside the training range; None when it held none."""
        self.model.eval()
        held = self._held(x)
        if not held.any():
            return None
        count = int(held.sum())
        them = "its inputs lie" if count == 1 else "their inputs lie"
        furthest = self.preprocessor.furthest_outside(x[held, :self.model.numeric_width].numpy())
        if furthest is None:
            why = f"{them} within the training range, in a combination the training rows do not hold"
        else:
            name, value, spec = furthest
            why = (f"{them} outside the training range, furthest {name!r} ({value:g} against {spec.low:g} to "
                   f"{spec.high:g} in training)")
        return (f"note: {f'{where}: ' if where else ''}{count} {rows}{'' if count == 1 else 's'} predicted "
                f"{self._bound_words()} and held there: {why}")

    def _held(self, x: torch.Tensor) -> np.ndarray:
        """Per encoded row of `x` (evaluation mode), whether a bound, not the model, decides its prediction."""
        if self.target.task == "count":
            return self.model.past_cap(x).numpy()
        if self.target.floor is None:
            return np.zeros(len(x), dtype=bool)
        return self.target.below_floor(self.model(x))

    def _bound_words(self) -> str:
        """The bound `_held` reads, in words."""
        if self.target.task == "count":
            cap = math.exp(float(self.model.log_rate_cap))
            return f"past {cap:,.4g} ({COUNT_BOUND}x the largest training count, {cap / COUNT_BOUND:g})"
        floor = self.target.floor
        return f"below {floor:g} (every training value of {self.target.name!r} is {floor:g} or more)"

    def kept_columns(self, frame: pd.DataFrame, where: str, keep: list[str] | None) -> list[str]:
        """The columns of `frame` to copy beside the predictions: `keep` (each must be there), or by default the
        identifiers fit left out that `frame` has."""
        if keep is None:
            return [name for name in self.config.get("identifiers", []) if name in frame.columns]
        for name in keep:
            if name not in frame.columns:
                raise DescendError(f"--keep names column {name!r}, which {where} does not have; "
                                   f"{known_columns(name, frame.columns)}")
        return list(dict.fromkeys(keep))

    def unseen_columns(self, frame: pd.DataFrame) -> list[str]:
        """The columns of `frame` that the training file did not have (none known for runs saved before the
        training columns were recorded): the model cannot use them, and predict says so."""
        trained = self.config.get("columns")
        return [] if trained is None else [name for name in frame.columns if name not in set(trained)]

    def copied_only(self, keep: list[str] | None) -> list[str]:
        """The columns `predictions` would copy (`keep`, or the identifiers) that the model does not read: they
        can be read as the text they were written as, so an ID's leading zeros reach the output."""
        names = self.config.get("identifiers", []) if keep is None else keep
        read = {column.name for column in self.preprocessor.columns}
        return [name for name in names if name not in read]

    def save(self, out: str | Path, recorded: str | Path | None = None) -> Path:
        """Write the run folder atomically and return it. `recorded` is the folder `fit` recorded the training in
        (config, history.jsonl, checkpoints, summary.json): the tabular files and the final weights (the blended
        model, refitted or not, which fit never saw whole) join it, summary.json's checksums are refreshed, and it
        becomes `out`. Without it (a model saved without a record, or `descend update` rewriting a run),
        a temporary folder gets links to what `out` holds, the weights and tabular files are written fresh (a file
        both keep, such as config.json, is replaced, never written through its link) and it replaces `out`."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(recorded) if recorded is not None else _fresh_copy(out)
        try:
            self._write(folder)
            faults.point("rename")
            replace_folder(folder, out)
        finally:
            if recorded is None:
                shutil.rmtree(folder, ignore_errors=True)
        return out

    def _write(self, folder: Path) -> None:
        """Write the tabular files durably, the weights and findings always afresh (the model fit recorded lacks
        the linear part and the blend, and a refit replaces it), then record every checksum in summary.json,
        which readers verify against."""
        files = {"preprocess.json": _strict_json({"preprocess": self.preprocessor.to_dict(),
                                                  "target": self.target.to_dict()}),
                 "metrics.json": _strict_json(self.metrics),
                 "history.csv": pd.DataFrame(self.history).to_csv(index=False).encode(),
                 "model.safetensors": weights_bytes(self.model.state_dict()),
                 "findings.json": (json.dumps([f.to_dict() for f in self.findings], indent=2) + "\n").encode()}
        if self.test_predictions is not None:
            files["test_predictions.csv"] = self.test_predictions.to_csv(index=False).encode()
        config = folder / "config.json"
        files["config.json"] = _strict_json({**(json.loads(config.read_text()) if config.is_file() else {}),
                                             "tabular": self.config})
        files["history.jsonl"] = _extended_history(folder / "history.jsonl", self.history)
        for name, data in files.items():
            write_atomic(folder / name, data)
        record_checksums(folder, files)

    @classmethod
    def load(cls, folder: str | Path, *, record: bool = True) -> "TabularRun":
        """Rebuild a run from its folder, every file verified against summary.json's checksums first; a missing,
        damaged or unreadable file is named. `record=False` (predict) reads only what predicting needs: weights,
        preprocessing and architecture."""
        files = RunFiles(folder)
        folder = files.folder
        config = files.json("config.json")   # first: a descend.fit run folder has no preprocess.json to miss
        with reading(folder / "config.json"):
            config = config.get("tabular")
        if config is None:
            raise DescendError(f"{folder / 'config.json'} has no \"tabular\" section: the folder holds a run of "
                               "descend.fit, not of `descend fit DATA`; load its weights into your model with "
                               f"safetensors.torch.load_model(model, {str(folder / 'model.safetensors')!r})")
        fitted = files.json("preprocess.json")
        weights = files.bytes("model.safetensors")
        with reading(folder / "model.safetensors"):
            model = TabularNet.build(config["architecture"])
            model.load_state_dict(load_weights(weights))
        with reading(folder / "preprocess.json"):
            preprocessor, target = Preprocessor.from_dict(fitted["preprocess"]), Target(**fitted["target"])
        run = cls(preprocessor, target, model, config)
        if record:
            run._read_record(files)
        return run

    def _read_record(self, files: RunFiles) -> None:
        """Metrics, history, findings and test predictions: what `descend update` carries forward."""
        self.metrics = files.json("metrics.json")
        with reading(files.folder / "history.csv"):
            self.history = pd.read_csv(io.BytesIO(files.bytes("history.csv"))).to_dict("records")
        if files.has("findings.json"):
            findings = files.json("findings.json")
            with reading(files.folder / "findings.json"):
                self.findings = [Finding.from_dict(item) for item in findings]
        if files.has("test_predictions.csv"):
            with reading(files.folder / "test_predictions.csv"):
                self.test_predictions = pd.read_csv(io.BytesIO(files.bytes("test_predictions.csv")))


def _with_kept(table: pd.DataFrame, frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """`names`' columns of `frame` first, then the predictions; whole numbers that pandas read as floats (an ID
    column with empty cells) stay whole numbers, and zero-padded ones keep their zeros."""
    clash = [name for name in names if name in table.columns]
    if clash:
        raise DescendError(f"--keep: column {clash[0]!r} has the name of an output column; rename it in the data")
    kept = {}
    for name in names:
        values = _numbers_unless_zero_padded(frame[name].reset_index(drop=True))
        whole = values.dtype.kind == "f" and bool((values.dropna() % 1 == 0).all())
        kept[name] = values.astype("Int64") if whole else values
    return pd.concat([pd.DataFrame(kept), table], axis=1) if names else table


def _numbers_unless_zero_padded(values: pd.Series) -> pd.Series:
    """A column read as text back to numbers when every cell is one, unless a cell starts with a zero that a
    number would drop (00084: an ID, a postcode), which is copied as written."""
    if pd.api.types.is_numeric_dtype(values) or values.dropna().astype(str).str.match(r"[+-]?0\d").any():
        return values
    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def _strict_json(data) -> bytes:
    """Strict JSON bytes (NaN, which strict readers refuse, is written as null)."""
    return (json.dumps(_strict(data), indent=2) + "\n").encode()


def _extended_history(path: Path, history: list[dict]) -> bytes:
    """history.jsonl with a line for each record beyond those it holds (fit's recorder wrote the first ones at
    full precision; an update adds its own)."""
    lines = path.read_text().splitlines(keepends=True) if path.is_file() else []
    extra = [json.dumps(jsonable(record)) + "\n" for record in history[len(lines):]]
    return "".join(lines + extra).encode()


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


def _fresh_copy(out: Path) -> Path:
    """The hidden sibling `.DIR.update` that a rewrite of `out` fills: with `out`'s permissions, its lock file and
    hard links to everything saving does not write fresh (a symbolic link stays a link, never followed). A copy
    left by a rewrite that was killed is removed first; the caller holds the lock of `out`."""
    folder = out.with_name(f".{out.name}.update")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    if out.is_dir():
        folder.chmod(stat.S_IMODE(out.stat().st_mode))
        for entry in out.iterdir():
            if entry.name in WRITTEN or entry.name.startswith(".") and entry.name != lock.LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, folder / entry.name, symlinks=True, copy_function=_link)
            else:
                _link(entry, folder / entry.name)
    return folder


def _link(source, target) -> None:
    os.link(source, target, follow_symlinks=False)


def recording_folder(out: str | Path) -> Path:
    """Where `descend fit --out DIR` records training as it goes (DIR.partial, beside DIR); it is renamed to DIR
    once the run is complete, so DIR itself never holds half a run."""
    out = Path(out)
    return out.with_name(f"{out.name}.partial")


def _check_parent(out: Path) -> None:
    parent = next(p for p in out.absolute().parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise DescendError(f"--out {out}: cannot create it inside {parent} (not a writable folder); pick another place")


@dataclass(frozen=True)
class Recording:
    """How `descend fit --out DIR` goes on: the folder fit records in, whether it continues the run recorded there,
    and whether DIR already holds the finished run (then there is nothing to do)."""

    folder: Path
    resume: bool = False
    complete: bool = False


@contextlib.contextmanager
def recording(out: str | Path, resume: bool = False) -> Iterator[Recording]:
    """Lock DIR.partial for the whole run (fit, final files, the rename to DIR), then decide how the run goes on
    (`check_out`). A second process on the same --out is refused with "--out DIR is in use by process N"."""
    out = Path(out)
    _check_parent(out)
    partial = recording_folder(out)
    existed = partial.is_dir()
    with lock.hold(partial, f"--out {out}"):
        yield check_out(out, resume, existed)


def _leftovers(partial: Path) -> list[Path]:
    return [p for p in partial.iterdir() if p.name != lock.LOCK] if partial.is_dir() else []


def check_out(out: Path, resume: bool, partial_existed: bool) -> Recording:
    """Check --out before any work starts. The recovery rule: with --resume, whatever state the folders are in,
    the run is completed, or one line says why it cannot; without it, a new run needs a new or empty --out and no
    recorded run in DIR.partial (for which the advice is --resume, which always takes it)."""
    partial = recording_folder(out)
    recorded = subruns.recorded(partial)
    if resume:
        if recorded:
            return Recording(partial, resume=True)
        if out.is_dir() and any(out.iterdir()):   # finished (loading it names any damage)
            return Recording(out, complete=True)
        if not partial_existed:
            raise DescendError(f"nothing to resume: no run of --out {out} (it would be in {partial}); start "
                               "without --resume")
        print(f"{partial} holds no recorded run (it stopped before recording anything); starting from the "
              "beginning", file=sys.stderr)
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DescendError(f"--out {out} already exists and is not empty; pick a new folder or remove it")
    elif recorded:
        raise DescendError(f"{partial} holds an interrupted run for --out {out}: add --resume to continue it, or "
                           "delete that folder to start over")
    for leftover in _leftovers(partial):   # nothing recorded: temporary files of a run that died at its start
        shutil.rmtree(leftover) if leftover.is_dir() and not leftover.is_symlink() else leftover.unlink()
    return Recording(partial)


def _date(years: float) -> str:
    """A date's running time (years since 2000, as the model reads it) as the day it is: 2022-08-28."""
    return str((pd.Timestamp("2000-01-01") + pd.to_timedelta(years * 365.25, unit="D")).round("D").date())
