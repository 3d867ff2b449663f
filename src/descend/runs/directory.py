"""A run directory on disk: what it holds, the checks before a run starts in it, and its final files.

    config.json        what defines the run (see config.py)
    history.jsonl      one JSON record per step, appended as the run goes; each checkpoint holds the SHA-256
                       of the lines it covers
    checkpoints/       step-NNNNNNNNN/ folders (see checkpoint.py), the newest two kept
    model.safetensors  final weights, findings.json (always, [] for a healthy run) and summary.json (with the
                       checksums of the other two, written last): written when the run ends

Under torch.distributed only rank 0 checks and writes the directory; every rank restores the same checkpoint.
The callback that writes history and checkpoints while fit runs is in recorder.py.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..core.errors import DescendError, warn_user
from . import checkpoint, faults, lock, ranks
from .config import changes, check_format, differences
from .files import dumps, sha256, sha256_file, write_atomic, write_json
from .verified import sealed, unsealed

CONFIG, HISTORY, CHECKPOINTS, SUMMARY, FINDINGS, MODEL = ("config.json", "history.jsonl", "checkpoints",
                                                          "summary.json", "findings.json", "model.safetensors")


@dataclass(frozen=True)
class Resume:
    """What a resume continues from, decided before any work starts."""

    checkpoint: Path
    history_length: int
    finish_only: bool = False         # the checkpoint is the run's last; only its final files are to be written
    stop_reason: str | None = None
    stop_code: str | None = None
    complete: bool = False            # every final file is there and intact: nothing to write


class Run:
    """An opened run directory: checked, and for a resume, the checkpoint to continue from already verified.
    `writes` is False on the processes of a distributed run other than rank 0."""

    def __init__(self, path: Path, config: dict | None, checkpoint_every: int | None, resume: Resume | None,
                 writes: bool = True, held: contextlib.ExitStack | None = None):
        self.path, self.config, self.checkpoint_every, self.resume, self.writes = (path, config, checkpoint_every,
                                                                                   resume, writes)
        self._loaded = None
        self._held = held or contextlib.ExitStack()

    def close(self) -> None:
        """Release the directory's lock (fit calls it when it returns or fails)."""
        self._held.close()

    @property
    def resume_from(self) -> Path | None:
        return None if self.resume is None else self.resume.checkpoint

    def load_checkpoint(self, device: torch.device, *, keep: bool = True) -> tuple[dict, dict]:
        """Weights and training state of the checkpoint being resumed, read once; `keep=False` (the restore)
        forgets them, so the run holds no second copy of weights and optimizer state."""
        loaded = self._loaded or checkpoint.load(self.resume.checkpoint, device)
        self._loaded = loaded if keep else None
        return loaded

    def record_choice(self, choice: dict) -> None:
        """Put what optimizer/lr "auto" chose into config.json's "auto" section (not compared on resume: a resumed
        run reads the choice back from its checkpoint); written at once when config.json is already there."""
        if not self.writes:
            return
        self.config["auto"] = choice
        path = self.path / CONFIG
        if path.exists():   # a resumed run's file keeps what it says and gets the same choice again
            write_json(path, {**json.loads(path.read_text()), "auto": choice})

    def read_history(self) -> tuple[list[dict], bytes]:
        """The records the resumed checkpoint covers and their bytes; rank 0 cuts the file back to them."""
        path, length = self.path / HISTORY, self.resume.history_length
        prefix = history_prefix(path, length)
        kept = self.resume.checkpoint / checkpoint.HISTORY   # verified with the checkpoint
        if kept.is_file() and prefix != kept.read_bytes():
            warn_user(f"{path} does not hold, unaltered, the {length} lines checkpoint {self.resume.checkpoint} "
                      "covers; they are restored from the checkpoint's own copy")
            prefix = kept.read_bytes()
        try:
            records = [json.loads(line) for line in prefix.splitlines()]
        except ValueError as err:
            raise DescendError(f"{path} is corrupted before step {length} ({err}); cannot resume this run") from err
        if len(records) < length:
            raise DescendError(f"{path} holds {len(records)} records but the checkpoint needs {length}; "
                               "cannot resume this run")
        if self.writes:
            write_atomic(path, prefix)
        return records, prefix

    def finish(self, result):
        """Write the final weights, findings.json and summary.json (last, with the others' checksums), and point
        the result at the run directory. Only rank 0 writes."""
        result.run_dir = str(self.path)
        if not self.writes or self.resume is not None and self.resume.complete:
            return result
        files = {MODEL: checkpoint.weights_bytes(result.model.state_dict()),
                 FINDINGS: dumps([f.to_dict() if hasattr(f, "to_dict") else f for f in result.findings]).encode()}
        summary = {"stop_reason": result.stop_reason, "steps": len(result.history), "best": result.best,
                   "elapsed": result.elapsed, "files": {name: sha256(data) for name, data in files.items()}}
        if (self.path / HISTORY).is_file():   # complete now: readers verify it too
            summary["files"][HISTORY] = sha256_file(self.path / HISTORY)
        for name, data in [*files.items(), (SUMMARY, sealed(summary))]:
            if name == SUMMARY:
                faults.point("final")   # weights and findings written, summary.json not yet
            try:
                write_atomic(self.path / name, data)
            except OSError as err:
                last = checkpoint.listed(self.path / CHECKPOINTS)
                raise DescendError(
                    f"could not write {self.path / name}: {err.strerror or err}. Training finished and its last "
                    f"checkpoint {last[0] if last else '(none)'} is kept. Free space or make the directory "
                    "writable, then call fit again with resume=True: it writes the final files from that "
                    "checkpoint without training again") from err
        return result


def history_prefix(path: Path, length: int) -> bytes:
    """The bytes of the first `length` complete lines of `path` (fewer if it has fewer)."""
    data = path.read_bytes() if path.is_file() else b""
    end = -1
    for _ in range(length):
        found = data.find(b"\n", end + 1)
        if found < 0:
            break
        end = found
    return data[:end + 1]


def open_run(run_dir, config: Callable[[], dict], *, resume: bool, checkpoint_every: int | None) -> Run | None:
    """Check a run directory before any work starts; None without a run_dir. `config()` makes config.json's
    content (see config.fit_config), on the process that writes; fit has checked the other arguments.

    A fresh run needs an empty or new directory; a resume needs the same config and a good checkpoint. Under
    torch.distributed every process must pass the same run_dir; rank 0 checks, and all learn its verdict."""
    ranks.same_everywhere((None if run_dir is None else str(run_dir), bool(resume)), "run_dir/resume")
    if run_dir is None:
        return None
    path, writes = Path(run_dir), ranks.is_main_process()
    config = config() if writes else None
    held = contextlib.ExitStack()
    try:
        plan = ranks.agreed(lambda: _prepare(path, config, resume, held))
    except BaseException:
        held.close()
        raise
    return Run(path, config, checkpoint_every, plan, writes, held)


def _prepare(path: Path, config: dict, resume: bool, held: contextlib.ExitStack) -> Resume | None:
    """On rank 0: lock the directory (held until fit ends), then decide how the run starts."""
    if path.exists() and not path.is_dir():
        raise DescendError(f"run_dir {path} is a file, not a directory")
    held.enter_context(lock.hold(path, f"run_dir {path}"))
    plan = _check_resume(path, config) if resume else _check_fresh(path)
    _probe_writable(path)
    return plan


def _check_fresh(path: Path) -> None:
    held = sorted(p.name for p in path.iterdir() if p.name != lock.LOCK) if path.is_dir() else []
    if held:
        advice = ("pass resume=True to continue the run in it, or choose a new directory" if CONFIG in held else
                  "it holds no run of descend.fit (no config.json); choose a new directory or empty this one")
        raise DescendError(f"run_dir {path} is not empty (it holds {', '.join(held[:4])}); {advice}")


RUN_LENGTH = {"run.max_epochs", "run.max_steps"}


def _longer_hint(path: Path, saved: dict, config: dict) -> str:
    """What to do when only the run's length differs: a resume finishes the run as it was set (its schedule ran
    to that length), so training further is a new run that starts from the saved weights."""
    if not {name for name, _, _ in changes(saved, config)} <= RUN_LENGTH:
        return ""
    return (". A resume finishes a run as it was set (its schedule spans that length); to train further, let it "
            "finish, load the weights it leaves into the model, "
            f"model.load_state_dict(safetensors.torch.load_file('{path / MODEL}')), and fit it with a new run_dir")


def _saved_config(path: Path) -> dict:
    config_path = path / CONFIG
    if not config_path.is_file():
        raise DescendError(f"nothing to resume in {path}: it has no {CONFIG}; start without resume=True")
    try:
        saved = json.loads(config_path.read_text())
    except ValueError as err:
        raise DescendError(f"{config_path} is not valid JSON ({err}); cannot tell which run this is") from err
    check_format(saved, config_path)
    return saved


def _check_resume(path: Path, config: dict) -> Resume:
    saved = _saved_config(path)
    changed = differences(saved, config)
    if changed:
        raise DescendError(f"run_dir {path} holds a different run; resume with the same settings, model and data. "
                           f"Differences: {'; '.join(changed[:8])}" + (" ..." if len(changed) > 8 else "")
                           + _longer_hint(path, saved, config))
    history = path / HISTORY
    if not checkpoint.listed(path / CHECKPOINTS):   # stopped before its first checkpoint: nothing to lose
        print(f"the run in {path} stopped before its first checkpoint; starting it again from step 0",
              file=sys.stderr)
        write_atomic(history, b"")
        return None
    good, manifest, problems = checkpoint.newest_good(path / CHECKPOINTS, lambda p, m: _matches_history(history, p, m))
    for problem in problems:
        warn_user(f"{problem}; resuming from the previous good checkpoint {good} instead")
    length = manifest.get("history", {}).get("length")
    if length is None:  # format 1 kept the length only in state.pt
        length = torch.load(good / checkpoint.STATE, weights_only=True)["loop"]["history_length"]
    stop_reason = manifest.get("stop_reason")
    if stop_reason:
        missing = _unfinished_files(path)
        if not missing:   # a recovery script that always resumes gets the finished result, nothing rewritten
            return Resume(good, int(length), True, stop_reason, manifest.get("stop_code"), complete=True)
        print(f"the run in {path} finished training at step {manifest['step']} but {' and '.join(missing)} "
              f"{'is' if len(missing) == 1 else 'are'} missing or incomplete; writing the final files from {good}",
              file=sys.stderr)
    return Resume(good, int(length), bool(stop_reason), stop_reason, manifest.get("stop_code"))


def _matches_history(history: Path, path: Path, manifest: dict) -> None:
    """Refuse checkpoint `path` when history.jsonl no longer holds, unaltered, the lines it covers."""
    expected = manifest.get("history")
    if expected is None or checkpoint.HISTORY in manifest["files"]:  # no checksum, or a copy to restore from
        return
    prefix = history_prefix(history, expected["length"])
    lines = prefix.count(b"\n")
    if lines < expected["length"]:
        raise checkpoint.UnmatchedCheckpoint(f"{history} holds {lines} lines but checkpoint {path} covers "
                                             f"{expected['length']}")
    if sha256(prefix) != expected["sha256"]:
        raise checkpoint.UnmatchedCheckpoint(f"{history} was altered: its first {expected['length']} lines do not "
                                             f"match the SHA-256 checksum in checkpoint {path}")


def record_checksums(path: Path, names) -> None:
    """Add to summary.json (made if missing) the checksums of files a tool wrote into a finished run: the tables'
    preprocessing and metrics, or the new weights of `descend update`. Readers verify files against them."""
    summary_path = path / SUMMARY
    summary = unsealed(summary_path.read_bytes(), summary_path) if summary_path.is_file() else {}
    summary["files"] = {**summary.get("files", {}), **{name: sha256_file(path / name) for name in names}}
    write_atomic(summary_path, sealed(summary))


def _unfinished_files(path: Path) -> list[str]:
    """The final files that are missing, or (when summary.json can say) do not match their recorded checksum."""
    try:
        recorded = json.loads((path / SUMMARY).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    bad = [name for name in (MODEL, FINDINGS) if not (path / name).is_file()
           or recorded is not None and sha256_file(path / name) != recorded.get(name)]
    return bad + ([SUMMARY] if recorded is None else [])


def _probe_writable(path: Path) -> None:
    probe = path / f".probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise DescendError(f"run_dir {path} is not writable: {err.strerror or err}") from err
