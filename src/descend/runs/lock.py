"""One writer per run folder: an exclusive `fcntl.flock` on FOLDER/.lock, which the operating system releases when
the holding process dies, however it dies. fit, resume, update and the ranks of a distributed run take it; a second
user is refused with "FOLDER is in use by process N".

The lock is reentrant within a thread (descend fit holds it while descend.fit, called inside, takes it again), and
the local worker processes of `fit_in_processes` are covered by their parent's lock (they are told its process id
in DESCEND_LOCK_HOLDER).
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

from ..core.errors import DescendError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are unguarded there
    fcntl = None

LOCK = ".lock"
_held: dict[tuple[int, int], list] = {}   # (device, inode) of a lock file -> [fd, count, path, thread]


class RunInUse(DescendError):
    """Another process holds the run folder."""


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"


def _acquire(path: Path, name: str) -> tuple[int, int] | None:
    """Lock `path`; the key of the held lock, or None when this process's parent holds it for us."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        key = (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        if key in _held:
            os.close(fd)
            if _held[key][3] != threading.get_ident():
                raise RunInUse(f"{name} is in use by this process (process {os.getpid()}), in another thread")
            _held[key][1] += 1
            return key
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if holder == os.environ.get("DESCEND_LOCK_HOLDER"):   # a worker of fit_in_processes, whose parent
                return None                                         # holds the lock for it
            raise RunInUse(f"{name} is in use by process {holder}; wait for it to finish or stop it") from None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and (current.st_dev, current.st_ino) == key:
            break
        os.close(fd)   # the folder was swapped (descend update) while we waited: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[key] = [fd, 1, path, threading.get_ident()]
    return key


def _release(key: tuple[int, int] | None) -> None:
    if key is None or key not in _held:
        return
    _held[key][1] -= 1
    if _held[key][1] == 0:
        fd, _, path, _ = _held.pop(key)
        with contextlib.suppress(OSError):   # a finished folder keeps no lock file; one who waits locks anew
            if os.stat(path).st_ino == key[1]:
                path.unlink()
        os.close(fd)


def moved(old: Path, new: Path) -> None:
    """Tell the lock held on folder `old` that the folder was renamed to `new` (it goes on holding it)."""
    for entry in _held.values():
        if entry[2].parent == Path(old):
            entry[2] = Path(new) / LOCK


@contextlib.contextmanager
def hold(folder: Path, name: str | None = None, *, create: bool = True) -> Iterator[Path]:
    """Hold the lock of `folder` for the `with` block; `name` is what a refusal calls it. A missing folder is
    made (and removed again if nothing was written into it), or with `create=False` refused."""
    folder = Path(folder)
    if not create and not folder.is_dir():
        raise DescendError(f"run folder {folder} does not exist (or is not a folder)")
    if fcntl is None:
        yield folder
        return
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = _acquire(folder / LOCK, str(name or folder))
    except OSError as err:
        raise DescendError(f"cannot lock run folder {folder}: {err.strerror or err}") from err
    try:
        yield folder
    finally:
        if created and key in _held and _held[key][1] == 1:
            _remove_if_unused(folder)
        _release(key)


def _remove_if_unused(folder: Path) -> None:
    """Remove a folder this process made only to lock it, when nothing else was written into it."""
    with contextlib.suppress(OSError):
        if [p.name for p in folder.iterdir()] == [LOCK]:
            (folder / LOCK).unlink()
            folder.rmdir()


def acquire(folder: Path, name: str | None = None) -> contextlib.ExitStack:
    """`hold` for code that releases later: the returned stack's `close()` releases the lock."""
    stack = contextlib.ExitStack()
    stack.enter_context(hold(folder, name))
    return stack
