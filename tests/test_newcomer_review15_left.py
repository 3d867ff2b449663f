"""What a new user's fifteenth review left: predict's silent fills, fit's printed plan, doctor's missing folder,
lr-find's model line, bench's legend."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from descend.cli import main


def _promo_rows(count: int = 60, seed: int = 0) -> pd.DataFrame:
    """Sales that rise with the price and a TRUE/FALSE promo (never empty), and a colour with some empty cells."""
    rng = np.random.default_rng(seed)
    price, promo = rng.uniform(1, 100, count).round(2), rng.random(count) < 0.8
    colour = rng.choice(["red", "blue", ""], count)
    return pd.DataFrame({"price": price, "promo": np.where(promo, "TRUE", "FALSE"), "colour": colour,
                         "sales": (3 * price + 30 * promo + rng.normal(0, 3, count)).round(2)})


@pytest.fixture(scope="module")
def promo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("promo")
    data, run = folder / "sales.csv", folder / "run"
    _promo_rows().to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "sales", "--out", str(run), "--max-epochs", "1"]) == 0
    return data, run


def test_predict_says_which_column_it_filled_that_training_never_had_empty(promo_run, tmp_path, capsys):
    """A TRUE/FALSE promo left empty was filled with the training median without a word (111.8 -> 82.0)."""
    data, run = promo_run
    new = tmp_path / "new.csv"
    rows = pd.read_csv(data, dtype=str, keep_default_na=False).drop(columns=["sales"]).head(5)
    rows.loc[[1, 3], "promo"] = ""
    rows.loc[[0, 1, 2], "colour"] = ""   # training had empty colours: no note for them
    rows.to_csv(new, index=False)
    capsys.readouterr()
    assert main(["predict", str(run), str(new)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {new}: 2 row(s) have 'promo' empty, which it never was in training; they are predicted "
                     "with the training median 1 (true) in its place"]


def test_update_says_which_column_it_filled_that_training_never_had_empty(promo_run, tmp_path, capsys):
    """descend update trained on such rows as silently as predict scored them."""
    data, run = promo_run
    copy, new = tmp_path / "run", tmp_path / "new.csv"
    shutil.copytree(run, copy)   # the module's run stays as fit left it
    rows = pd.read_csv(data, dtype=str, keep_default_na=False).tail(30)
    rows.iloc[[2, 5, 7], rows.columns.get_loc("promo")] = ""
    rows.to_csv(new, index=False)
    capsys.readouterr()
    assert main(["update", str(copy), str(new), "--max-epochs", "1"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:") and "empty" in line]
    assert notes == ["note: the new data: 3 row(s) have 'promo' empty, which it never was in training; they are "
                     "trained on and scored with the training median 1 (true) in its place"]


def test_the_missing_column_advice_says_what_empty_cells_will_mean(promo_run, tmp_path, capsys):
    """"add it, with empty cells where the values are unknown" led straight to the silent fill above."""
    data, run = promo_run
    new = tmp_path / "new.csv"
    pd.read_csv(data).drop(columns=["sales", "promo"]).head(3).to_csv(new, index=False)
    capsys.readouterr()
    assert main(["predict", str(run), str(new)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {new} has no column 'promo', which the model was trained on; add it with the values: "
        "training had no empty cells there, so an empty cell is filled with the training median (a number) or adds "
        "nothing (text)")
    pd.read_csv(data).drop(columns=["sales", "promo", "colour"]).head(3).to_csv(new, index=False)
    assert main(["predict", str(run), str(new)]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "(also missing: colour); add 'colour', with empty cells where the values are unknown (training had empty "
        "cells there too); add 'promo' with the values: training had no empty cells there, so an empty cell is "
        "filled with the training median (a number) or adds nothing (text)")


@pytest.mark.parametrize("epochs, said", [
    ("3", "up to 3 epochs, no early stopping (it waits 15 epochs without a better validation loss, and a run of 3 "
          "epochs leaves no room for that)"),
    ("16", "up to 16 epochs, early stopping after 15 epochs without a better validation loss")])
def test_the_model_line_promises_early_stopping_only_when_the_epochs_leave_room(tmp_path, capsys, epochs, said):
    """`--max-epochs 3` printed "early stopping after 15 epochs", which 3 epochs can never reach."""
    data = tmp_path / "sales.csv"
    _promo_rows().to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "sales", "--max-epochs", epochs]) == 0
    assert said in capsys.readouterr().out


@pytest.mark.parametrize("command", ["doctor", "report"])
def test_doctor_and_report_name_a_missing_run_folder_alike(tmp_path, capsys, command):
    """`descend doctor runs/nothere` said "no run directory at runs/nothere (its findings.json is written when a run
    ends)", as if the folder were there without its file; report said plainly that it does not exist."""
    missing = tmp_path / "runs" / "nothere"
    assert main([command, str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"descend: error: run directory {missing} does not exist"


def test_lr_find_says_what_its_sweep_uses_and_nothing_it_does_not(tmp_path, capsys):
    """lr-find printed fit's split and model lines: the blend, the schedule, early stopping and "then trained again on
    all 48 training rows", none of which the sweep does."""
    data = tmp_path / "sales.csv"
    _promo_rows().to_csv(data, index=False)
    assert main(["lr-find", str(data), "--target", "sales", "--weight-decay", "0.01"]) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.startswith(("split:", "model:"))]
    assert ("sweep: 10 mlp networks 128x64 side by side, 90890 trained weights, on the 48 training rows as fit's first "
            "run shares them out; adamw, weight decay 0.01, batch 32\n") in out
