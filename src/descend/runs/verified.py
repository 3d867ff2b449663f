"""Reading a run folder's files only after checking them against the SHA-256 checksums that summary.json records
(the run's manifest), so a damaged file is named in one line instead of used.

The checksums detect damage (a truncated write, a flipped bit, an edit by mistake), not tampering: whoever can
change a file can change summary.json to match. Weights are safetensors and the rest JSON, so even a crafted file
runs no code when read.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from ..core.errors import DescendError
from .files import dumps, sha256

SUMMARY = "summary.json"
SEAL = "sha256"   # summary.json's own checksum: of its other keys, written as `sealed` writes them


def sealed(summary: dict) -> bytes:
    """summary.json's bytes, with the checksum of everything else in it, so damage to it is found too."""
    body = {k: v for k, v in summary.items() if k != SEAL}
    return dumps({**body, SEAL: sha256(dumps(body).encode())}).encode()


def unsealed(data: bytes, path: Path) -> dict:
    """The summary in `data`, after checking its own checksum (a summary written before it had one passes)."""
    with reading(path):
        summary = json.loads(data)
        if not isinstance(summary, dict):
            raise TypeError("summary.json must hold a JSON object")
    body = {k: v for k, v in summary.items() if k != SEAL}
    if SEAL in summary and sha256(dumps(body).encode()) != summary[SEAL]:
        raise DescendError(f"{path} is damaged: its own SHA-256 checksum does not match (truncated or altered); "
                           "restore it or train the run again")
    return summary


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn any failure to make sense of `path`'s contents into one DescendError naming the file."""
    try:
        yield
    except DescendError:
        raise
    except Exception as err:  # a damaged file can fail in any parser: JSON, safetensors, a model's state dict
        raise DescendError(f"{path} cannot be used: {type(err).__name__}: {_first_line(err)}; restore it from a "
                           "backup or train the run again") from err


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "(no detail)"


class RunFiles:
    """The files of one run folder, each checked against summary.json before it is returned. A folder without
    summary.json (a run still training) is read unchecked unless `required`."""

    def __init__(self, folder: str | Path, *, required: bool = True):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DescendError(f"run folder {self.folder} does not exist (or is not a folder)")
        self.checksums = self._checksums(required)

    def _checksums(self, required: bool) -> dict | None:
        path = self.folder / SUMMARY
        if not path.is_file() and required and not (self.folder / "config.json").is_file():
            raise DescendError(f"{self.folder} is not a run folder: it holds none of a run's files (config.json, "
                               f"{SUMMARY}, the model); " + (runs_inside(self.folder) or "give the folder that "
                                                             "`descend fit --out DIR` (or fit(run_dir=...)) wrote"))
        if not path.is_file():
            if required:
                raise DescendError(f"{path} is missing: it holds the checksums of the run's files, without which "
                                   "they cannot be trusted; train the run again (or restore the file)")
            return None
        summary = unsealed(path.read_bytes(), path)
        with reading(path):
            files = summary["files"]
            if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
                raise TypeError('"files" must map file names to SHA-256 checksums')
        return files

    def has(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def bytes(self, name: str) -> bytes:
        """The contents of `name`, verified against its recorded checksum when summary.json lists it."""
        path = self.folder / name
        if not path.is_file():
            raise DescendError(f"{path} is missing; {self.folder} is not a complete descend run folder")
        data = path.read_bytes()
        expected = (self.checksums or {}).get(name)
        if expected is not None and sha256(data) != expected:
            raise DescendError(f"{path} is damaged: its SHA-256 checksum does not match the one in "
                               f"{self.folder / SUMMARY} (truncated or altered); restore it or train the run again")
        return data

    def json(self, name: str):
        data = self.bytes(name)
        with reading(self.folder / name):
            return json.loads(data)

    def text(self, name: str) -> str:
        data = self.bytes(name)
        with reading(self.folder / name):
            return data.decode()


def runs_inside(folder: Path) -> str:
    """What a folder of run folders holds ("it holds the runs a, b: give one of them, as DIR/a"), for a command
    given the folder above the runs; "" when none of its folders is a run."""
    found = sorted(p.name for p in Path(folder).iterdir()
                   if p.is_dir() and any((p / name).is_file() for name in ("history.jsonl", "config.json")))
    if not found:
        return ""
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return (f"it holds the run {shown}: give that folder, {Path(folder) / found[0]}" if len(found) == 1 else
            f"it holds the runs {shown}: give one of them, as {Path(folder) / found[0]}")
