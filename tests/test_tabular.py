"""The tabular pieces on their own: column kinds, fitted preprocessing, target/loss choice, ridge, atomic saves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from descend.core.errors import DescendError
from descend.apps.tabular import Options, TabularRun, fit_table
from descend.apps.tabular.glm import ridge
from descend.apps.tabular.model import PiecewiseLinear
from descend.apps.tabular.columns import infer_columns
from descend.apps.tabular.preprocess import MISSING, Preprocessor
from descend.apps.tabular.split import split_rows, time_order
from descend.apps.tabular.target import infer_target, present_rows
from tabular_data import bakery


def _frame() -> pd.DataFrame:   # 100 rows: enough for hour's 4 one-hot columns (one per 25 rows)
    return pd.DataFrame({"when": ["2024-01-01", "2024-01-02", "2024-02-03", "2024-03-04"] * 25,
                         "open": ["yes", "no", "yes", "yes"] * 25, "hour": [1, 2, 3, 4] * 25,
                         "shop": ["a", "b", "c", None] * 25, "price": [1.5, None, 2.5, 3.0] * 25,
                         "same": [7] * 100, "sold": list(range(100))})


def test_rows_whose_text_target_is_blank_or_missing_are_left_out_of_an_object_column():
    # a frame built in Python keeps text as object dtype (a CSV read gives pandas' string dtype instead)
    target = pd.Series(["adelie", " ", None, "gentoo", ""], dtype=object)
    assert present_rows(target, "species").tolist() == [True, False, False, True, False]


def test_column_kinds_are_inferred_and_overridable():
    columns, notes = infer_columns(_frame(), "sold")
    assert {c.name: c.kind for c in columns} == {"when": "date", "open": "boolean", "hour": "ordinal",
                                                 "shop": "categorical", "price": "numeric"}
    assert notes == ["same: left out ('7' in every row)"]
    columns, _ = infer_columns(_frame(), "sold", drop=("when",), categorical=("hour",), numeric=("price",))
    kinds = {c.name: c.kind for c in columns}
    assert kinds["hour"] == "categorical" and kinds["price"] == "numeric" and "when" not in kinds
    with pytest.raises(DescendError, match="column 'open' holds numbers but data row 1 has 'yes'"):
        infer_columns(_frame(), "sold", numeric=("open",))
    with pytest.raises(DescendError, match="--drop names column 'nope'"):
        infer_columns(_frame(), "sold", drop=("nope",))


def test_ordinals_keep_one_hot_only_within_one_column_per_25_rows():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"pixel_a": rng.integers(0, 17, 200), "pixel_b": rng.integers(0, 17, 200),
                          "season": rng.integers(1, 5, 200), "y": rng.normal(size=200)})
    columns, _ = infer_columns(frame, "y")   # 200 rows: 8 one-hot columns; season's 4 fit, a pixel's 17 do not
    assert {c.name: c.kind for c in columns} == {"pixel_a": "numeric", "pixel_b": "numeric", "season": "ordinal"}
    assert columns[0].reason == ("integers with 17 values, used as a number (one-hot for them too would exceed one "
                                 "one-hot column per 25 training rows; --categorical pixel_a for one-hot)")
    wider, _ = infer_columns(pd.concat([frame] * 9, ignore_index=True), "y")   # 1,800 rows: 72 columns, 38 used
    assert {c.name: c.kind for c in wider} == {"pixel_a": "ordinal", "pixel_b": "ordinal", "season": "ordinal"}


def test_numbers_get_finer_quantile_bins_on_tables_without_dates():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=1000), "day": pd.date_range("2020-01-01", periods=1000).astype(str)})
    undated = Preprocessor.fit(infer_columns(frame.drop(columns="day"), "")[0], frame)
    assert len(undated.numeric[0].edges) == 17   # 16 bins of 62 rows (at least 40 a bin)
    assert len(Preprocessor.fit(infer_columns(frame.head(200), "")[0], frame.head(200)).numeric[0].edges) == 6
    dated = Preprocessor.fit(infer_columns(frame, "")[0], frame)
    assert len(dated.numeric[0].edges) == 9   # 8 bins: finer ones fit the training years' noise


def _rounding_twins(rows: int) -> pd.DataFrame:
    """A number column whose middle values are sin 60 and sin 120 degrees: equal, but for their last bit."""
    twins = [np.sin(np.pi / 3), np.sin(2 * np.pi / 3)]
    assert twins[0] != twins[1]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": np.tile([0.0, *twins, 50.0], rows // 4), "z": rng.normal(size=rows)})
    frame["y"] = np.sqrt(frame.x) + frame.z ** 2 + 0.1 * rng.normal(size=rows)
    return frame


def test_quantile_edges_equal_up_to_rounding_are_one_edge_and_every_bin_has_a_width():
    frame = _rounding_twins(800)
    pre = Preprocessor.fit(infer_columns(frame, "y")[0], frame)
    edges = pre.numeric[0].edges   # quantiles interpolate between the 4 values, which they also hit
    assert np.sin(np.pi / 3) in edges and np.sin(2 * np.pi / 3) not in edges and len(edges) == 5
    encoding = PiecewiseLinear(pre.bins())
    assert bool((encoding.widths > 0).all())
    assert bool(torch.isfinite(encoding(torch.from_numpy(pre.transform(frame)[0]))).all())
    close = frame.assign(x=np.tile([0.0, 1.0, 1.0 + 1e-9, 50.0], 200))   # near, but far beyond rounding: kept
    assert 1.0 in (edges := Preprocessor.fit(infer_columns(close, "y")[0], close).numeric[0].edges)
    assert 1.0 + 1e-9 in edges and len(edges) == 7


def test_a_column_equal_up_to_rounding_is_not_blown_up_into_a_feature_by_its_spread():
    frame = _rounding_twins(800).assign(x=np.tile([np.sin(np.pi / 3), np.sin(2 * np.pi / 3)], 400))
    pre = Preprocessor.fit(infer_columns(frame, "y")[0], frame)
    assert pre.numeric[0].std == 1.0 and pre.numeric[0].edges == [np.sin(np.pi / 3)]
    assert np.ptp(pre.transform(frame)[0][:, 0]) < 1e-6   # by its noise: -1.26 to -0.63
    close = frame.assign(x=np.tile([1.0, 1.0 + 1e-9], 400))   # a real spread, however small, is kept
    assert np.ptp(Preprocessor.fit(infer_columns(close, "y")[0], close).transform(close)[0][:, 0]) == 2.0


def test_a_column_with_rounding_twins_trains_the_networks_not_the_linear_model_alone():
    said = []
    run = fit_table(_rounding_twins(800), Options(target="y", seed=0), say=said.append)
    assert not any("non-finite" in line for line in said)
    scores = run.metrics["scores"]
    assert scores["mlp + ridge regression (mse loss)"]["rmse"] < 0.2 * scores["ridge, closed form (alpha 1)"]["rmse"]


def test_preprocessing_fills_flags_standardizes_and_maps_levels():
    frame = _frame()
    columns, _ = infer_columns(frame, "sold")
    pre = Preprocessor.fit(columns, frame)
    price = next(n for n in pre.numeric if n.name == "price")
    assert price.median == 2.5 and price.flag
    shop = next(c for c in pre.categorical if c.name == "shop")
    assert shop.levels == ["a", "b", "c", MISSING]
    x_num, x_cat, unseen = pre.transform(frame)
    assert np.allclose(x_num.mean(axis=0)[[0]], 0.0, atol=1e-6)
    names = [c.name for c in pre.categorical]
    assert names == ["when_weekday", "when_month", "hour", "shop"]
    assert list(x_cat[:4, 3]) == [1, 2, 3, 4] and unseen == {}
    new = frame.head(2).assign(shop=["z", "a"], price=[None, 100.0])
    x_new, c_new, unseen = pre.transform(new)
    assert unseen == {"shop": 1} and list(c_new[:, 3]) == [0, 1]
    spec = pre.numeric[[n.name for n in pre.numeric].index("price")]
    position = sum(2 if n.flag else 1 for n in pre.numeric[:pre.numeric.index(spec)])
    assert x_new[0, position] == pytest.approx((2.5 - spec.mean) / spec.std)          # median filled
    assert x_new[0, position + 1] == 1.0                                               # was-missing flag
    assert x_new[1, position] == pytest.approx((100.0 - spec.mean) / spec.std)        # as it is: the linear model's
    assert pre.bounds()[position] == pytest.approx([(1.5 - spec.mean) / spec.std,      # the networks clip to the
                                                    (3.0 - spec.mean) / spec.std])     # training range
    assert pre.bounds()[position + 1] == [None, None]                                  # flags are not clipped
    assert Preprocessor.from_dict(pre.to_dict()).transform(new)[0].tobytes() == x_new.tobytes()


def test_a_column_of_0_and_1_in_training_takes_a_later_2_as_a_number():
    train = pd.DataFrame({"claims": [0, 1] * 20, "sold": list(range(40))})
    columns, _ = infer_columns(train, "sold")
    assert columns[0].kind == "boolean"
    pre = Preprocessor.fit(columns, train)
    spec = pre.numeric[0]
    x_num, _, _ = pre.transform(pd.DataFrame({"claims": [2, 0]}))
    assert x_num[:, 0] == pytest.approx([(2 - spec.mean) / spec.std, (0 - spec.mean) / spec.std])


@pytest.mark.parametrize("values,task,loss", [
    (["red", "blue", "red", "green"], "classification", "cross_entropy"),
    ([True, False, True, True], "classification", "bce"),
    ([0, 1, 2, 1], "classification", "cross_entropy"),
    (list(range(0, 40, 2)), "count", "poisson"),
    ([0] * 80 + [1] * 15 + [2] * 3 + [3, 5], "count", "poisson"),   # few values, a count's shape
    ([0] * 40 + [1] * 30 + [2] * 20 + [3] * 10, "classification", "cross_entropy"),   # codes taking turns
    ([0.5, 1.25, -3.0, 2.0], "regression", "mse"),
])
def test_task_and_loss_follow_the_target(values, task, loss):
    target = infer_target(pd.Series(values), "y")
    assert (target.task, target.loss) == (task, loss)
    words = {"poisson": "Poisson loss", "mse": "squared error", "bce": "binary cross-entropy",
             "cross_entropy": "cross-entropy (softmax)"}
    assert words[loss] in target.reason and target.reason.startswith("inferred")


def test_few_whole_numbers_shaped_as_a_count_say_so_and_can_stay_classes():
    visits = pd.Series([0] * 80 + [1] * 15 + [2] * 3 + [3, 5])
    target = infer_target(visits, "visits")
    assert "(0 to 5, 5 values, rarer as they grow: a count's shape, not class codes)" in target.reason
    assert target.reason.endswith("(--task regression for squared error, --task classification for classes)")
    asked = infer_target(visits, "visits", "classification")
    assert (asked.task, asked.classes) == ("classification", ["0", "1", "2", "3", "5"])
    # a second pile at the top of the range reads as classes again
    two_piles = pd.Series([0] * 60 + [1] * 10 + [2] * 4 + [3] * 3 + [5] * 23)
    assert infer_target(two_piles, "visits").task == "classification"


@pytest.mark.parametrize("values, name, task", [
    ([12] * 18 + [13] * 6 + [14] * 5 + [15] * 5 + [16] * 9 + [17] * 3 + [18], "education", "regression"),
    ([18, 19, 20, 21, 22] * 6, "y", "regression"),             # a blank name stays out of this reading's way
    ([-14, -13, -12, -11, -10] * 6, "low", "regression"),      # below 0 as far: levels too
    ([-2, -1, 0, 1, 2] * 6, "change", "classification"),       # around 0: codes or a scale, not levels far off
    ([9, 10, 11, 12] * 6, "grade", "classification"),          # a name that says code keeps its classes
    ([1, 2, 3, 4, 5] * 6, "satisfaction", "classification"),   # numbered from 1: codes or a rating scale
    ([10, 20, 30] * 6, "dept", "classification"),              # spaced out from 10: the smallest within the range
    ([5, 6] * 10, "size", "classification"),                   # two values stay two classes
])
def test_few_whole_numbers_further_from_0_than_they_spread_are_levels_of_an_amount(values, name, task):
    target = infer_target(pd.Series(values), name)
    assert target.task == task
    if task == "regression":
        low, high = min(values), max(values)
        assert target.loss == "mse" and target.reason == (
            f"inferred: whole numbers {low} to {high}, {len(set(values))} values, further from 0 than they spread: "
            "levels of an amount, not class codes -> squared error on the standardized target (--task classification "
            "for classes)")
        assert target.mean == pytest.approx(np.mean(values))


def test_whole_amounts_under_poisson_are_not_called_a_count():
    prices = pd.Series(np.random.default_rng(0).integers(30_000, 900_000, 200))
    target = infer_target(prices, "price")
    assert target.loss == "poisson" and "the log of the expected value" in target.reason
    assert "count" not in target.reason.split("(it suits")[0] and "amounts whose spread grows" in target.reason


def test_ridge_is_the_closed_form_solution():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 4.0
    fitted = ridge(x.numpy(), y.numpy(), alpha=0.0)
    w, b = torch.as_tensor(fitted.coef[0]), float(fitted.intercept[0])
    assert torch.allclose(w, torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)) and abs(b - 4.0) < 1e-9
    w1 = ridge(x.numpy(), y.numpy(), alpha=10.0).coef[0]
    xc = x - x.mean(0)
    expected = np.linalg.solve(xc.T.numpy() @ xc.numpy() + 10 * np.eye(4), xc.T.numpy() @ (y - y.mean()).numpy())
    assert np.allclose(w1, expected)


@pytest.mark.slow
def test_classification_end_to_end_beats_the_majority_class():
    frame = bakery(200, seed=1)
    frame["busy"] = np.where(frame["loaves"] > frame["loaves"].median(), "busy", "quiet")
    run = fit_table(frame.drop(columns=["loaves"]), Options(target="busy", split="random", max_epochs=15,
                                                            progress=False), say=lambda s: None)
    model, _, majority = run.metrics["scores"].values()
    assert model["accuracy"] > majority["accuracy"] + 0.1 and 0.5 < model["roc_auc"] <= 1.0
    preds, _ = run.predictions(frame.head(3))
    assert list(preds.columns) == ["prediction", "p_busy", "p_quiet"]
    assert np.allclose(preds[["p_busy", "p_quiet"]].sum(axis=1), 1.0)


def test_a_failed_save_leaves_nothing(tmp_path, monkeypatch):
    run = fit_table(bakery(40), Options(target="loaves", max_epochs=1, progress=False), say=lambda s: None)

    def broken(self, folder, **_):
        (folder / "model.safetensors").write_text("half")
        raise OSError("disk full")
    monkeypatch.setattr(TabularRun, "_write", broken)
    with pytest.raises(OSError):
        run.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_time_column_sorts_rows_so_the_test_set_is_the_future():
    frame = bakery(50).sample(frac=1.0, random_state=0).reset_index(drop=True)
    split = split_rows(time_order(frame, "date"), "time", 0.2, 0.15, seed=0)
    dates = pd.to_datetime(frame["date"])
    assert len(split.test) == 10 and dates[split.test].min() > dates[split.train].max()
    assert dates[split.val].min() > dates[split.fit].max()
    with pytest.raises(DescendError, match="--time-column 'weekday' must hold dates or numbers; data row 1"):
        time_order(frame, "weekday")
    frame["day"] = np.arange(50.0)
    frame.loc[3, "day"] = np.nan   # a numeric time column with an empty cell: said so, not np.float64(nan)
    with pytest.raises(DescendError, match=r"--time-column 'day' must hold dates or numbers; data row 4 has an empty "
                                           r"cell$"):
        time_order(frame, "day")


def test_stray_text_in_the_target_names_column_and_row():
    values = pd.Series([str(v) for v in range(30)] + ["lots"] + ["3"] * 9)
    with pytest.raises(DescendError, match="column 'loaves' holds numbers but data row 31 has 'lots'"):
        infer_target(values, "loaves")


def test_large_integer_codes_stay_distinct_levels():
    frame = pd.DataFrame({"store": [1_000_001 + i % 20 for i in range(500)], "sold": np.arange(500.0)})
    columns, _ = infer_columns(frame, "sold")
    assert {c.name: c.kind for c in columns} == {"store": "ordinal"}
    pre = Preprocessor.fit(columns, frame)
    assert pre.categorical[0].levels == [str(1_000_001 + i) for i in range(20)]


def test_date_times_get_the_hour_of_day():
    stamps = pd.date_range("2024-03-01", periods=96, freq="h").strftime("%Y-%m-%d %H:%M")
    frame = pd.DataFrame({"when": stamps, "riders": np.arange(96.0)})
    columns, _ = infer_columns(frame, "riders")
    assert columns[0].kind == "datetime"
    pre = Preprocessor.fit(columns, frame)
    hours = next(c for c in pre.categorical if c.name == "when_hour")
    assert hours.levels == [str(h) for h in range(24)]
    _, x_cat, _ = pre.transform(frame.iloc[[0, 13]])
    assert list(x_cat[:, [c.name for c in pre.categorical].index("when_hour")]) == [1, 14]   # 00:00 and 13:00


def test_many_levels_train_through_an_embedding(tmp_path):
    rng = np.random.default_rng(0)
    shop = rng.integers(0, 60, 600)
    effect = np.linspace(-2.0, 2.0, 60)
    frame = pd.DataFrame({"shop": [f"s{k}" for k in shop], "sold": effect[shop] + 0.1 * rng.normal(size=600)})
    run = fit_table(frame, Options(target="sold", split="random", max_epochs=60, progress=False), say=lambda s: None)
    spec = run.preprocessor.categorical[0]
    assert spec.encoding == "embedding" and spec.dim == 16
    scores = run.metrics["scores"]
    model, _, mean = scores.values()
    assert model["rmse"] < 0.2 * mean["rmse"]      # the embedding learned the 60 shop effects
    run.save(tmp_path / "run")
    again, _ = TabularRun.load(tmp_path / "run").predictions(frame.head(5))
    expected, _ = run.predictions(frame.head(5))
    np.testing.assert_allclose(again["prediction"], expected["prediction"], rtol=1e-6)


def test_metrics_json_is_strict_json_when_a_score_is_undefined(tmp_path):
    import json
    frame = pd.DataFrame({"x": np.arange(60.0), "label": ["a", "b"] * 24 + ["a"] * 12})   # test rows: one class
    run = fit_table(frame, Options(target="label", max_epochs=2, progress=False), say=lambda s: None)
    assert np.isnan(next(iter(run.metrics["scores"].values()))["roc_auc"])
    run.save(tmp_path / "run")
    text = (tmp_path / "run" / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["scores"]["mlp + logistic regression (bce loss)"]["roc_auc"] is None
