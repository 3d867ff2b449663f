"""Durable writes for run directories: temporary file, fsync, rename; and the checksums that prove a file whole."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path


def jsonable(value):
    """A JSON-ready copy of numbers, strings, lists and dicts; tensors and numpy scalars become numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dumps(value) -> str:
    """JSON text for `value`; NaN and Inf are written as JSON's NaN/Infinity, which Python reads back exactly."""
    return json.dumps(jsonable(value), indent=2, allow_nan=True) + "\n"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
    """Write a file that nobody reads yet (inside a temporary folder) and fsync it."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once: readers see the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, value) -> None:
    write_atomic(path, dumps(value).encode())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def replace_folder(new: Path, out: Path) -> None:
    """Put folder `new` where `out` is: the old folder moves aside, `new` takes its name, then the old is removed
    (two renames, so a crash leaves either set complete, never a mix)."""
    old = None
    if out.exists():
        old = new.with_name(new.name + ".old")
        os.replace(out, old)
    try:
        os.replace(new, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
