"""Tables with dates whose target trends: the target's own lags are found and left unclipped in the linear model,
and the networks learn what the linear model leaves, so a forecast can leave the training range."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from descend.apps.tabular import Options, TabularRun, fit_table
from descend.apps.tabular.columns import infer_columns
from descend.apps.tabular.lags import lag_of, target_lags
from descend.apps.tabular.model import TabularNet
from descend.apps.tabular.preprocess import Preprocessor
from descend.apps.tabular.train import prepare
from descend.apps.tabular.update import update_run

QUICK = dict(max_epochs=12, patience=4, progress=False)


def _trending(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """A monthly series climbing by about 1 a month (a random walk with drift), its last two values as lags, and
    an unrelated number: the test months lie beyond every training value of the target and of its lags."""
    rng = np.random.default_rng(seed)
    level = np.cumsum(1.0 + rng.normal(0, 0.3, rows + 2))
    dates = pd.date_range("2000-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d")
    return pd.DataFrame({"month": dates, "noise": rng.normal(size=rows), "y_lag1": level[1:-1], "y_lag2": level[:-2],
                         "y": level[2:]})


def test_a_lag_is_found_by_its_values_whatever_its_name_and_gaps():
    y = np.cumsum(np.random.default_rng(1).normal(size=200))
    lagged = np.concatenate([[np.nan] * 12, y[:-12]])
    assert lag_of(lagged, y) == 12
    lagged[[40, 90]] = np.nan                          # gaps do not hide it
    assert lag_of(lagged, y) == 12
    assert lag_of(y.copy(), y) is None                 # the target itself is not its own lag
    assert lag_of(np.random.default_rng(2).normal(size=200), y) is None
    mostly = lagged.copy()
    mostly[20:60] += 1.0                               # 40 of 188 rows differ: under the 90% it takes
    assert lag_of(mostly, y) is None
    frame = pd.DataFrame({"sales": y, "prev": np.concatenate([[np.nan], y[:-1]]), "other": y * 2})
    assert target_lags(frame, "sales", ["prev", "other"]) == {"prev": 1}


def test_the_linear_model_clips_every_number_but_the_free_ones():
    net = TabularNet(numeric_width=3, categorical=[], hidden=[4], out_dim=1,
                     bounds=[[-1.0, 1.0], [-1.0, 1.0], [None, None]], linear_free=[1]).eval()
    x = torch.tensor([[5.0, 5.0, 5.0], [-3.0, -3.0, -3.0]])
    with torch.no_grad():
        net.set_linear(torch.tensor([[1.0, 10.0, 100.0]]), torch.tensor([0.0]), blend=0.0, clipped=True)
        assert net(x)[:, 0].tolist() == [1.0 + 50.0 + 500.0, -1.0 - 30.0 - 300.0]
        assert torch.equal(net.features(x)[:, 0, :3], torch.tensor([[1.0, 1.0, 5.0], [-1.0, -1.0, -3.0]]))


def test_residual_networks_train_on_top_of_the_linear_model_and_the_blend_shrinks_them():
    torch.manual_seed(0)
    net = TabularNet(numeric_width=2, categorical=[], hidden=[4], out_dim=1, members=3, residual=True)
    x = torch.randn(5, 2)
    weight, bias = torch.tensor([[2.0, -1.0]]), torch.tensor([0.5])
    linear = x @ weight.T + bias
    net.set_linear(weight, bias, blend=0.3)
    with torch.no_grad():
        members = net.member_outputs(x)
        assert torch.allclose(net(x), members + linear[:, None, :])   # training: each member on top of the line
        net.eval()
        assert torch.allclose(net(x), linear + 0.3 * members.mean(dim=1))
        net.set_linear(weight, bias, blend=0.0)
        assert torch.equal(net(x), linear)
    bce = TabularNet(numeric_width=2, categorical=[], hidden=[4], out_dim=1, link="sigmoid", residual=True)
    assert bce.residual is False   # members average as probabilities there, not on top of a logit


def test_a_trending_dated_series_is_forecast_beyond_its_training_range():
    frame = _trending()
    lines = []
    run = fit_table(frame, Options(target="y", **QUICK), say=lines.append)
    said = "\n".join(lines)
    assert "y_lag1, y_lag2: the target's own earlier values (1, 2 rows earlier)" in said
    assert ("the networks and the linear model clip them to the training range (a date's years since 2000 "
            "excepted), as this table has dates; the networks also see each as its place in up to 2 training-quantile "
            "bins\n") in said
    assert lines[-2:] == ["training again on all 128 training rows for 12 epochs, at the first run's learning rates "
                          "epoch by epoch", "predictions held at 0 or above: every training value of 'y' is 0 or more"]
    assert run.config["architecture"]["residual"] is True and run.metrics["validation"]["residual"] is True
    test = run.test_predictions
    assert test["actual"].min() > frame["y"].iloc[:len(frame) - len(test)].max()   # the future leaves the range
    rmse = float(np.sqrt(np.mean((test["predicted"] - test["actual"]) ** 2)))
    assert rmse < 1.0   # the step's own noise is 0.3; held at the training maximum it would be about 17
    assert run.config["architecture"]["linear_free"] == [5, 6]   # y_lag1 and y_lag2 among the numbers
    bounds = run.config["architecture"]["bounds"]   # the networks leave the lags unclipped too, and clip the rest
    assert bounds[5] == bounds[6] == [None, None] and bounds[2] == run.preprocessor.bounds()[2] != [None, None]


def test_a_single_lag_is_said_in_the_singular():
    lines = []
    prepare(_trending().drop(columns="y_lag2"), Options(target="y", **QUICK), say=lines.append)
    assert ("  y_lag1: the target's own earlier values (1 row earlier): neither the networks nor the linear model "
            "clip them to the training range (they trend with the target)") in lines


def test_a_table_without_dates_keeps_its_model_as_before():
    frame = _trending().drop(columns="month")
    lines = []
    run = fit_table(frame, Options(target="y", **QUICK), say=lines.append)
    assert any("; the networks and the linear model take them as they are (beyond the training range, a straight "
               "line carries on)" in line for line in lines)
    assert run.config["architecture"]["residual"] is False and run.config["architecture"]["linear_free"] == []
    assert run.model.residual is False and run.config["linear_clipped"] is False


def test_a_residual_model_predicts_the_same_after_saving(tmp_path):
    frame = _trending(120)
    run = fit_table(frame, Options(target="y", **QUICK), say=lambda line: None)
    run.save(tmp_path / "run")
    loaded = TabularRun.load(tmp_path / "run")
    x = run.encode(frame.tail(5), "rows")[0]
    assert np.array_equal(run.outputs(x), loaded.outputs(loaded.encode(frame.tail(5), "rows")[0]))
    assert loaded.model.residual is True


def test_an_update_trains_the_residual_networks_and_leaves_the_linear_model_as_fitted():
    frame = _trending(200)
    run = fit_table(frame.iloc[:120], Options(target="y", **QUICK), say=lambda line: None)
    linear = run.model.linear_weight.clone(), run.model.linear_bias.clone()
    lines = []
    record = update_run(run, frame.iloc[120:], say=lines.append, max_epochs=10, progress=False)
    assert lines[0] == (f"update: 54 training, 10 validation rows, newest 16 rows held out to judge; the networks go "
                        f"on from their saved weights at lr {run.config['lr'] * 0.3:g}, the linear model stays as fitted")
    assert torch.equal(run.model.linear_weight, linear[0]) and torch.equal(run.model.linear_bias, linear[1])
    # the newest rows lie 64-80 months past the fit's last: held at its training maximum the error would be ~70
    assert record["after"]["rmse"] < record["before"]["rmse"] < 3.0 and not record["kept_previous"]


def test_a_model_described_before_lags_and_residuals_builds_and_loads_as_it_was():
    run = fit_table(_trending(80), Options(target="y", **QUICK), say=lambda line: None)
    assert "residual" not in run.model.state_dict()   # a choice of the architecture, not a weight
    spec = {k: v for k, v in run.config["architecture"].items() if k not in ("residual", "linear_free")}
    older = TabularNet.build(spec)
    older.load_state_dict(run.model.state_dict())
    assert older.residual is False and torch.equal(older.linear_lower, older.lower)


def test_a_monthly_date_gets_no_weekday_and_a_daily_one_does():
    monthly = _trending(60)
    columns, _ = infer_columns(monthly, "y")
    month = next(c for c in columns if c.name == "month")
    assert month.weekday is False and "no weekday: every date is day 1 of its month" in month.reason
    names = [c.name for c in Preprocessor.fit(columns, monthly).categorical]
    assert names == ["month_month"]
    daily = monthly.assign(month=pd.date_range("2001-01-01", periods=60, freq="D").strftime("%Y-%m-%d"))
    columns, _ = infer_columns(daily, "y")
    assert [c.name for c in Preprocessor.fit(columns, daily).categorical] == ["month_weekday", "month_month"]


def _holidays(start: str, days: int, freq: str = "D") -> pd.DataFrame:
    """Daily riders: 10 on weekdays, 4 at weekends, 1 on December 25 and on the fourth Thursday of November (US
    Thanksgiving), plus noise; the calendar day is the only way to the holidays."""
    dates = pd.date_range(start, periods=days, freq=freq)
    rng = np.random.default_rng(0)
    riders = np.where(dates.day_of_week < 5, 10.0, 4.0) + rng.normal(0, 0.3, days)
    thanksgiving = (dates.month == 11) & (dates.day_of_week == 3) & ((dates.day - 1) // 7 == 3)
    riders[((dates.month == 12) & (dates.day == 25)) | thanksgiving] = 1.0
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "riders": riders})


def test_daily_dates_over_years_get_calendar_days_that_learn_holidays():
    table = _holidays("2012-01-01", 4 * 365)
    columns, _ = infer_columns(table, "riders")
    assert columns[0].calendar and "holidays recur" in columns[0].reason
    pre = Preprocessor.fit(columns, table)
    names = [c.name for c in pre.categorical]
    assert names == ["date_weekday", "date_month", "date_monthday", "date_nthweekday"]
    days = pd.DataFrame({"date": ["2014-12-25", "2014-11-27"]})   # a Thursday, and the fourth Thursday of November
    _, codes, _ = pre.transform(days)
    level = lambda row, i: pre.categorical[i].levels[codes[row, i] - 1]   # noqa: E731
    assert [(level(row, 2), level(row, 3)) for row in (0, 1)] == [("1225", "1243"), ("1127", "1143")]
    run = fit_table(table, Options(target="riders", model="linear", **QUICK), say=lambda line: None)
    test = table.iloc[-365:]
    predicted = run.predictions(test)[0]["prediction"].to_numpy()
    holiday = test["riders"].to_numpy() == 1.0
    assert holiday.sum() == 2 and np.all(predicted[holiday] < 5.0)   # a weekday's 10 without the calendar day
    older = {**pre.to_dict(), "columns": [{k: v for k, v in c.items() if k != "calendar"} for c in
                                          pre.to_dict()["columns"]]}
    assert Preprocessor.from_dict(older).columns[0].calendar is False   # runs saved before it read as before


def test_one_year_of_days_or_years_of_weeks_get_no_calendar_days():
    for table in (_holidays("2012-01-01", 365), _holidays("2012-01-01", 200, freq="W")):
        columns, _ = infer_columns(table, "riders")
        assert not columns[0].calendar
        assert "date_monthday" not in [c.name for c in Preprocessor.fit(columns, table).categorical]
