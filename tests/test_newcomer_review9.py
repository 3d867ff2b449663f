"""A new user's ninth review: `python -m descend`, a data file where a run folder goes, a renamed column at
predict, a refit run's report, and what Ctrl-C says."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
from descend.runs import read_run
from descend.runs.records import RunRecord

SRC = Path(__file__).parent.parent / "src"


def test_python_dash_m_descend_runs_the_command_line():
    """`python -m descend doctor RUN` said "No module named descend.__main__" (only descend.cli had one)."""
    done = subprocess.run([sys.executable, "-m", "descend", "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    assert "    predict " in done.stdout and "    report " in done.stdout


@pytest.mark.parametrize("command", ["predict", "update", "landscape"])
def test_a_data_file_and_run_folder_given_the_other_way_round_are_told_the_order(saved_run, command, capsys):
    """`descend predict new.csv runs/x` said "run folder new.csv does not exist (or is not a folder)"."""
    data, run = saved_run
    assert main([command, str(data), str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"descend: error: {data} is a file and {run} a folder: the run folder comes first, "
                   f"descend {command} {run} {data}")


@pytest.mark.parametrize("command", ["report", "doctor"])
def test_a_data_file_given_as_the_run_folder_says_what_to_give(saved_run, command, capsys):
    """`descend doctor data.csv` said "no run directory at data.csv (its findings.json is written when a run
    ends)", as if the file did not exist."""
    data, _ = saved_run
    assert main([command, str(data)]) == 2
    assert capsys.readouterr().err.strip() == (f"descend: error: {data} is a file, not a run folder; give the "
                                               "folder that `descend fit --out` (or fit(run_dir=...)) wrote")


def test_predict_names_the_column_a_missing_one_was_renamed_to(saved_run, tmp_path, capsys):
    """A new file with 'Shop' for 'shop' and no 'b' said only "has no column 'b' ... (also missing: shop); add it":
    the renamed column was not named, and "it" was two columns."""
    data, run = saved_run
    new = tmp_path / "new.csv"
    pd.read_csv(data).drop(columns=["sales", "b"]).rename(columns={"shop": "Shop"}).head(5).to_csv(new, index=False)
    assert main(["predict", str(run), str(new)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {new} has no column 'b', which the model was trained on (also missing: shop); it has "
        "'Shop': rename it 'shop'; add 'b' with the values: training had no empty cells there, so an empty cell is "
        "filled with the training median (a number) or adds nothing (text)")
    pd.read_csv(data).drop(columns=["sales", "a", "b"]).head(5).to_csv(new, index=False)
    assert main(["predict", str(run), str(new)]) == 2
    assert capsys.readouterr().err.strip().endswith("(also missing: b); add them with the values: training had no "
                                                    "empty cells there, so an empty cell is filled with the training "
                                                    "median (a number) or adds nothing (text)")


def test_a_refit_runs_report_counts_each_parts_epochs_and_says_whose_validation_loss_is_last(saved_run):
    """The report of a table trained again on all rows said "epochs 21" beside "steps 405 (fit: 315, refit: 90)"
    (the largest epoch number, the first run's), and "final validation loss 0.1155": the first run's last
    evaluation, not the kept weights' nor the refit's, which had no validation."""
    _, run = saved_run
    history = pd.read_csv(run / "history.csv")
    fit, refit = history[history["phase"].isna() | (history["phase"] == "fit")], history[history["phase"] == "refit"]
    assert len(refit) and refit["val_loss"].isna().all()
    rows = dict(read_run(run).summary_rows())
    first, again = int(fit["epoch"].max()), int(refit["epoch"].max() - refit["epoch"].min())
    assert again >= 1 and rows["epochs"] == f"{first + again} (fit: {first}, refit: {again})"
    assert "final validation loss" not in rows
    assert rows["the first run's last validation loss"] == pytest.approx(fit["val_loss"].dropna().iloc[-1])


def test_an_updates_epochs_are_counted_from_where_it_went_on():
    """An update goes on from the epoch before it (6 -> 106): the report said "epochs 106" for 21 + 6 + 100."""
    history = pd.DataFrame({"step": range(1, 8), "epoch": [0, 1, 2, 0, 1, 2, 4], "loss": 1.0,
                            "val_loss": [1.0, 0.9, 0.8, None, None, 0.7, 0.6],
                            "phase": [None, None, None, "refit", "refit", "update 1", "update 1"]})
    rows = dict(RunRecord(Path("run"), history).summary_rows())
    assert rows["epochs"] == "6 (fit: 2, refit: 1, update 1: 3)" and rows["final validation loss"] == 0.6


def test_ctrl_c_in_a_run_is_named_as_such_in_its_last_line(capsys):
    """A run cut short by Ctrl-C ended its progress with "interrupted by an error or Ctrl-C"."""
    class CtrlC(ds.loop.Callback):
        def on_step_end(self, state, record):
            if state.step == 3:
                raise KeyboardInterrupt

    x = torch.randn(64, 3)
    with pytest.raises(KeyboardInterrupt):
        ds.fit(nn.Linear(3, 1), (x, x.sum(1, keepdim=True)), loss="mse", lr=0.01, batch_size=16, max_epochs=2,
               progress=1, doctor=False, callbacks=[CtrlC()])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("stopped after 3 steps (") and last.endswith("): interrupted (Ctrl-C)")



def test_a_config_file_with_options_at_the_top_level_is_shown_them_moved(tmp_path, capsys):
    """{"data": ..., "target": ..., "max_epochs": 3} was refused with "unknown key(s) 'max_epochs', 'target'; it may
    hold only "data" and "options"": the file's own options, which only needed moving."""
    config = tmp_path / "config.json"
    config.write_text('{"data": "sales.csv", "target": "sales", "max_epochs": 3}')
    assert main(["fit", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: --config {config} has options at the top level ('max_epochs', 'target'); they go inside "
        '"options", beside "data": {"data": "sales.csv", "options": {"max_epochs": 3, "target": "sales"}}')


def test_a_mistyped_option_in_a_config_file_gets_the_option_meant(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text('{"data": "sales.csv", "options": {"target": "sales", "max_epoch": 3}}')
    assert main(["fit", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "unknown option(s) max_epoch; did you mean max_epochs? known: " in capsys.readouterr().err


def test_update_on_rows_without_the_target_says_so_before_naming_a_missing_input(saved_run, tmp_path, capsys):
    """`descend update RUN new.csv` on a file meant for predict (no target, one input left out) named the input
    ("has no column 'b' ... add it") and, once that was added, the target: the file was the wrong kind."""
    data, run = saved_run
    new = tmp_path / "new.csv"
    pd.read_csv(data).drop(columns=["sales", "b"]).head(20).to_csv(new, index=False)
    assert main(["update", str(run), str(new)]) == 2
    assert capsys.readouterr().err.startswith("descend: error: the new data has no target column 'sales': update "
                                              "trains on rows whose target is known")


def test_a_report_drawn_of_an_unfinished_run_is_drawn_again_when_resume_finishes_it(saved_run, tmp_path, capsys):
    """`descend report DIR.partial` after Ctrl-C, then `--resume`: the finished DIR carried the 10-step page of the
    unfinished run as its report.html."""
    data, _ = saved_run
    out = tmp_path / "run"
    argv = ["fit", str(data), "--target", "sales", "--out", str(out), "--max-epochs", "5", "--lr", "0.003"]
    killed = subprocess.run([sys.executable, "-m", "descend", *argv], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC), "DESCEND_KILL_AT": "checkpoint:2"})
    assert killed.returncode == -9 and not out.exists(), killed.stderr
    partial = tmp_path / "run.partial"
    assert main(["report", str(partial)]) == 0
    assert "not finished (no summary.json)" in (partial / "report.html").read_text()
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == (f"note: report.html, drawn of the run unfinished, is "
                                                               f"drawn again of the finished run: {out}/report.html")
    page = (out / "report.html").read_text()
    assert "not finished" not in page and "the first run stopped because" in page


@pytest.mark.parametrize("command", ["report", "predict", "doctor"])
def test_a_run_still_in_its_partial_folder_is_told_how_to_finish(tmp_path, command, capsys, saved_run):
    """`descend report runs/x` after Ctrl-C said "run directory runs/x does not exist" (predict: "run folder runs/x
    does not exist (or is not a folder)"), not where the run was or how to finish it."""
    out, partial = tmp_path / "run", tmp_path / "run.partial"
    (partial / "checkpoints").mkdir(parents=True)
    data = [str(saved_run[0])] if command == "predict" else []
    assert main([command, str(out), *data]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"descend: error: {out} does not exist yet: its run is in {partial}, unfinished "
                          f"(interrupted, or still training); `descend fit ... --out {out} --resume` finishes it")
    assert ("`descend report" in err) == (command == "report")


def test_fit_without_a_data_file_says_so_before_the_target(tmp_path, capsys):
    """`descend fit --out runs/x` said "no target column: pass --target COL": the file was missing first."""
    assert main(["fit", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == ("descend: error: no data file: pass DATA (a CSV or Parquet file) or a "
                                               "--config file that names it")


def test_a_mistyped_bench_workload_gets_the_one_meant(capsys):
    assert main(["bench", "--workloads", "rosenbrok", "--quick"]) == 2
    assert "unknown workload 'rosenbrok'; did you mean 'rosenbrock_2d'? available: " in capsys.readouterr().err
