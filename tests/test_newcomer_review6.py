"""What a new user met in a sixth review (their own models, CSV files and calls written the way people first
write them), each fixed and pinned."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
from descend.core.errors import DescendError
from tabular_data import fitted_with_new_rows

QUICK = ["--max-epochs", "3", "--patience", "2"]


def _shop(rows: int, seed: int = 0) -> pd.DataFrame:
    """A small table of the kind a user makes first: two numbers and a value to predict from them."""
    rng = np.random.default_rng(seed)
    visits, basket = rng.integers(1, 30, rows), rng.normal(40, 8, rows).round(2)
    return pd.DataFrame({"visits": visits, "basket": basket,
                         "spend": (visits * basket / 10 + rng.normal(0, 3, rows)).round(2)})


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory):
    return fitted_with_new_rows(tmp_path_factory.mktemp("shop"), "shop", _shop(60), "spend", _shop(6, seed=1),
                                QUICK)


def _line(rows: int = 200, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, 4, generator=g)
    return X, X @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1 * torch.randn(rows, generator=g)


def test_an_optimizer_built_on_another_model_is_refused_before_a_run_that_would_train_nothing():
    X, y = _line()
    model, other = nn.Linear(4, 1), nn.Linear(4, 1)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(DescendError, match=r"the optimizer \(Adam\) holds none of the model's parameters: it was "
                                           r"built on another model or on a copy of it.*Adam\(model.parameters"):
        ds.fit(model, (X, y), optimizer=torch.optim.Adam(other.parameters()), max_epochs=1, progress=False)
    with pytest.raises(DescendError, match="holds none of the model's parameters"):
        ds.lr_find(model, (X, y), optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_an_optimizer_over_part_of_the_model_still_trains_that_part():
    X, y = _line()
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    frozen = model[0].weight.detach().clone()
    result = ds.fit(model, (X, y), optimizer=torch.optim.Adam(model[1].parameters(), lr=0.01), max_epochs=3,
                    progress=False, doctor=False)
    assert torch.equal(model[0].weight, frozen) and result.history[-1]["loss"] < result.history[0]["loss"]


def test_predict_refuses_an_out_that_is_its_own_data_file_or_a_file_of_the_run(shop_run, capsys):
    run, new = shop_run
    rows, files = new.read_bytes(), {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["predict", str(run), str(new), "--out", str(new)]) == 2
    assert capsys.readouterr().err == (f"descend: error: --out {new} is the data file itself; the predictions "
                                       "would replace its rows: give another file name, such as predictions.csv\n")
    inside = run / ".." / run.name / "test_predictions.csv"
    assert main(["predict", str(run), str(new), "--out", str(inside)]) == 2
    assert capsys.readouterr().err.startswith(f"descend: error: --out {inside} is inside the run folder {run}")
    assert new.read_bytes() == rows and {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == files
    assert main(["predict", str(run), str(new), "--out", str(new.with_name("predictions.csv"))]) == 0
    assert len(pd.read_csv(new.with_name("predictions.csv"))) == 6


def test_bounds_as_a_list_of_pairs_must_have_one_pair_per_element_as_scipy_asks():
    square = lambda x: ((x - 3) ** 2).sum()   # noqa: E731
    with pytest.raises(DescendError) as caught:
        ds.minimize(square, [1.0, 2.0, 3.0], bounds=[(0.5, 2)])
    assert str(caught.value) == ("bounds has 1 (lo, hi) pair but x has 3 elements; give one pair per element, or "
                                 "one (lo, hi) tuple (not in a list) for all of them")
    with pytest.raises(DescendError, match=r"bounds has 2 \(lo, hi\) pairs but x\['a'\] has 3 elements"):
        ds.minimize(lambda p: square(p["a"]), {"a": torch.zeros(3)}, bounds={"a": [(0, 1), (0, 1)]})
    assert ds.minimize(square, [1.0, 2.0, 3.0], bounds=(0.5, 2)).x.tolist() == [2.0, 2.0, 2.0]
    assert ds.minimize(square, [1.0, 2.0], bounds=[(0, 1), (None, None)]).x.tolist() == [1.0, 3.0]


def test_a_loss_class_not_yet_called_is_refused_saying_to_pass_an_instance():
    X, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    with pytest.raises(TypeError) as caught:
        ds.fit(nn.Linear(4, 3), (X, y), loss=nn.CrossEntropyLoss, max_steps=2, progress=False)
    assert str(caught.value) == ("loss=CrossEntropyLoss is a class, not a loss: pass an instance, "
                                 "loss=CrossEntropyLoss(), or a name (bce, cross_entropy, huber, mae, mse, poisson)")
    result = ds.fit(nn.Linear(4, 3), (X, y), loss=nn.CrossEntropyLoss(), max_steps=2, progress=False, doctor=False)
    assert result.stop_code == "max_steps"


@pytest.mark.parametrize("inputs,weights,advice", [
    (torch.int64, torch.float32, "the train inputs are torch.int64 but the model's weights are torch.float32: "
                                 "convert the inputs (X.float() for a tensor, X.astype('float32') for an array)"),
    (torch.float32, torch.float64, "the train inputs are torch.float32 but the model's weights are torch.float64: "
                                   "convert the inputs (X.double() for a tensor, X.astype('float64') for an array) "
                                   "or the model (model.float())"),
    (torch.float64, torch.float32, "the train inputs are torch.float64 but the model's weights are torch.float32: "
                                   "convert the inputs (X.float() for a tensor, X.astype('float32') for an array) "
                                   "or the model (model.double())"),
])
def test_inputs_and_weights_of_different_dtypes_get_a_conversion_that_works(inputs, weights, advice):
    X, y = _line(64)
    with pytest.raises(DescendError) as caught:
        ds.fit(nn.Linear(4, 1).to(weights), (X.to(inputs), y.to(weights)), max_steps=1, progress=False)
    assert str(caught.value).endswith(advice)


def test_class_labels_under_the_default_loss_are_told_the_loss_they_need():
    X, labels = torch.randn(64, 4), torch.arange(64) % 3
    with pytest.raises(DescendError) as caught:
        ds.fit(nn.Linear(4, 3), (X, labels), max_steps=1, progress=False)
    assert str(caught.value) == ("model output has shape (64, 3) but the target has shape (64,); they must match for "
                                 "the mse loss; class labels 0..2 with one output column per class take "
                                 "loss='cross_entropy'")
    with pytest.raises(DescendError, match=r"must match for the bce loss; class labels 0..1 .* take loss='cross_en"):
        ds.lr_find(nn.Linear(4, 2), (X, labels.clamp(max=1).float()), "bce")
    with pytest.raises(DescendError) as caught:
        ds.fit(nn.Linear(4, 3), (X, torch.randn(64)), loss="huber", max_steps=1, progress=False)
    assert str(caught.value).endswith("they must match for the huber loss")


def test_a_schedule_given_by_name_or_as_torchs_scheduler_is_told_the_descend_schedule_to_pass():
    import descend.core.schedules as schedules
    X, y = _line(64)
    assert all(callable(getattr(schedules, name)) for name in schedules.NAMES)
    said = []
    for given in ("cosine", torch.optim.lr_scheduler.StepLR, "cosin"):
        with pytest.raises(TypeError) as caught:
            ds.fit(nn.Linear(4, 1), (X, y), schedule=given, max_steps=2, progress=False)
        said.append(str(caught.value).split("; ", 1)[1])
    assert said == ["pass the schedule itself, descend.schedules.cosine() with its settings",
                    "torch's StepLR steps an optimizer of its own, while fit takes a function of the step that "
                    "multiplies the lr: descend.schedules.step(every=..., gamma=0.1)",
                    "descend.schedules has constant, linear, cosine, warmup, warmup_cosine, wsd, one_cycle, "
                    "inverse_sqrt, step, exponential, each called to make one"]


def test_a_batch_size_given_beside_a_dataloader_is_said_to_be_unused():
    from torch.utils.data import DataLoader, TensorDataset
    X, y = _line(128)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    with pytest.warns(UserWarning) as caught:
        result = ds.fit(nn.Linear(4, 1), loader, batch_size=128, max_epochs=1, progress=False, doctor=False)
    assert len(result.history) == 4   # the loader's 4 batches of 32, not one of 128
    assert [str(w.message) for w in caught if "batch_size" in str(w.message)] == [
        "batch_size=128 is not used: the training DataLoader makes its own batches (of 32 rows); set the size there, "
        "DataLoader(dataset, batch_size=128, shuffle=True)"]


def test_data_as_a_tuple_of_one_item_is_told_it_needs_inputs_and_targets():
    X, y = _line(64)
    with pytest.raises(TypeError) as caught:
        ds.fit(nn.Linear(4, 1), (X, y), val=(X,), max_steps=1, progress=False)
    assert str(caught.value) == ("val data as a tuple needs inputs and targets, (X, y); got 1 item (an autoencoder, "
                                 "whose targets are its inputs, takes (X, X))")
    with pytest.raises(TypeError, match=r"^train data as a list needs inputs and targets, \(X, y\); got 0 items"):
        ds.fit(nn.Linear(4, 1), [], max_steps=1, progress=False)


def test_resume_on_a_complete_run_of_other_options_says_so_instead_of_showing_the_old_run(shop_run, capsys):
    run, new = shop_run
    data = str(new.with_name("shop.csv"))
    capsys.readouterr()
    assert main(["fit", data, "--target", "basket", "--out", str(run), "--resume", *QUICK]) == 2
    assert capsys.readouterr().err == (
        f"descend: error: --resume: {run} holds a complete run of other options (--target: 'spend' in the run, "
        "'basket' now); to train these, leave out --resume and give a new --out\n")
    assert main(["fit", data, "--target", "spend", "--out", str(run), "--resume", "--threads", "1", *QUICK]) == 0
    assert capsys.readouterr().out.startswith(f"the run in {run} is already complete; nothing to resume\n")


def test_predict_on_a_folder_of_a_python_fit_names_it_and_how_to_load_its_weights(tmp_path, capsys):
    X, y = _line(64)
    folder = tmp_path / "py_run"
    model = nn.Linear(4, 1)
    ds.fit(model, (X, y), max_steps=3, run_dir=str(folder), progress=False, doctor=False)
    rows = tmp_path / "rows.csv"
    pd.DataFrame(X.numpy()).to_csv(rows, index=False)
    capsys.readouterr()
    for command in ("predict", "update"):
        assert main([command, str(folder), str(rows)]) == 2
        assert capsys.readouterr().err == (
            f"descend: error: {folder / 'config.json'} has no \"tabular\" section: the folder holds a run of "
            "descend.fit, not of `descend fit DATA`; load its weights into your model with "
            f"safetensors.torch.load_model(model, '{folder / 'model.safetensors'}')\n")
    from safetensors.torch import load_model
    again = nn.Linear(4, 1)
    load_model(again, str(folder / "model.safetensors"))
    assert torch.equal(again.weight, model.weight)


def test_report_and_compare_refuse_to_replace_a_file_that_is_no_html_page(shop_run, tmp_path, capsys):
    run, new = shop_run
    data = new.with_name("shop.csv")
    rows = data.read_bytes()
    capsys.readouterr()
    assert main(["report", str(run), "--out", str(data)]) == 2
    assert capsys.readouterr().err == (
        f"descend: error: cannot write the report to {data}: that file exists and is no HTML page, and the report "
        f"would replace it; give a .html file name such as {data.with_suffix('.html')}\n")
    assert main(["compare", str(run), str(run), "--out", str(run / "metrics.json")]) == 2
    assert "cannot write the comparison to" in capsys.readouterr().err
    assert data.read_bytes() == rows
    page = tmp_path / "page.html"
    assert main(["report", str(run), "--out", str(page)]) == 0 and main(["report", str(run), "--out", str(page)]) == 0
    assert page.read_text().startswith("<!doctype html>")


def test_lr_finds_use_it_line_is_a_command_the_shell_reads_back_with_the_target_whole(tmp_path, capsys):
    import shlex
    data = tmp_path / "my shop.csv"
    _shop(120).rename(columns={"spend": "spend next month"}).to_csv(data, index=False)
    capsys.readouterr()
    assert main(["lr-find", str(data), "--target", "spend next month"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("use it: descend fit ") and line.endswith("   (or --lr auto)")
    words = shlex.split(line.removeprefix("use it: ").removesuffix("   (or --lr auto)"))
    assert words[:5] == ["descend", "fit", str(data), "--target", "spend next month"] and words[5] == "--lr"
    assert float(words[6]) > 0


def test_tune_refuses_a_missing_target_and_its_own_flags_in_one_line_before_any_trial(shop_run, tmp_path, capsys):
    pytest.importorskip("optuna")
    data = str(shop_run[1].with_name("shop.csv"))
    out = ["--out", str(tmp_path / "tune")]
    capsys.readouterr()
    said = []
    for flags in (["--target", "spent", "--trials", "2"], ["--target", "spend", "--trials", "0"],
                  ["--target", "spend", "--trials", "2", "--workers", "2"]):
        assert main(["tune", data, *flags, *out]) == 2
        said.append(capsys.readouterr().err)
    assert said == ["descend: error: target column 'spent' is not in the data; did you mean 'spend'? columns: visits, "
                    "basket, spend\n",
                    "descend: error: --trials must be a positive integer, got 0\n",
                    "descend: error: --workers 2 needs --storage, a database the processes share, such as --storage "
                    "sqlite:///tune.db\n"]
    assert not (tmp_path / "tune").exists()


def test_rules_watching_accuracy_without_a_mode_take_higher_as_better():
    assert ds.stop.Patience(5, monitor="val_accuracy").mode == "max"
    assert ds.stop.Target(0.9, monitor="val_accuracy").mode == "max"
    assert ds.stop.Patience(5).mode == ds.stop.Patience(5, monitor="val_rmse").mode == "min"
    assert ds.stop.Patience(5, monitor="val_accuracy", mode="min").mode == "min"   # as given
    g = torch.Generator().manual_seed(0)
    X = torch.randn(400, 2, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long()
    result = ds.fit(nn.Linear(2, 2), (X[:300], y[:300]), loss="cross_entropy", val=(X[300:], y[300:]),
                    metrics=["accuracy"], optimizer="sgd", lr=0.1, max_epochs=30, progress=False, doctor=False,
                    stop=[ds.stop.Target(0.9, monitor="val_accuracy")])
    accuracies = [r["val_accuracy"] for r in result.history if "val_accuracy" in r]
    assert result.stop_code == "target" and accuracies[-1] >= 0.9 > accuracies[0]   # not at the first evaluation
    result = ds.fit(nn.Linear(2, 2), (X[:300], y[:300]), loss="cross_entropy", val=(X[300:], y[300:]),
                    metrics=["accuracy"], optimizer="sgd", lr=0.01, max_epochs=6, progress=False, doctor=False,
                    stop=[ds.stop.Patience(50, monitor="val_accuracy", restore_best=True)])
    accuracies = [r["val_accuracy"] for r in result.history if "val_accuracy" in r]
    assert result.best["val_accuracy"] == max(accuracies) > min(accuracies)


def test_a_reports_summary_after_an_update_says_which_lines_are_the_fits(shop_run, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(shop_run[0], run)
    before = dict(ds.runs.read_run(run).summary_rows())
    rows = tmp_path / "week.csv"
    _shop(40, seed=2).to_csv(rows, index=False)
    assert main(["update", str(run), str(rows), "--max-epochs", "2"]) == 0
    after = dict(ds.runs.read_run(run).summary_rows())
    # the shop run was trained again on all its rows: its summary.json is the first run's before any update
    assert "the first run stopped because" in before and "updates since" not in before
    assert after["the first run stopped because"] == before["the first run stopped because"]
    assert "stopped because" not in after and "the fit stopped because" not in after
    assert after["the first run took (s)"] == before["the first run took (s)"]
    assert after["updates since"] == "1 (steps and curves include them; each in the updates table)"
    assert int(after["steps"].split()[0]) > int(before["steps"].split()[0]) and "update 1: " in after["steps"]
    assert after["the first run's best step"] == before["the first run's best step"] and "best step" not in after


def test_bench_refuses_an_out_folder_holding_only_a_readme_of_its_own(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# my project\n")
    assert main(["bench", "--quick", "--seeds", "1", "--workloads", "iris_softmax", "--out", str(project)]) == 2
    assert capsys.readouterr().err == (f"descend: error: --out {project} holds files descend bench did not write "
                                       "(README.md); a run replaces the whole folder, so give a new folder or an "
                                       "earlier bench output\n")
    assert (project / "README.md").read_text() == "# my project\n"


def test_a_regressor_given_text_targets_says_to_use_the_classifier():
    from descend.sklearn import Regressor
    x = np.random.default_rng(0).random((20, 3))
    with pytest.raises(DescendError, match=r"y holds text \('a'\): a Regressor predicts numbers; for labels use "
                                           r"descend.sklearn.Classifier"):
        Regressor(max_steps=5).fit(x, np.array(["1.5", "a"] * 10))
    fitted = Regressor(max_steps=5).fit(x, np.array(["1.5", "2"] * 10))   # numbers written as text still train
    assert fitted.predict(x).shape == (20,)


def test_a_model_on_the_meta_device_is_refused_naming_the_weight_and_how_to_give_it_values():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(DescendError, match=r"the model's '0.weight' is on the meta device \(shapes without values\): "
                                           r"give it storage and values first, e.g. model.to_empty"):
        ds.fit(model, _line(), max_steps=3, progress=False)
    model.to_empty(device="cpu")
    for layer in (model[0], model[2]):
        layer.reset_parameters()
    assert ds.fit(model, _line(), max_steps=3, progress=False, doctor=False).history[-1]["step"] == 3
