"""`descend fit / predict / update / demo` end to end, and the one-line errors for bad input."""
from __future__ import annotations

import gzip
import json
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from descend.cli import main
from descend.apps.tabular import Options, TabularRun, fit_table, read_table
from descend.apps.tabular import train as train_module
from tabular_data import bakery

FAST = ["--max-epochs", "40", "--patience", "10"]


@pytest.fixture(scope="module")
def bakery_run(tmp_path_factory):
    """One saved bakery model shared by the predict/update tests (trained through the CLI once)."""
    folder = tmp_path_factory.mktemp("bakery")
    data = folder / "sales.csv"
    bakery(240).to_csv(data, index=False)
    out = folder / "run"
    assert main(["fit", str(data), "--target", "loaves", "--out", str(out), *FAST]) == 0
    return data, out


def test_fit_bakery_infers_columns_and_beats_the_mean(bakery_run, capsys):
    data, out = bakery_run
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "history.csv", "metrics.json", "model.safetensors", "preprocess.json", "findings.json",
         "history.jsonl", "summary.json", "test_predictions.csv", "checkpoints", "refit", "first_run.json",
         "first_run.safetensors"])
    metrics = json.loads((out / "metrics.json").read_text())
    scores = metrics["scores"]
    model, ridge, mean = (scores[k] for k in scores)
    assert metrics["test_rows"] == 48
    assert model["rmse"] < 0.8 * mean["rmse"]  # weekday and weather explain most of the spread
    assert model["r2"] > 0.4
    pre = json.loads((out / "preprocess.json").read_text())
    kinds = {c["name"]: c["kind"] for c in pre["preprocess"]["columns"]}
    assert kinds == {"date": "date", "weekday": "weekday", "temperature": "numeric", "rain": "boolean",
                     "event": "boolean"}
    assert pre["target"]["task"] == "count" and pre["target"]["loss"] == "poisson"
    history = pd.read_csv(out / "history.csv")
    assert {"loss", "val_loss", "val_rmse", "lr", "phase"} <= set(history.columns)


def test_fit_prints_every_choice(tmp_path, capsys):
    data = tmp_path / "sales.csv"
    bakery(60).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "loaves", "--max-epochs", "2", "--model", "linear"]) == 0
    out = capsys.readouterr().out
    for needle in ("count", "Poisson", "weekday: weekday", "rain: boolean", "date: date", "split: time order",
                   "ridge, closed form", "training mean", "not saved"):
        assert needle in out, needle


def test_predict_output_equals_in_process_predictions(tmp_path):
    frame = bakery(120, seed=3)
    data = tmp_path / "sales.csv"
    frame.to_csv(data, index=False)
    run = fit_table(read_table(data), Options(target="loaves", max_epochs=5, progress=False), say=lambda s: None)
    run.save(tmp_path / "run")
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(tmp_path / "run"), str(data), "--out", str(preds)]) == 0
    expected, _ = run.predictions(read_table(data))
    got = pd.read_csv(preds)
    assert list(got.columns) == ["prediction"] and len(got) == 120
    np.testing.assert_allclose(got["prediction"].to_numpy(), expected["prediction"].to_numpy(), rtol=1e-6)


def test_predict_names_a_missing_column(bakery_run, tmp_path, capsys):
    _, out = bakery_run
    new = tmp_path / "tomorrow.csv"
    bakery(5).drop(columns=["temperature", "loaves"]).to_csv(new, index=False)
    assert main(["predict", str(out), str(new)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'temperature'" in err


def test_predict_handles_an_unseen_category(tmp_path, capsys):
    run = fit_table(bakery(120), Options(target="loaves", categorical=("weekday",), max_epochs=2, progress=False),
                    say=lambda s: None)
    run.save(tmp_path / "run")
    new = bakery(7)
    new.loc[0, "weekday"] = "Holiday"
    path = tmp_path / "week.csv"
    new.to_csv(path, index=False)
    assert main(["predict", str(tmp_path / "run"), str(path)]) == 0
    captured = capsys.readouterr()
    assert "1 row(s) have a 'weekday' level not seen in training; 'weekday' adds nothing to their predictions, " \
           "which the other columns make" in captured.err
    preds = pd.read_csv(pd.io.common.StringIO(captured.out))
    assert len(preds) == 7 and np.isfinite(preds["prediction"]).all()


def test_update_on_new_rows_does_not_make_them_worse(tmp_path, capsys, monkeypatch):
    # one validation slice, as on a dated table past the chained blocks' size: there validation keeps the networks
    # in the model, so the update has something to move (on blocks this table, a Poisson regression by
    # construction, gets the linear model alone, which an update leaves as fitted)
    monkeypatch.setattr(train_module, "CHAIN_MAX_ROWS", 0)
    data, fresh = tmp_path / "sales.csv", tmp_path / "copy"
    bakery(240).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "loaves", "--out", str(fresh), *FAST]) == 0
    new = tmp_path / "later.csv"
    bakery(120, seed=7, start="2024-08-28", level=1.4).to_csv(new, index=False)  # demand grew by 40%
    assert main(["update", str(fresh), str(new), "--max-epochs", "40"]) == 0
    record = json.loads((fresh / "metrics.json").read_text())["updates"][0]
    assert record["after"]["rmse"] <= record["before"]["rmse"]
    assert not record["kept_previous"] and record["after"]["rmse"] < 0.9 * record["before"]["rmse"]
    history = pd.read_csv(fresh / "history.csv")
    assert set(history["phase"]) == {"fit", "refit", "update 1"}   # a small table is refitted on all its rows
    out = capsys.readouterr().out
    assert "before update" in out
    val_before, val_after = map(float, re.search(
        r"kept the update: the loss on the \d+ validation rows went from (\S+) to (\S+)\n", out).groups())
    assert val_after <= val_before


@pytest.mark.slow
def test_fit_on_a_bikeshare_subset(tmp_path):
    source = resources.files("descend") / "data" / "bikeshare.csv.gz"
    with gzip.open(source, "rt") as handle:
        frame = pd.read_csv(handle).head(1500)
    data = tmp_path / "bikes.parquet"
    frame.to_parquet(data)
    out = tmp_path / "run"
    assert main(["fit", str(data), "--target", "bikers", "--drop", "casual,registered", "--out", str(out),
                 "--max-epochs", "15"]) == 0
    scores = json.loads((out / "metrics.json").read_text())["scores"]
    model, _, mean = scores.values()
    assert model["rmse"] < 0.6 * mean["rmse"]


@pytest.mark.slow
def test_demo_runs_and_says_where_output_went(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--max-epochs", "3"]) == 0
    text = capsys.readouterr().out
    assert "CC BY 4.0" in text and f"saved to {out}/" in text and "RMSE" in text
    shown = text.split("\n")[2].split()   # the same run as a fit command, on the bundled file where it lies
    assert shown[:2] == ["descend", "fit"] and read_table(shown[2]).shape == (8645, 15)
    assert (out / "model.safetensors").is_file()


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def _write_bytes(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rows(n: int, temperature=None) -> str:
    temps = temperature or [str(10 + i % 7) for i in range(n)]
    return "day,temperature,loaves\n" + "".join(f"d{i % 7},{t},{40 + i}\n" for i, t in enumerate(temps))


BAD = {
    "missing target": (lambda p: _write(p, "a.csv", _rows(20)), ["--target", "sold"], ["'sold'", "columns: day"]),
    "target all empty": (lambda p: _write(p, "a.csv", "day,temperature,loaves\n" + "x,1,\n" * 20), [],
                         ["'loaves'", "empty in every row"]),
    "not csv or parquet": (lambda p: _write(p, "a.json", "{}"), [], ["not a CSV or Parquet"]),
    "empty file": (lambda p: _write(p, "a.csv", ""), [], ["empty"]),
    "stray text": (lambda p: _write(p, "a.csv", _rows(20, [str(i) for i in range(4)] + ["warm"] +
                                                         [str(i) for i in range(15)])), [],
                   ["'temperature'", "data row 5", "'warm'"]),
    "duplicate names": (lambda p: _write(p, "a.csv", "day,day,loaves\n" + "1,2,3\n" * 20), [], ["'day'", "twice"]),
    "single row": (lambda p: _write(p, "a.csv", _rows(1)), [], ["1 row(s)", "at least 10"]),
    "garbage parquet": (lambda p: _write(p, "a.parquet", "not parquet"), [], ["cannot be read as Parquet"]),
    "target not counts": (lambda p: _write(p, "a.csv", _rows(20).replace(",45\n", ",-3\n")), ["--task", "count"],
                          ["data row 6", "non-negative"]),
    "ragged row": (lambda p: _write(p, "a.csv", _rows(20).replace("d3,13,43\n", "d3,13,43,9\n")), [],
                   ["data row 4", "more fields than the header's 3"]),
    "binary file": (lambda p: _write_bytes(p, "a.csv", b"day,loaves\n" + bytes(range(256)) * 8), [],
                    ["cannot be read as CSV"]),
    "row numbers after empty targets": (lambda p: _write(p, "a.csv", _rows(20, [str(i) for i in range(4)] + ["warm"] +
                                        [str(i) for i in range(15)]).replace("d1,1,41\n", "d1,1,\n")), [],
                                        ["data row 5", "'warm'"]),
    "text target as numbers": (lambda p: _write(p, "a.csv", _rows(20).replace(",42\n", ",many\n")),
                               ["--task", "regression"], ["needs a numeric target", "data row 3", "--task classification"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    make, extra, needles = BAD[case]
    data = make(tmp_path)
    out = tmp_path / "run"
    args = ["fit", str(data), "--out", str(out), "--max-epochs", "1"]
    args += extra if "--target" in extra else ["--target", "loaves", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    notes = [line for line in err.splitlines() if line.startswith("note: ")]   # how the file was read, then the error
    assert notes == (["note: 1 row(s) with an empty 'loaves' left out (first: data row 2)"]
                     if case == "row numbers after empty targets" else [])
    err = err.splitlines()[-1]
    for needle in needles:
        assert needle in err, (needle, err)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [data.name]


@pytest.mark.parametrize("option,value,valid", [("--task", "guess", "classification"), ("--split", "later", "random"),
                                                ("--model", "tree", "linear"), ("--optimizer", "magic", "adamw")])
def test_wrong_option_value_lists_the_valid_ones(option, value, valid, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "x.csv", "--target", "y", option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert value in err and valid in err


def test_existing_out_folder_is_refused_before_work(tmp_path, capsys):
    data = tmp_path / "sales.csv"
    bakery(30).to_csv(data, index=False)
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["fit", str(data), "--target", "loaves", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"


def test_an_out_folder_that_cannot_be_made_is_refused_before_work(tmp_path, capsys):
    data = tmp_path / "sales.csv"
    bakery(30).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "loaves", "--out", str(data / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot create it" in err and "training" not in err


def test_predict_names_a_bad_cell_and_a_bad_out_path(bakery_run, tmp_path, capsys):
    _, out = bakery_run
    new = bakery(5)
    new.loc[3, "rain"] = "maybe"
    path = tmp_path / "week.csv"
    new.to_csv(path, index=False)
    assert main(["predict", str(out), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"descend: error: {path}: column 'rain' holds true/false values but data row 4 has 'maybe'; use "
                   "0/1, true/false or yes/no, or empty that cell")
    bakery(5).to_csv(path, index=False)
    for target, needle in ((tmp_path, "is a folder"), (tmp_path / "no" / "p.csv", "does not exist")):
        assert main(["predict", str(out), str(path), "--out", str(target)]) == 2
        assert needle in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["week.csv"]


def test_update_refuses_zero_epochs(bakery_run, tmp_path, capsys):
    _, out = bakery_run
    new = tmp_path / "later.csv"
    bakery(40, seed=7).to_csv(new, index=False)
    before = (out / "model.safetensors").read_bytes()
    assert main(["update", str(out), str(new), "--max-epochs", "0"]) == 2
    assert "--max-epochs must be a positive integer" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before


def test_update_says_an_earlier_report_no_longer_shows_the_run(bakery_run, tmp_path, capsys):
    _, out = bakery_run
    fresh = tmp_path / "copy"
    TabularRun.load(out).save(fresh)
    assert main(["report", str(fresh)]) == 0
    new = tmp_path / "later.csv"
    bakery(60, seed=3, start="2024-08-28").to_csv(new, index=False)
    capsys.readouterr()
    assert main(["update", str(fresh), str(new), "--max-epochs", "2"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"note: {fresh / 'report.html'} shows the run before this update; `descend report {fresh}` draws it again")
