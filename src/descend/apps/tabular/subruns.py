"""The sub-records inside a tables run folder: each lr candidate's first run and the refit. Where each records,
whether an interrupted one resumes from its checkpoint, and how the chosen candidate's record becomes the run
folder's own, so a finished folder holds what a single first run would have left."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from ...runs import checkpoint, lock

CANDIDATES = "lr_candidates"   # in a run folder while the first run tries each lr: one record per lr


def recorded(run_dir: Path) -> bool:
    """Whether a run folder holds a recorded run: its own config.json, or one of an lr candidate still choosing
    (a run interrupted then has its record there, and --resume continues it)."""
    return (run_dir / "config.json").is_file() or bool(candidate_records(run_dir))


def candidate_records(run_dir: Path) -> list[Path]:
    """The record folders of the lr candidates a run folder holds while its first run chooses an lr."""
    return sorted(config.parent for config in (run_dir / CANDIDATES).glob("*/config.json"))


def candidate_name(lr: float) -> str:
    """The folder (under CANDIDATES) of the first run at `lr`."""
    return f"lr-{lr:g}"


def recording(run_dir, resume: bool, callbacks: list) -> Callable[[str | None], dict]:
    """run_dir, resume and callbacks of a first run: in `run_dir` itself (name None), or in its CANDIDATES/name
    (resumed there when an interrupted one left a checkpoint)."""
    def arguments(name: str | None = None) -> dict:
        if run_dir is None or name is None:
            return {"run_dir": run_dir, "resume": resume, "callbacks": callbacks}
        folder = Path(run_dir) / CANDIDATES / name
        return {"run_dir": folder, "resume": resume and has_checkpoint(folder), "callbacks": callbacks}
    return arguments


def adopt(run_dir: Path, name: str | None) -> None:
    """Make the chosen candidate's record (CANDIDATES/name) the run folder's own, moving it up entry by entry (a
    move cut short is finished on resume, before anything reads it), then drop every candidate's folder."""
    if name is None:
        return
    record = run_dir / CANDIDATES / name
    if record.is_dir():
        for entry in record.iterdir():
            if entry.name != lock.LOCK:
                os.replace(entry, run_dir / entry.name)
    shutil.rmtree(run_dir / CANDIDATES, ignore_errors=True)


def has_checkpoint(folder: Path | None) -> bool:
    """Whether an interrupted sub-run left a checkpoint to resume from; one stopped before its first is begun
    again (its folder holds nothing worth keeping)."""
    if folder is None or not folder.is_dir():
        return False
    if checkpoint.listed(folder / "checkpoints"):
        return True
    shutil.rmtree(folder)
    return False
