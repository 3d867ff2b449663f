"""Durable writes for run directories: temporary file, fsync, rename; and the checksums that prove a file whole."""
from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

from . import faults, lock


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
    """Put folder `new` where `out` is. An existing `out` is exchanged with `new` in one atomic rename (Linux's
    renameat2), so a crash leaves the old folder or the new one under the name, never neither, and the old
    contents, now at `new`, are removed; where that call is missing, the old folder moves aside first (two renames).
    A lock held on `new` goes on holding it under its new name."""
    if not out.exists():
        os.replace(new, out)
    elif _exchange(new, out):
        faults.point("swap")
        shutil.rmtree(new, ignore_errors=True)
    else:
        _replace_in_two_renames(new, out)
    fsync_dir(out.parent)
    lock.moved(new, out)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot."""
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:
        return False
    at_cwd, exchange = -100, 2
    if function(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _replace_in_two_renames(new: Path, out: Path) -> None:
    old = new.with_name(new.name + ".old")
    os.replace(out, old)
    try:
        os.replace(new, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
