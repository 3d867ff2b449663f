"""A count model meeting a row far outside its training range: the log-rate's straight line would carry the
prediction past anything float32 holds; the prediction stops at the count bound instead, and fit and predict say
which rows and which column, not that training diverged. A value never negative in training (a price) whose
straight line goes below 0 on far rows is held at 0 there, and said likewise."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from descend.apps.tabular import Options, TabularRun, fit_table
from descend.apps.tabular.baselines import linear_predictions
from descend.apps.tabular.model import COUNT_BOUND
from descend.apps.tabular.target import Target
from descend.apps.tabular.train import prepare
from descend.cli import main

QUICK = dict(max_epochs=12, patience=4, progress=False)


def _counts(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Visits per shop, Poisson around exp(0.3 + 0.7 * size), size between 0 and 3, and a column of noise."""
    rng = np.random.default_rng(seed)
    size, noise = rng.uniform(0, 3, rows), rng.normal(size=rows)
    visits = rng.poisson(np.exp(0.3 + 0.7 * size))
    return pd.DataFrame({"size": size.round(3), "noise": noise.round(3), "visits": visits})


def _far(frame: pd.DataFrame, size: float = 300.0) -> pd.DataFrame:
    """`frame` with its last row's size 100x the training range (0 to 3) beyond it."""
    frame = frame.copy()
    frame.loc[frame.index[-1], "size"] = size
    return frame


def test_a_test_row_far_outside_training_is_bounded_and_said():
    frame, lines = _far(_counts()), []
    run = fit_table(frame, Options(target="visits", **QUICK), say=lines.append)   # main: "training diverged"
    train = frame.iloc[:240]   # the last 60 rows are the test rows (file order)
    largest, low, high = train["visits"].max(), train["size"].min(), train["size"].max()
    predicted = run.test_predictions["predicted"].to_numpy()
    assert predicted[-1] == pytest.approx(COUNT_BOUND * largest, rel=1e-5)   # the straight line: exp(210)
    assert np.isfinite(predicted).all() and predicted[:-1].max() < 2 * largest   # the other rows as they were
    assert float(run.model.blend) > 0   # the networks were not thrown out for it
    notes = [line for line in lines if "past" in line]
    assert notes == [f"note: 1 test row predicted past {COUNT_BOUND * largest:,.4g} ({COUNT_BOUND}x the largest "
                     f"training count, {largest:g}) and held there: its inputs lie outside the training range, "
                     f"furthest 'size' (300 against {low:g} to {high:g} in training)"]
    assert notes[0] in run.metrics["data_warnings"]   # kept for the report too
    assert not any("diverged" in line or "linear model alone" in line for line in lines)


def test_the_bound_comes_from_the_training_counts_and_runs_saved_without_it_load(tmp_path):
    frame = _counts()
    run = fit_table(frame, Options(target="visits", **QUICK), say=lambda line: None)
    cap = run.config["architecture"]["log_rate_cap"]
    assert cap == pytest.approx(math.log(COUNT_BOUND * frame["visits"].iloc[:240].max()))
    run.save(tmp_path / "run")
    far = _far(frame.drop(columns=["visits"]).tail(3))
    bounded = TabularRun.load(tmp_path / "run").predictions(far)[0]["prediction"]
    assert bounded.iloc[-1] == pytest.approx(math.exp(cap), rel=1e-5)
    del run.config["architecture"]["log_rate_cap"]   # a run saved before the bound: it predicts as it always did
    run.save(tmp_path / "old")
    old = TabularRun.load(tmp_path / "old")
    assert math.isinf(float(old.model.log_rate_cap))
    unbounded = old.predictions(far)[0]["prediction"]
    assert np.isinf(unbounded.iloc[-1]) and unbounded.iloc[:-1].tolist() == bounded.iloc[:-1].tolist()
    assert old.bound_note(old.encode(far, "far.csv")[0]) is None


def test_fit_and_predict_through_the_cli_bound_a_far_row_and_name_its_column(tmp_path, capsys):
    data, new = tmp_path / "shops.csv", tmp_path / "new.csv"
    _far(_counts()).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "visits", "--out", str(tmp_path / "run"), "--max-epochs", "12"]) == 0
    out = capsys.readouterr().out
    assert "note: 1 test row predicted past" in out and "furthest 'size' (300 against" in out
    _far(_counts(20, seed=1), 500.0).drop(columns=["visits"]).to_csv(new, index=False)
    assert main(["predict", str(tmp_path / "run"), str(new), "--out", str(tmp_path / "pred.csv")]) == 0
    err = capsys.readouterr().err
    predicted = pd.read_csv(tmp_path / "pred.csv")["prediction"]
    assert np.isfinite(predicted).all() and predicted.iloc[-1] == predicted.max()
    assert f"note: {new}: 1 row predicted past" in err and "furthest 'size' (500 against" in err


def _prices(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Prices around 2 + 3 * size, size between 0 and 3 (every price above 0), and a column of noise."""
    rng = np.random.default_rng(seed)
    size, noise = rng.uniform(0, 3, rows), rng.normal(size=rows)
    price = np.abs(2 + 3 * size + rng.normal(scale=0.3, size=rows))
    return pd.DataFrame({"size": size.round(3), "noise": noise.round(3), "price": price.round(3)})


def test_a_price_whose_line_goes_below_0_on_far_rows_is_held_at_0_and_said(tmp_path):
    frame, lines = _far(_prices(), -5.0), []   # the last test row: 2 + 3 * -5 = -13 on the line
    run = fit_table(frame, Options(target="price", **QUICK), say=lines.append)
    predicted = run.test_predictions["predicted"].to_numpy()
    assert run.target.floor == 0.0 and predicted[-1] == 0.0 and predicted[:-1].min() > 0.5
    low, high = frame["size"].iloc[:240].min(), frame["size"].iloc[:240].max()
    note = (f"note: 1 test row predicted below 0 (every training value of 'price' is 0 or more) and held there: its "
            f"inputs lie outside the training range, furthest 'size' (-5 against {low:g} to {high:g} in training)")
    assert note in lines and note in run.metrics["data_warnings"]
    assert run.config["prediction_floor"] in lines and run.config["prediction_floor"] == (
        "predictions held at 0 or above: every training value of 'price' is 0 or more")
    run.save(tmp_path / "run")
    x = run.encode(frame.tail(3), "far.csv")[0]
    assert TabularRun.load(tmp_path / "run").outputs(x).tolist() == run.outputs(x).tolist()
    run.target.floor = None   # a run saved before the floor: it predicts as it always did, below 0 on the far row
    run.save(tmp_path / "old")
    old = TabularRun.load(tmp_path / "old")
    unbounded = old.outputs(x)
    assert unbounded[-1] < -5 and unbounded[:-1].tolist() == run.outputs(x)[:-1].tolist()
    assert old.bound_note(x) is None


def test_a_value_negative_in_training_has_no_floor():
    frame = _prices()
    frame.loc[3, "price"] = -0.5   # a training row below 0: the target can be negative
    lines = []
    run = fit_table(_far(frame, -5.0), Options(target="price", **QUICK), say=lines.append)
    assert run.target.floor is None and "prediction_floor" not in run.config
    assert run.test_predictions["predicted"].iloc[-1] < -5 and not any("held" in line for line in lines)


def _sorted_prices(rows: int = 100) -> pd.DataFrame:
    """Prices saved sorted from dearest to cheapest, as a spreadsheet sorted on its price column leaves them."""
    rng = np.random.default_rng(1)
    size = rng.uniform(1, 5, rows)
    frame = pd.DataFrame({"size": size.round(3), "price": (2 + 3 * size + rng.normal(0, 0.1, rows)).round(3)})
    return frame.sort_values("price", ascending=False, ignore_index=True)


def test_a_file_sorted_by_its_value_target_is_said_with_the_range_its_test_rows_hold():
    frame, lines = _sorted_prices(), []
    prepared = prepare(frame, Options(target="price", max_epochs=1, progress=False), say=lines.append)
    tested = frame["price"].iloc[prepared.split.test]
    note = (f"note: the rows look sorted by 'price' (it never rises from one row to the next), so the 20 test rows "
            f"hold only its lowest values ({tested.min():g} to {tested.max():g}): --split random draws the test rows "
            "at random")
    assert note in lines and note in prepared.warnings
    for quiet in (frame.sample(frac=1.0, random_state=0).reset_index(drop=True), frame):
        split = "random" if quiet is frame else "time"
        options = Options(target="price", split=split, max_epochs=1, progress=False)
        unsorted = prepare(quiet, options, say=lambda _: None)
        assert not [line for line in unsorted.warnings if "look sorted" in line]


def test_the_ridge_reference_is_held_at_the_floor_the_model_is_held_at():
    """The line "the trained model against ridge" compared a model held at 0 with a ridge line that was not: part
    of the gap was the floor. Ridge's values are held the same way, and its name says so."""
    x_train, y_train = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64), np.array([1.0, 2.0, 3.0, 4.0])
    x_test = torch.tensor([[1.5], [-10.0]], dtype=torch.float64)
    plain = Target("price", "regression", "mse", "numbers")
    name, line = linear_predictions(plain, x_train, y_train, x_test)
    assert name == "ridge, closed form (alpha 1)" and line[0] > 2 and line[1] < -5
    held = Target("price", "regression", "mse", "numbers", floor=0.0)
    name, values = linear_predictions(held, x_train, y_train, x_test)
    assert name == "ridge, closed form (alpha 1), held at 0 or above"
    assert values.tolist() == [line[0], 0.0]
    run = fit_table(_far(_prices(), -5.0), Options(target="price", **QUICK), say=lambda _: None)
    assert "ridge, closed form (alpha 1), held at 0 or above" in run.metrics["scores"]
