"""A dated count's linear model (Poisson, log-rate): the date's running time is carried past the last training date
unless the forward-chained blocks show that holding it there predicts the next block better (issue #15)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.model import TabularNet
from descend.apps.tabular.train import _choose_linear, install_linear, prepare

QUICK = dict(max_epochs=12, patience=4, progress=False)


def _monthly(log_rate: np.ndarray, rng: np.random.Generator, **columns: np.ndarray) -> pd.DataFrame:
    dates = pd.date_range("2000-01-01", periods=len(log_rate), freq="MS").strftime("%Y-%m-%d")
    return pd.DataFrame({"month": dates, **columns, "y": rng.poisson(np.exp(log_rate))})


def _turning(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """A count whose date trend a faster-growing input balances: it rises, then falls, and the test years take
    that input past its training range (clipped there), the economics table's pattern. Returns the log-rates too."""
    t = np.arange(240.0)
    spend = 50 * (np.exp(t / 100) - 1) + rng.normal(0, 2, 240)
    log_rate = 3 + 0.02 * t - 0.01 * spend
    return _monthly(log_rate, rng, spend=spend), log_rate


def _linear_on_test(frame: pd.DataFrame) -> tuple[list | None, np.ndarray, np.ndarray, np.ndarray]:
    """The linear model alone, as training chose it: whether it holds the date, its test counts as chosen and with
    the date carried on, and the test rows."""
    prepared = prepare(frame, Options(target="y", **QUICK), say=lambda _: None)
    _choose_linear(prepared)
    install_linear(prepared, 0.0)
    model, test = prepared.run.model, prepared.split.test
    with torch.no_grad():
        chosen = torch.exp(model.linear_outputs(prepared.x[test]))[:, 0].numpy()
        model.hold_linear([[i, -math.inf, math.inf] for i in prepared.run.preprocessor.running_times()])
        carried = torch.exp(model.linear_outputs(prepared.x[test]))[:, 0].numpy()
    return prepared.run.config["architecture"].get("linear_held"), chosen, carried, test


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_a_log_linear_trend_that_holds_is_carried_past_the_training_dates():
    rng = np.random.default_rng(0)
    log_rate = 2.0 + 0.012 * np.arange(240)   # 7 counts a month rising to 130
    frame = _monthly(log_rate, rng, noise=rng.normal(size=240))
    held, chosen, _, test = _linear_on_test(frame)
    assert held is None
    truth = np.exp(log_rate[test])
    assert _rmse(chosen, truth) < 6.0   # 5.1; held at the last training month's rate it would be about 33
    assert chosen.max() > frame["y"].iloc[:test[0]].max() + 40   # 144 against 82: the trend goes on


def test_a_date_slope_balanced_by_a_clipped_input_is_held_at_the_last_training_date():
    frame, log_rate = _turning(np.random.default_rng(0))
    held, chosen, carried, test = _linear_on_test(frame)
    assert held is not None and len(held) == 1
    truth = np.exp(log_rate[test])
    assert _rmse(chosen, truth) < _rmse(carried, truth) - 3   # 37.5 against 41.2
    assert chosen.max() < carried.max() - 4                   # 69.8 against 75.9


def test_squared_error_and_undated_tables_never_hold_the_date():
    rng = np.random.default_rng(1)
    level = np.cumsum(1.0 + rng.normal(0, 0.3, 160))
    dated = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=160, freq="MS").strftime("%Y-%m-%d"),
                          "noise": rng.normal(size=160), "y": level})
    counts = _monthly(2.0 + 0.01 * np.arange(160), rng, noise=rng.normal(size=160)).drop(columns="month")
    for frame in (dated, counts):
        prepared = prepare(frame, Options(target="y", **QUICK), say=lambda _: None)
        _choose_linear(prepared)
        assert "linear_held" not in prepared.run.config["architecture"]


def test_a_held_date_is_rebuilt_from_the_architecture():
    spec = dict(numeric_width=2, categorical=[], hidden=[4], out_dim=1, link="exp",
                bounds=[[-1.0, 1.0], [None, None]], linear_held=[[1, -2.0, 2.0]])
    net = TabularNet.build(spec).eval()
    net.set_linear(torch.tensor([[1.0, 0.5]]), torch.tensor([0.0]), blend=0.0, clipped=True)
    with torch.no_grad():
        assert net.linear_outputs(torch.tensor([[3.0, 5.0]]))[:, 0].tolist() == [1.0 + 0.5 * 2.0]


def test_a_held_date_is_said():
    lines = []
    fit_table(_turning(np.random.default_rng(0))[0], Options(target="y", max_epochs=2, progress=False),
              say=lines.append)
    assert ("the linear model holds the date at its last training date when predicting later rows: on the validation "
            "blocks, its log-rate trend carried on predicted worse than held there") in lines
