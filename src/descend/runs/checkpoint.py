"""Checkpoints: one folder per saved step holding the weights (safetensors), the training state (a torch file that
loads with weights_only=True) and a manifest with the format version and a SHA-256 checksum per file.

model.safetensors holds the weights to evaluate and deploy (for Schedule-Free and EMA the averaged ones, as their
authors save them); when training continues from different weights (Schedule-Free's y, EMA's raw weights), those
are in training.safetensors, which a resume loads. Format 1 checkpoints (before training.safetensors and the
history checksum) are still read.

A checkpoint is written into a hidden temporary folder, every file fsynced, and renamed into place, so a crash
leaves either a whole checkpoint or none. The newest `KEEP` checkpoints are kept.
"""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save as safetensors_bytes

from ..core.errors import DescendError
from . import faults
from .files import dumps, fsync_dir, sha256, sha256_file, write_new

FORMAT = 2
KEEP = 2
MODEL, TRAINING, STATE, MANIFEST = "model.safetensors", "training.safetensors", "state.pt", "manifest.json"
HISTORY = "history.jsonl"   # the run's history lines up to this step, so an altered history.jsonl is restored


class CorruptCheckpoint(DescendError):
    """A checkpoint whose files are missing, truncated or altered (their checksum does not match)."""

    set_aside_as = "corrupt"


class UnmatchedCheckpoint(CorruptCheckpoint):
    """A whole checkpoint that cannot be resumed from because a file beside it (history.jsonl) no longer matches."""

    set_aside_as = "unmatched"


def name(step: int) -> str:
    return f"step-{step:09d}"


def listed(folder: Path) -> list[Path]:
    """Checkpoint folders, newest first."""
    return sorted(folder.glob("step-*"), reverse=True) if folder.is_dir() else []


def weights_bytes(weights: dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of a state dict; copies, so tied (shared) tensors are saved once per name."""
    return safetensors_bytes({k: v.detach().to("cpu", copy=True).contiguous() for k, v in weights.items()})


def save(folder: Path, step: int, weights: dict[str, torch.Tensor], state: dict, meta: dict,
         training: dict[str, torch.Tensor] | None = None, history: bytes | None = None) -> Path:
    """Write the checkpoint for `step` atomically, then drop all but the newest KEEP; returns its folder.

    `weights` are the evaluation weights; `training`, when given, the different weights training resumes from;
    `history` the history lines the checkpoint covers."""
    final = folder / name(step)
    tmp = folder / f".tmp-{final.name}-{os.getpid()}"
    for stale in folder.glob(".tmp-*"):  # left by a process killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        blobs = {MODEL: weights_bytes(weights), STATE: buffer.getvalue()}
        if training is not None:
            blobs[TRAINING] = weights_bytes(training)
        if history is not None:
            blobs[HISTORY] = history
        for file, data in blobs.items():
            write_new(tmp / file, data)
        manifest = {"format": FORMAT, "step": step, **meta, "files": {f: sha256(d) for f, d in blobs.items()}}
        write_new(tmp / MANIFEST, dumps(manifest).encode())
        fsync_dir(tmp)
        faults.point("checkpoint")
        if final.exists():  # left over from before a resume that went back to an earlier checkpoint
            shutil.rmtree(final)
        os.rename(tmp, final)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in listed(folder)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify(path: Path) -> dict:
    """The manifest of checkpoint `path` after checking its version and every file's checksum."""
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        files, version = dict(manifest["files"]), int(manifest["format"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptCheckpoint(f"checkpoint manifest {manifest_path} is missing or unreadable ({err})") from err
    if version > FORMAT:
        raise DescendError(f"checkpoint {path} was written in checkpoint format {version}, newer than the format "
                           f"{FORMAT} this descend reads; upgrade descend to resume this run")
    for file, digest in files.items():
        target = path / file
        if not target.is_file():
            raise CorruptCheckpoint(f"checkpoint file {target} is missing")
        if sha256_file(target) != digest:
            raise CorruptCheckpoint(f"checkpoint file {target} is corrupted: its SHA-256 checksum does not match "
                                    "the manifest (truncated or altered)")
    return manifest


def newest_good(folder: Path, accept: Callable[[Path, dict], None] | None = None
                ) -> tuple[Path, dict, list[CorruptCheckpoint]]:
    """The newest checkpoint that verifies (and that `accept`, which raises CorruptCheckpoint to refuse one,
    accepts), with its manifest and the problems of newer ones, which are set aside.

    Raises when none verifies: a run never silently starts over."""
    bad: list[tuple[Path, CorruptCheckpoint]] = []
    for path in listed(folder):
        try:
            manifest = verify(path)
            if accept is not None:
                accept(path, manifest)
        except CorruptCheckpoint as err:
            bad.append((path, err))
            continue
        return path, manifest, [_set_aside(p, err) for p, err in bad]
    if not bad:
        raise DescendError(f"no checkpoint in {folder} to resume from (the run stopped before its first one); "
                           "delete the run directory or choose a new one and start without resume")
    raise DescendError("no checkpoint in " + str(folder) + " can be used: " + "; ".join(str(err) for _, err in bad) +
                       ". Refusing to start over; delete the run directory to start again")


def _set_aside(path: Path, err: CorruptCheckpoint) -> CorruptCheckpoint:
    """Rename a bad checkpoint so it is kept for inspection but never resumed from or counted as current."""
    kept = path.with_name(f"{err.set_aside_as}-{path.name}")
    shutil.rmtree(kept, ignore_errors=True)
    path.rename(kept)
    return CorruptCheckpoint(f"{err}; the checkpoint was moved to {kept}")


def load(path: Path, device: torch.device) -> tuple[dict[str, torch.Tensor], dict]:
    """The weights training continues from and the training state of a verified checkpoint; nothing is
    unpickled beyond tensors and plain data."""
    weights = load_file(str(path / (TRAINING if (path / TRAINING).is_file() else MODEL)), device=str(device))
    state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    return weights, state
