"""`descend fit --out` as a recorded run: written as it goes, resumable after Ctrl-C, reported and doctored; and
the commands around it: lr-find, --lr auto, --config, --nproc."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file

from descend import optim
from descend.cli import main
from tabular_data import bakery

FAST = ["--max-epochs", "30", "--patience", "10"]
TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def sales(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "sales.csv"
    bakery(240).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def recorded(sales, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "loaves"
    assert main(["fit", str(sales), "--target", "loaves", "--out", str(out), *FAST]) == 0
    return out


def test_the_run_folder_holds_the_record_and_the_model(recorded):
    names = {p.name for p in recorded.iterdir()}
    assert names == {"config.json", "history.jsonl", "history.csv", "checkpoints", "model.safetensors",
                     "summary.json", "findings.json", "metrics.json", "preprocess.json", "test_predictions.csv",
                     "first_run.json", "first_run.safetensors", "refit"}   # a small table is trained again on all its rows, recorded in refit/
    assert not recorded.with_name("loaves.partial").exists()
    config = json.loads((recorded / "config.json").read_text())
    assert config["tabular"]["options"]["target"] == "loaves" and config["tabular"]["options"]["optimizer"] == "adamw"
    optimizer = config["run"]["optimizer"]   # AdamW inside an average of the weights
    adamw = type(optim.create(torch.nn.Linear(1, 1), "adamw")).__name__   # the registry's AdamW class
    assert optimizer["optimizer"] == "EMA" and optimizer["inner"]["optimizer"] == adamw
    assert config["run"]["lr"] == config["tabular"]["lr"] == 3e-3 and "auto" not in config   # the tables' default
    summary = json.loads((recorded / "summary.json").read_text())
    history = pd.read_csv(recorded / "history.csv")
    assert summary["steps"] == (history["phase"] == "fit").sum()
    assert len(history) == len(pd.read_json(recorded / "history.jsonl", lines=True))
    refit = json.loads((recorded / "refit" / "summary.json").read_text())
    assert refit["steps"] == (history["phase"] == "refit").sum()
    assert "val_loss" in summary["best"]
    assert any((recorded / "checkpoints").iterdir())


def test_test_predictions_match_the_metrics(recorded):
    table = pd.read_csv(recorded / "test_predictions.csv")
    metrics = json.loads((recorded / "metrics.json").read_text())
    assert len(table) == metrics["test_rows"] == 48
    assert list(table.columns) == ["row", "time", "actual", "predicted"]
    assert table["row"].tolist() == list(range(193, 241))           # the last 20% of the file's rows
    rmse = float(np.sqrt(np.mean((table["predicted"] - table["actual"]) ** 2)))
    assert rmse == pytest.approx(next(iter(metrics["scores"].values()))["rmse"], rel=1e-6)


def test_report_of_a_cli_run_shows_its_numbers_and_pictures(recorded, capsys):
    assert main(["report", str(recorded)]) == 0
    page = (recorded / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6   # loss, lr, grad norm, val_rmse, predicted/actual, residuals
    assert "predicted vs actual" in page and "residuals over time" in page
    metrics = json.loads((recorded / "metrics.json").read_text())
    for score in next(iter(metrics["scores"].values())).values():
        assert f'data-value="{score!r}"' in page
    summary = json.loads((recorded / "summary.json").read_text())
    assert summary["stop_reason"] in page


def test_doctor_prints_the_findings_of_a_cli_run(recorded, capsys):
    findings = json.loads((recorded / "findings.json").read_text())
    assert main(["doctor", str(recorded)]) == 0
    printed = capsys.readouterr().out
    if findings:
        assert all(f["code"] in printed for f in findings)
    else:
        assert "no problems found" in printed


CHILD = '''
import sys, time
from pathlib import Path
import descend as ds
import descend.apps.tabular.train as train

class PauseAt(ds.loop.Callback):
    """At step 25 (mid-epoch: 2 batches per epoch, odd step): say so, wait until the parent has signalled."""
    def on_step_end(self, state, record):
        if state.step == 25:
            Path(sys.argv[1], "at-25").touch()
            while not Path(sys.argv[1], "go").exists():
                time.sleep(0.01)

plain_fit = train.fit
train.fit = lambda **kw: plain_fit(**{**kw, "callbacks": [*kw["callbacks"], PauseAt()]})
from descend import optim
from descend.cli import main
sys.exit(main(sys.argv[2:]))
'''


def _interrupt_at_step_25(tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), *argv], stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(TESTS.parent / "src")})
    deadline = time.time() + 120
    while not (tmp_path / "at-25").exists():
        assert child.poll() is None and time.time() < deadline, child.stderr.read()
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    time.sleep(0.2)
    (tmp_path / "go").touch()
    _, err = child.communicate(timeout=120)
    return subprocess.CompletedProcess(child.args, child.returncode, "", err)


@pytest.mark.slow
def test_ctrl_c_then_resume_gives_the_uninterrupted_run_exactly(sales, tmp_path, capsys):
    argv = ["fit", str(sales), "--target", "loaves", *FAST]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    stopped = _interrupt_at_step_25(tmp_path, [*argv, "--out", str(tmp_path / "cut")])
    assert stopped.returncode in (130, -signal.SIGINT), stopped.stderr   # the shell shows 130 for both
    assert "interrupted at step 25" in stopped.stderr and "--resume" in stopped.stderr   # the step under way
    assert "run_dir=" not in stopped.stderr and "interrupted (Ctrl-C)" in stopped.stderr   # no Python advice
    assert not (tmp_path / "cut").exists() and (tmp_path / "cut.partial" / "checkpoints").is_dir()

    assert main([*argv, "--out", str(tmp_path / "cut")]) == 2          # without --resume: refused, kept
    assert "add --resume" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    a, b = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    pd.testing.assert_frame_equal(pd.read_csv(whole / "history.csv"), pd.read_csv(cut / "history.csv"))
    assert (whole / "metrics.json").read_text() == (cut / "metrics.json").read_text()


def test_resume_without_an_interrupted_run_is_refused(sales, recorded, tmp_path, capsys):
    assert main(["fit", str(sales), "--target", "loaves", "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    before = {p.name: p.read_bytes() for p in recorded.iterdir() if p.is_file()}
    assert main(["fit", str(sales), "--target", "loaves", "--out", str(recorded), "--resume", *FAST]) == 0
    out = capsys.readouterr().out   # a recovery script that always resumes: the finished run, untouched
    assert f"the run in {recorded} is already complete; nothing to resume" in out and "test set:" in out
    assert {p.name: p.read_bytes() for p in recorded.iterdir() if p.is_file()} == before
    assert not recorded.with_name("loaves.partial").exists()
    assert not (tmp_path / "new").exists()


def test_lr_find_prints_the_curve_and_a_suggestion_and_lr_auto_sweeps_inside_the_run(sales, tmp_path, capsys):
    assert main(["lr-find", str(sales), "--target", "loaves"]) == 0
    printed = capsys.readouterr().out
    suggested = float(re.search(r"suggested lr (\S+)", printed).group(1))
    assert "lowest smoothed loss" in printed and f"--lr {suggested:.2g}" in printed
    assert main(["fit", str(sales), "--target", "loaves", "--optimizer", "adamw", "--lr", "auto",
                 "--out", str(tmp_path / "auto"), *FAST]) == 0
    printed = capsys.readouterr()
    config = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert config["run"]["lr"] == "auto" and config["tabular"]["options"]["lr"] == "auto"
    assert config["auto"]["optimizer"] == "adamw" and config["tabular"]["lr"] == config["auto"]["lr"]
    assert [line for line in printed.err.splitlines() if line.startswith("auto: ")] == [
        f"auto: adamw, lr {config['auto']['lr']:.2g}, {config['auto']['schedule']} ({config['auto']['reason']})"]
    history = [json.loads(line) for line in (tmp_path / "auto" / "history.jsonl").read_text().splitlines()]
    assert sum(bool(r.get("sweep")) for r in history) == config["auto"]["probe_steps"] > 0   # they trained


def test_a_config_file_sets_options_and_flags_override_it(sales, tmp_path, capsys):
    config = tmp_path / "best.json"
    config.write_text(json.dumps({"config": {"data": str(sales), "options": {
        "target": "loaves", "hidden": [16], "lr": 0.01, "batch_size": 32, "schedule": "constant", "max_epochs": 3}}}))
    assert main(["fit", "--config", str(config), "--batch-size", "64", "--out", str(tmp_path / "run")]) == 0
    options = json.loads((tmp_path / "run" / "config.json").read_text())["tabular"]["options"]
    assert options["hidden"] == [16] and options["lr"] == 0.01 and options["schedule"] == "constant"
    assert options["batch_size"] == 64 and options["max_epochs"] == 3
    config.write_text(json.dumps({"options": {"target": "loaves", "widht": 3}}))
    assert main(["fit", str(sales), "--config", str(config)]) == 2
    assert "unknown option(s) widht" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_train_the_model_one_process_trains(sales, tmp_path):
    argv = ["fit", str(sales), "--target", "loaves", "--max-epochs", "4", "--batch-size", "32"]
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    assert main([*argv, "--out", str(tmp_path / "two"), "--nproc", "2"]) == 0
    one, two = (pd.read_csv(tmp_path / name / "history.csv") for name in ("one", "two"))
    assert len(one) == len(two) and (one["phase"] == "fit").sum() == 24   # then both refit alike
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert all(np.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def test_nproc_that_cannot_split_the_batches_is_refused_before_any_process(sales, tmp_path, capsys):
    assert main(["fit", str(sales), "--target", "loaves", "--batch-size", "4", "--nproc", "8",
                 "--out", str(tmp_path / "run")]) == 2
    assert "nproc 8 is more than batch_size 4" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_without_lr_adamw_takes_the_tuned_lr_and_others_their_own_default(sales, recorded, tmp_path):
    assert main(["fit", str(sales), "--target", "loaves", "--optimizer", "adamw", "--max-epochs", "2",
                 "--out", str(tmp_path / "adamw")]) == 0
    assert json.loads((tmp_path / "adamw" / "config.json").read_text())["tabular"]["lr"] == 3e-3
    assert main(["fit", str(sales), "--target", "loaves", "--optimizer", "prodigy", "--max-epochs", "2",
                 "--out", str(tmp_path / "prodigy")]) == 0
    config = json.loads((tmp_path / "prodigy" / "config.json").read_text())
    assert config["tabular"]["lr"] == config["run"]["lr"] == 1.0     # Prodigy is learning-rate free at lr 1


def test_update_keeps_the_record_and_extends_it(sales, tmp_path, monkeypatch):
    import hashlib
    import shutil
    from descend.apps.tabular import train as train_module
    # one validation slice: validation keeps the networks in the model, so the update trains them (on chained
    # blocks this Poisson table gets the linear model alone, which an update leaves as fitted, training nothing)
    monkeypatch.setattr(train_module, "CHAIN_MAX_ROWS", 0)
    recorded = tmp_path / "recorded"
    assert main(["fit", str(sales), "--target", "loaves", "--out", str(recorded), *FAST]) == 0
    run = tmp_path / "run"
    shutil.copytree(recorded, run)
    before = json.loads((run / "config.json").read_text())
    fit_lines = (run / "history.jsonl").read_text().splitlines()
    assert "phase" not in json.loads(fit_lines[0])              # fit's recorder's own lines, full precision
    for name in ("config.json", "history.jsonl", "summary.json"):   # the files an update links, then replaces
        os.link(run / name, tmp_path / f"old-{name}")
    new = tmp_path / "later.csv"
    bakery(80, seed=5, start="2024-09-01").to_csv(new, index=False)
    assert main(["update", str(run), str(new), "--max-epochs", "5"]) == 0
    for name in ("config.json", "history.jsonl", "summary.json"):    # never written through a link
        assert (tmp_path / f"old-{name}").read_bytes() == (recorded / name).read_bytes()
    after = json.loads((run / "config.json").read_text())
    assert {k: v for k, v in after.items() if k != "tabular"} == {k: v for k, v in before.items() if k != "tabular"}
    lines = (run / "history.jsonl").read_text().splitlines()
    assert lines[:len(fit_lines)] == fit_lines and json.loads(lines[-1])["phase"] == "update 1"
    assert (run / "test_predictions.csv").read_bytes() == (recorded / "test_predictions.csv").read_bytes()
    files = json.loads((run / "summary.json").read_text())["files"]
    assert files["model.safetensors"] == hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()


def test_a_config_file_with_wrong_types_is_one_line(tmp_path, sales, capsys):
    config = tmp_path / "bad.json"
    for options, needle in (({"target": "loaves", "test_fraction": "0.2"}, "wrong type"),
                            ({"target": "loaves", "hidden": 64}, "option 'hidden' must be a list")):
        config.write_text(json.dumps({"options": options}))
        assert main(["fit", str(sales), "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err


def test_an_empty_leftover_partial_folder_does_not_block_a_new_run(sales, tmp_path):
    (tmp_path / "run.partial").mkdir()                      # a run that died before recording anything
    assert main(["fit", str(sales), "--target", "loaves", "--max-epochs", "2", "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["run"]["processes"] == 1


def test_parquet_with_a_stored_index_is_numbered_by_file_position(tmp_path):
    frame = bakery(60)
    frame.index = pd.date_range("2024-01-01", periods=60, freq="D")
    frame.loc[frame.index[40], "temperature"] = np.nan
    data = tmp_path / "sales.parquet"
    frame.to_parquet(data)
    assert main(["fit", str(data), "--target", "loaves", "--max-epochs", "2", "--out", str(tmp_path / "run")]) == 0
    table = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert table["row"].tolist() == list(range(49, 61))


def test_doctor_says_what_a_folder_is_when_it_is_no_run(tmp_path, capsys):
    (tmp_path / "runs" / "sales.partial").mkdir(parents=True)
    assert main(["doctor", str(tmp_path / "runs" / "sales")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {tmp_path / 'runs' / 'sales'} does not exist yet: its run is in "
        f"{tmp_path / 'runs' / 'sales.partial'}, unfinished (interrupted, or still training); `descend fit ... --out "
        f"{tmp_path / 'runs' / 'sales'} --resume` finishes it")
    assert main(["doctor", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {tmp_path / 'runs'} is not a run directory (no config.json or findings.json); give the "
        "folder of fit(run_dir=...) or of descend fit --out")
