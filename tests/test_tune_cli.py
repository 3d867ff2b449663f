"""The `descend tune` body with a stand-in tabular trainer: arguments -> study -> best.json that retrains."""
import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch

import descend as ds
from descend.cli import tune_options as cli
from descend.apps.tabular.options import schedule_named
from descend.apps.tuning.tabular import TABULAR_SPACE, options_for


def train_numeric(path, options: dict, callbacks):
    """Stand-in for the tabular trainer: numeric columns -> MLP of options["hidden"] -> fit with the options."""
    frame = pd.read_csv(path)
    y = torch.tensor(frame.pop(options["target"]).to_numpy(), dtype=torch.float32)
    x = torch.tensor(frame.to_numpy(), dtype=torch.float32)
    x, y = (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()
    torch.manual_seed(options["seed"])
    layers, width = [], x.shape[1]
    for size in options["hidden"]:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    return ds.fit(model, (x[:96], y[:96]), val=(x[96:], y[96:]), lr=options["lr"],
                  weight_decay=options["weight_decay"], batch_size=options["batch_size"],
                  schedule=schedule_named(options["schedule"]), max_epochs=options["max_epochs"],
                  callbacks=callbacks, seed=options["seed"], progress=False)


@pytest.fixture
def bakery(tmp_path):
    rng = np.random.default_rng(0)
    weekday, temperature, rain = rng.integers(0, 7, 120), rng.normal(15, 6, 120), rng.random(120) < 0.3
    loaves = 80 + 12 * (weekday >= 5) + 1.5 * temperature - 20 * rain + rng.normal(0, 4, 120)
    path = tmp_path / "bakery.csv"
    pd.DataFrame({"weekday": weekday, "temperature": temperature, "rain": rain.astype(int),
                  "loaves": loaves}).to_csv(path, index=False)
    return path


def parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.slow
def test_tune_command_writes_a_best_json_whose_config_retrains_the_best_trial(bakery, tmp_path, capsys):
    out = tmp_path / "search"
    args = parse([str(bakery), "--target", "loaves", "--trials", "3", "--max-epochs", "2", "--pruner", "none",
                  "--storage", f"sqlite:///{tmp_path / 'tune.db'}", "--out", str(out)])
    assert cli.run_with(args, train_numeric) == 0
    best = json.loads((out / "best.json").read_text())
    options = best["config"]["options"]
    assert options["hidden"] == [best["params"]["width"]] * best["params"]["depth"]
    assert {k: options[k] for k in ("lr", "weight_decay", "batch_size", "schedule")} == \
        {k: best["params"][k] for k in ("lr", "weight_decay", "batch_size", "schedule")}
    assert options["target"] == "loaves" and options["max_epochs"] == 2
    again = train_numeric(bakery, options, [])
    assert min(r["val_loss"] for r in again.history if "val_loss" in r) == best["value"]
    printed = capsys.readouterr().out
    assert f"reproduce with `descend fit --config {out / 'best.json'}`" in printed
    assert len(pd.read_csv(out / "trials.csv")) == 3


def test_the_tabular_space_covers_the_six_settings_and_maps_width_and_depth():
    assert set(TABULAR_SPACE) == {"lr", "weight_decay", "width", "depth", "batch_size", "schedule"}
    options = options_for({"lr": 0.01, "width": 64, "depth": 3, "schedule": "cosine"}, {"target": "y", "lr": 1})
    assert options == {"target": "y", "lr": 0.01, "hidden": [64, 64, 64], "schedule": "cosine"}


def test_a_missing_data_file_is_named_before_any_trial(tmp_path):
    args = parse([str(tmp_path / "nope.csv"), "--target", "y", "--trials", "2"])
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        cli.run_with(args, train_numeric)


@pytest.mark.slow
def test_descend_tune_on_a_table_writes_a_best_json_that_descend_fit_reproduces(tmp_path, capsys):
    from descend.cli import main
    from tabular_data import bakery
    data = tmp_path / "sales.csv"
    bakery(160).to_csv(data, index=False)
    out = tmp_path / "search"
    assert main(["tune", str(data), "--target", "loaves", "--trials", "2", "--max-epochs", "3", "--pruner", "none",
                 "--drop", "date", "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["config"]["data"] == str(data.resolve())
    assert best["config"]["options"]["drop"] == ["date"] and best["config"]["options"]["max_epochs"] == 3
    assert main(["fit", "--config", str(out / "best.json"), "--out", str(tmp_path / "again")]) == 0
    history = pd.read_csv(tmp_path / "again" / "history.csv")
    assert history["val_loss"].min() == best["value"]                 # the winning trial, trained again
    options = json.loads((tmp_path / "again" / "config.json").read_text())["tabular"]["options"]
    assert options["hidden"] == [best["params"]["width"]] * best["params"]["depth"]
    assert "date: left out (--drop)" in capsys.readouterr().out


def test_descend_tune_refuses_a_bad_shared_option_before_any_trial(tmp_path, capsys):
    from descend.cli import main
    assert main(["tune", str(tmp_path / "x.csv"), "--target", "y", "--trials", "2", "--test-fraction", "2"]) == 2
    assert "--test-fraction must be a fraction" in capsys.readouterr().err
    (tmp_path / "x.csv").write_text("a,y\n" + "".join(f"{i},{2 * i}\n" for i in range(30)))
    assert main(["tune", str(tmp_path / "x.csv"), "--target", "y", "--trials", "2",
                 "--storage", "nosuchdb://x", "--out", str(tmp_path / "tune")]) == 2
    err = capsys.readouterr().err
    assert "storage" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]
