"""One writer per run folder: fit, resume, update and the library's fit refuse a folder another process holds,
in one line naming that process; the lock goes when its holder dies; two fits at once leave one intact run."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
from descend.runs import lock
from tabular_data import bakery
from test_faults import FAST, SRC, assert_same_run

HOLDER = """
import sys, time
from descend.runs import lock
with lock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def sales(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lock") / "sales.csv"
    bakery(200).to_csv(path, index=False)
    return path


@pytest.fixture
def held(tmp_path):
    """A process that holds the lock of the folder it is given, until the test ends or kills it."""
    children = []

    def hold(folder: Path) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(SRC)})
        assert child.stdout.readline().strip() == "held"
        children.append(child)
        return child

    yield hold
    for child in children:
        child.kill()
        child.wait()


def _one_line_in_use(capsys, name: str, pid: int) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{name} is in use by process {pid}" in err, err


def test_every_writer_is_refused_while_another_process_holds_the_folder(sales, tmp_path, held, capsys):
    out = tmp_path / "run"
    fit = ["fit", str(sales), "--target", "loaves", "--out", str(out), *FAST]
    holder = held(tmp_path / "run.partial")
    assert main(fit) == 2
    _one_line_in_use(capsys, f"--out {out}", holder.pid)
    assert main([*fit, "--resume"]) == 2
    _one_line_in_use(capsys, f"--out {out}", holder.pid)
    assert sorted(p.name for p in (tmp_path / "run.partial").iterdir()) == [".lock"]   # nothing written
    holder.kill()
    holder.wait()                                   # the lock dies with its holder: no stale lock to clear
    assert main(fit) == 0
    capsys.readouterr()
    updater = held(out)
    assert main(["update", str(out), str(sales)]) == 2
    _one_line_in_use(capsys, str(out), updater.pid)


def test_library_fit_refuses_a_folder_in_use(tmp_path, held):
    holder = held(tmp_path / "run")
    X, y = torch.randn(32, 3), torch.randn(32, 1)
    with pytest.raises(ds.DescendError, match=f"run_dir {tmp_path / 'run'} is in use by process {holder.pid}"):
        ds.fit(nn.Linear(3, 1), (X, y), max_steps=3, progress=False, run_dir=str(tmp_path / "run"))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock"]


def test_another_thread_of_the_same_process_is_refused_too(tmp_path):
    import threading
    errors = []
    with lock.hold(tmp_path / "run"):
        thread = threading.Thread(target=lambda: _try(lambda: lock.hold(tmp_path / "run").__enter__(), errors))
        thread.start()
        thread.join()
    assert len(errors) == 1 and "in use by this process" in str(errors[0])
    with lock.hold(tmp_path / "run"), lock.hold(tmp_path / "run"):   # the same thread again: fit inside the CLI
        pass
    assert not (tmp_path / "run").exists()   # made only to be locked, so removed again


def _try(action, errors: list) -> None:
    try:
        action()
    except lock.RunInUse as err:
        errors.append(err)


@pytest.mark.slow
def test_two_fits_at_once_on_one_folder_leave_exactly_one_intact_run(sales, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    runs = {seed: subprocess.Popen([sys.executable, "-m", "descend.cli", "fit", str(sales), "--target", "loaves",
                                    "--out", str(out), "--seed", str(seed), *FAST], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for seed in (1, 2)}
    finished = {seed: (child.wait(timeout=300), *child.communicate()) for seed, child in runs.items()}
    assert sorted(code for code, _, _ in finished.values()) == [0, 2], finished
    winner = next(seed for seed, (code, _, _) in finished.items() if code == 0)
    loser_err = next(err for code, _, err in finished.values() if code == 2)
    assert loser_err.count("\n") == 1 and ("is in use by process" in loser_err or "already exists" in loser_err)
    assert not tmp_path.joinpath("run.partial").exists()
    reference = tmp_path / "reference"
    assert main(["fit", str(sales), "--target", "loaves", "--out", str(reference), "--seed", str(winner), *FAST]) == 0
    assert_same_run(reference, out)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_nproc_workers_die_with_their_parent(sales, tmp_path):
    out = tmp_path / "run"
    parent = subprocess.Popen([sys.executable, "-m", "descend.cli", "fit", str(sales), "--target", "loaves", "--out",
                               str(out), "--nproc", "2", "--max-epochs", "400", "--patience", "400"],
                              env={**os.environ, "PYTHONPATH": str(SRC)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    history = tmp_path / "run.partial" / "history.jsonl"
    deadline = time.time() + 120
    while not (history.is_file() and history.stat().st_size > 0):
        assert parent.poll() is None and time.time() < deadline
        time.sleep(0.1)
    workers = _children(parent.pid)
    assert len(workers) >= 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in workers):
        assert time.time() < deadline, "a worker outlived its parent"
        time.sleep(0.1)
    shutil.rmtree(tmp_path / "run.partial")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
