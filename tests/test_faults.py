"""Fault injection: kill `descend fit` and `descend update` at each named point of a run's life (descend.runs.faults),
recover with --resume (or by running the update again), and compare with an uninterrupted run byte for byte."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from descend.cli import main
from tabular_data import bakery

SRC = Path(__file__).parent.parent / "src"
FAST = ["--max-epochs", "6", "--patience", "10", "--batch-size", "32"]
SAME_BYTES = ("model.safetensors", "findings.json", "history.jsonl", "history.csv", "metrics.json", "preprocess.json",
              "test_predictions.csv")
CLOCK = {"created", "elapsed", "config.json", "sha256"}   # when the run started, how long it took, and the checksums
                                                          # covering them (config.json's, summary.json's own)


def _descend(argv: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    env.pop("DESCEND_KILL_AT", None)
    if kill_at:
        env["DESCEND_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "descend.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=300)


def _without_clock(value):
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK}
    return value


def assert_same_run(whole: Path, cut: Path) -> None:
    """Every file a user keeps is the same bytes; config.json and summary.json differ only in the clock."""
    for name in SAME_BYTES:
        assert (whole / name).read_bytes() == (cut / name).read_bytes(), name
    for name in ("config.json", "summary.json"):
        whole_json, cut_json = (json.loads((folder / name).read_text()) for folder in (whole, cut))
        assert _without_clock(whole_json) == _without_clock(cut_json), name
    assert json.loads((cut / "summary.json").read_text())["files"].keys() == set(SAME_BYTES) | {"config.json"}
    visible = lambda folder: sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # noqa: E731
    assert visible(whole) == visible(cut)


@pytest.fixture(scope="module")
def sales(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("faults")
    table = bakery(240)
    table.head(200).to_csv(folder / "sales.csv", index=False)
    table.tail(40).to_csv(folder / "new.csv", index=False)
    return folder / "sales.csv", folder / "new.csv"


@pytest.fixture(scope="module")
def whole(sales, tmp_path_factory) -> Path:
    """The uninterrupted run, on one thread like the tests (the ridge baseline's last digit depends on threads)."""
    out, threads = tmp_path_factory.mktemp("whole") / "run", torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["fit", str(sales[0]), "--target", "loaves", "--out", str(out), *FAST]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


# history:20 tears the 20th line in half; checkpoint:2 dies with the second checkpoint written but not renamed
@pytest.mark.slow
@pytest.mark.parametrize("point", ["history:20", "checkpoint:2", "final", "rename"])
def test_fit_killed_at_a_named_point_resumes_to_the_same_bytes(point, sales, whole, tmp_path, capsys):
    argv = ["fit", str(sales[0]), "--target", "loaves", "--out", str(tmp_path / "run"), *FAST]
    killed = _descend(argv, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "run").exists() and (tmp_path / "run.partial" / "config.json").is_file()
    assert main(argv) == 2   # a fresh run is refused, and told to add --resume ...
    assert "add --resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0   # ... which completes it
    assert not (tmp_path / "run.partial").exists()
    assert_same_run(whole, tmp_path / "run")


@pytest.mark.slow
def test_fit_killed_after_the_rename_is_complete_and_resume_says_so(sales, whole, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(whole, out)
    argv = ["fit", str(sales[0]), "--target", "loaves", "--out", str(out), *FAST, "--resume"]
    assert main(argv) == 0
    assert "already complete" in capsys.readouterr().out
    assert_same_run(whole, out)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["rename", "swap"])
def test_update_killed_at_a_named_point_loses_nothing(point, sales, whole, tmp_path):
    reference, cut = tmp_path / "reference", tmp_path / "cut"
    shutil.copytree(whole, reference)
    shutil.copytree(whole, cut)
    assert main(["update", str(reference), str(sales[1])]) == 0
    killed = _descend(["update", str(cut), str(sales[1])], kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if point == "swap":   # the new folder is in place: the update happened
        assert_same_run(reference, cut)
    else:                 # killed before the swap: the run is as it was, and the update can simply run again
        assert_same_run(whole, cut)
        assert main(["update", str(cut), str(sales[1])]) == 0
        assert_same_run(reference, cut)
    assert cut.stat().st_mode == whole.stat().st_mode
    assert main(["update", str(cut), str(sales[1])]) == 0   # the leftover hidden copy is cleared by the next update
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut", "reference"]


PREDICT_NEEDS = {"model.safetensors", "preprocess.json", "config.json", "summary.json"}
RUN_FILES = ["model.safetensors", "preprocess.json", "config.json", "summary.json", "metrics.json", "history.csv",
             "history.jsonl", "findings.json", "test_predictions.csv", "checkpoints/LAST/state.pt",
             "checkpoints/LAST/manifest.json"]


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        path.write_bytes(data[:len(data) // 2])
    elif how == "flip":   # one bit in the middle: the smallest damage there is
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])


def _command(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)   # an exception escaping main is a traceback a user would see: the test fails on it
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def finished(whole, sales, tmp_path_factory):
    """The intact run's answers: predictions and the doctor's output."""
    folder = tmp_path_factory.mktemp("intact")
    assert main(["predict", str(whole), str(sales[1]), "--out", str(folder / "p.csv")]) == 0
    return (folder / "p.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["delete", "empty", "truncate", "flip"])
@pytest.mark.parametrize("name", RUN_FILES)
def test_every_command_on_a_damaged_run_is_one_line_or_correct(name, how, whole, sales, finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    last = sorted((run / "checkpoints").iterdir())[-1].name
    _damage(run / name.replace("LAST", last), how)
    capsys.readouterr()
    code, _, err = _command(["predict", str(run), str(sales[1]), "--out", str(tmp_path / "p.csv")], capsys)
    if name in PREDICT_NEEDS:   # the damaged file is named; nothing is predicted from it (summary.json has its own)
        assert code == 2 and err.count("\n") == 1 and name in err, err
        assert not (tmp_path / "p.csv").exists()
    else:                       # a file predict does not need changes nothing
        assert code == 0 and (tmp_path / "p.csv").read_bytes() == finished, err
    commands = [["doctor", str(run)], ["fit", str(sales[0]), "--target", "loaves", "--out", str(run), *FAST,
                                       "--resume"]]
    if how == "flip":
        commands += [["report", str(run), "--out", str(tmp_path / "report.html")]]
    for argv in commands:
        code, out, err = _command(argv, capsys)
        assert code in (0, 2) and (code == 0 or err.count("\n") == 1), (argv[0], code, err)
        if code == 2:
            assert name.split("/")[-1] in err or "summary.json" in err, (argv[0], err)
    assert not (tmp_path / "run.partial").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["model.safetensors", "preprocess.json", "metrics.json", "summary.json"])
def test_update_of_a_damaged_run_names_the_file_and_changes_nothing(name, whole, sales, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    _damage(run / name, "flip")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, _, err = _command(["update", str(run), str(sales[1])], capsys)
    assert code == 2 and err.count("\n") == 1 and name in err, err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_update_keeps_links_links_and_the_folder_mode(whole, sales, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the run's")
    run = tmp_path / "run"
    shutil.copytree(whole, run)
    (run / "notes").symlink_to(outside, target_is_directory=True)
    run.chmod(0o750)
    assert main(["update", str(run), str(sales[1])]) == 0
    assert (run / "notes").is_symlink() and os.readlink(run / "notes") == str(outside)
    assert (outside / "secret.txt").stat().st_nlink == 1   # never hard-linked into the run folder
    assert run.stat().st_mode & 0o777 == 0o750
