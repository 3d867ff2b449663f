"""Studies in a database: a crashed search resumes where it died, and worker processes share one study."""
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

import descend as ds
from descend.core.errors import DescendError

SRC = str(Path(__file__).resolve().parents[1] / "src")
SPACE = {"x": (-5.0, 5.0)}


def quadratic(params):
    return (params["x"] - 1.5) ** 2


def states(url: str) -> list[tuple[int, str, dict]]:
    study = optuna.load_study(study_name="descend", storage=url)
    return [(t.number, t.state.name, t.params) for t in study.trials]


CRASHING = """
import os
import descend as ds

def objective(params, trial):
    if trial.number == 3:
        os._exit(3)          # the process dies in the middle of trial 3, as a killed job would
    return (params["x"] - 1.5) ** 2

ds.tune(objective, {"x": (-5.0, 5.0)}, 6, storage=%r, progress=False)
"""


@pytest.mark.slow
def test_a_crashed_study_resumes_from_its_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    crashed = subprocess.run([sys.executable, "-c", CRASHING % url], env={**os.environ, "PYTHONPATH": SRC},
                             capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 3, crashed.stderr
    before = states(url)
    assert [s for _, s, _ in before] == ["COMPLETE"] * 3 + ["RUNNING"]

    result = ds.tune(quadratic, SPACE, 6, storage=url, progress=False)
    after = states(url)
    assert after[:3] == before[:3]                       # finished trials are kept, not redone
    assert [s for _, s, _ in after].count("COMPLETE") == 6  # three more ran to reach n_trials
    assert after[3][1] == "RUNNING"    # the dead trial is failed (and retried) once its heartbeat is 120 s old
    assert len(result.trials) == 7

    calls = []
    again = ds.tune(lambda p: calls.append(p) or 0.0, SPACE, 6, storage=url, progress=False)
    assert calls == [] and again.best_value == result.best_value   # a finished study runs nothing more


def test_a_storage_study_with_the_other_direction_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    ds.tune(quadratic, SPACE, 1, storage=url, progress=False)
    with pytest.raises(DescendError, match="use another study_name or direction"):
        ds.tune(quadratic, SPACE, 2, storage=url, direction="maximize", progress=False)


class WaitForPeers:
    """Objective that records its process and, on a worker's first trial, waits until `peers` workers have
    started, so the test proves the trials were shared among live processes."""

    def __init__(self, folder: Path, peers: int):
        self.folder, self.peers = folder, peers

    def __call__(self, params, trial):
        (self.folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(self.folder.iterdir())) < self.peers and time.monotonic() < deadline:
            time.sleep(0.05)
        trial.set_user_attr("pid", os.getpid())
        return quadratic(params)


@pytest.mark.slow
def test_workers_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    (tmp_path / "pids").mkdir()
    result = ds.tune(WaitForPeers(tmp_path / "pids", 2), SPACE, 8, storage=url, workers=2, out=tmp_path / "out",
                     progress=False)
    finished = result.trials[result.trials["state"] == "COMPLETE"]
    assert 8 <= len(finished) <= 9             # each worker stops after its trial once 8 are done: at most 1 extra
    assert finished["pid"].nunique() == 2 and os.getpid() not in set(finished["pid"])
    assert sorted(result.trials["trial"]) == list(range(len(result.trials)))
    assert (tmp_path / "out" / "best.json").is_file()
