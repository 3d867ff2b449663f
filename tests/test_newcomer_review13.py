"""A new user's thirteenth review: the report's epoch count one short in each part whose first step finished an
epoch, fit's warnings pointing past the caller's line, a generator of batches, a resume asked to run longer, a run read
back and printed, compare's titles and model differences, a True/False target's reason, lr-find's ignored --lr, and a
custom loss left unreduced."""
from pathlib import Path

import pandas as pd
import pytest
import safetensors.torch
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

import descend as ds
from descend.apps.tabular.target import infer_target
from descend.cli import main
from descend.runs import plots
from descend.runs.records import RunRecord, read_run
from descend.runs.report import setting_differences


def test_a_part_whose_every_step_ends_an_epoch_counts_each_of_them():
    """24 training rows and batch 32 make one step an epoch: the report said "epochs 39 (fit: 27, refit: 12)" for a
    fit of 28 epochs and a refit of 13, as a record's epoch counts the epochs done by its step."""
    history = pd.DataFrame({"step": range(1, 6), "epoch": [1, 2, 3, 1, 2], "loss": 1.0,
                            "phase": [None, None, None, "refit", "refit"]})
    assert dict(RunRecord(Path("run"), history).summary_rows())["epochs"] == "5 (fit: 3, refit: 2)"


def test_a_generator_of_batches_is_refused_with_the_wrapper_that_fit_takes():
    """fit(model, batches()) said only "got generator"; the hint's wrapper, built as written, trains."""
    x, y = torch.randn(120, 3), torch.randn(120, 1)

    def make_batches():
        for i in range(0, 120, 40):
            yield x[i:i + 40], y[i:i + 40]

    for given in (make_batches(), make_batches):
        with pytest.raises(TypeError, match=r"got (generator|function); a generator is spent after one pass.*"
                                            r"return make_batches\(\).*DataLoader\(Batches\(\), batch_size=None\)"):
            ds.fit(nn.Linear(3, 1), given, loss="mse", max_epochs=2)

    class Batches(IterableDataset):
        def __iter__(self):
            return make_batches()

    with pytest.warns(UserWarning, match="the training data has no length"):
        result = ds.fit(nn.Linear(3, 1), DataLoader(Batches(), batch_size=None), loss="mse", max_epochs=2, lr=0.01,
                        progress=False, doctor=False)
    assert len(result.history) == 6   # 3 batches, a new generator each epoch


def test_fits_warnings_point_at_the_callers_line():
    """fit's warnings (metrics without validation data, a stream without a length) showed `sys:1` or a line
    inside descend: their fixed stack level pointed past the caller."""
    with pytest.warns(UserWarning) as caught:
        ds.fit(nn.Linear(3, 1), (torch.randn(40, 3), torch.randn(40, 1)), loss="mse", metrics=["mae"],
               max_epochs=1, lr=0.01, progress=False, doctor=False)
    assert [Path(w.filename).name for w in caught if "metrics mae" in str(w.message)] == [Path(__file__).name]


def test_a_resume_asked_to_run_longer_says_how_to_train_further(tmp_path):
    """fit(..., max_epochs=6, resume=True) on a run of 3 epochs named the difference and no way to train on; the
    hint's steps, followed as written, start from the run's weights."""
    x, y = torch.randn(200, 4), torch.randn(200, 1)
    settings = dict(loss="mse", lr=0.01, seed=0, progress=False, doctor=False)
    trained = ds.fit(nn.Linear(4, 1), (x, y), max_epochs=3, run_dir=tmp_path / "a", **settings).model
    with pytest.raises(ValueError, match=r"run\.max_epochs: 3 in the run, 6 now\. A resume finishes a run as it was "
                                         r"set .*model\.load_state_dict\(safetensors\.torch\.load_file\('.*model\."
                                         r"safetensors'\)\), and fit it with a new run_dir$") as refused:
        ds.fit(nn.Linear(4, 1), (x, y), max_epochs=6, run_dir=tmp_path / "a", resume=True, **settings)
    model = nn.Linear(4, 1)
    model.load_state_dict(safetensors.torch.load_file(str(refused.value).split("load_file('")[1].split("')")[0]))
    assert torch.equal(model.weight, trained.weight) and torch.equal(model.bias, trained.bias)
    assert len(ds.fit(model, (x, y), max_epochs=3, run_dir=tmp_path / "b", **settings).history) == 12
    with pytest.raises(ValueError, match=r"run\.lr: 0\.01 in the run, 0\.1 now$"):   # other settings: no such hint
        ds.fit(nn.Linear(4, 1), (x, y), max_epochs=3, run_dir=tmp_path / "a", resume=True, **{**settings, "lr": 0.1})


def test_print_of_a_run_read_back_is_its_summary_not_a_dataframe_dump(tmp_path):
    """print(ds.runs.read_run(dir)) printed the dataclass: the whole history's DataFrame and config.json's dict."""
    x = torch.randn(200, 4)
    ds.fit(nn.Linear(4, 1), (x, x @ torch.ones(4, 1)), loss="mse", lr=0.01, max_epochs=2, run_dir=tmp_path / "a",
           seed=0, progress=False)
    lines = repr(ds.runs.read_run(tmp_path / "a")).splitlines()
    assert lines[0] == "RunRecord a" and "  steps: 8" in lines and "  epochs: 2" in lines
    assert "  stopped because: reached the epoch limit (2 epochs)" in lines
    assert lines[-2] == "  doctor: no problems found" and lines[-1].startswith("  (.history: 8 records, one a step")
    assert len(lines) < 15 and "DataFrame" not in "\n".join(lines) and "'format'" not in "\n".join(lines)


def test_compare_titles_a_curve_smoothed_only_when_it_was_and_names_another_model_once(tmp_path):
    """compare.html titled a 15-step loss "training loss (smoothed)" over the raw values, and a Linear against a
    Sequential filled its differences with the printout's '\\n' escapes and every parameter's shape."""
    short = pd.DataFrame({"step": range(1, 16), "loss": [3.0, 1.0] * 7 + [2.0]})
    long = pd.DataFrame({"step": range(1, 41), "loss": [3.0, 1.0] * 20})
    title = lambda runs: plots.overlay_figure(runs, "loss", "training loss", smoothed=True).axes[0].get_title()
    assert title({"a": short}) == "training loss" and title({"a": short, "b": long}) == "training loss (smoothed)"
    x, y = torch.randn(100, 5), torch.randn(100, 1)
    models = {"lin": nn.Linear(5, 1), "mlp": nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))}
    for name, model in models.items():
        ds.fit(model, (x, y), loss="mse", lr=0.01, max_epochs=1, seed=0, progress=False, doctor=False,
               run_dir=tmp_path / name)
    assert setting_differences(read_run(tmp_path / "lin"), read_run(tmp_path / "mlp")) == [
        "model.architecture 'Linear(in_features=5, out_features=1, bias=True)' in lin, 'Sequential((0): Linear("
        "in_features=5, out_features=4, bias=True) (1): ReLU() (2): Linear(in_features=4, out_features=1, bias=True))'"
        " in mlp"]


def test_a_true_false_target_is_not_explained_as_whole_numbers():
    """`descend fit ... --target insured` (True/False cells) said "whole numbers with at most 10 values are read as
    classes; --task count or --task regression treats them as numbers"."""
    assert infer_target(pd.Series([True, False, True, False]), "insured").reason == \
        "inferred: 2 classes -> binary cross-entropy (one logit)"
    assert "whole numbers with at most 10 values" in infer_target(pd.Series([0, 1, 1, 0]), "insured").reason


def test_lr_find_refuses_an_lr_it_would_ignore(tmp_path, capsys):
    """`descend lr-find DATA --target y --lr 0.1` took the flag (shared with descend fit) and swept as if it
    were not there; nothing is read when it is refused."""
    assert main(["lr-find", str(tmp_path / "absent.csv"), "--target", "y", "--lr", "0.1"]) == 2
    assert capsys.readouterr().err == ("descend: error: --lr 0.1: lr-find sweeps the learning rate itself, from "
                                       "1e-07 upward, so it takes none; leave --lr out, and give the lr it suggests "
                                       "to descend fit\n")


def test_a_loss_of_one_value_per_element_or_a_float_is_refused_with_its_fix():
    """A custom loss left unreduced said "must return a scalar tensor, got Tensor (40, 2)" and no more."""
    x, y = torch.randn(40, 3), torch.randn(40, 2)
    with pytest.raises(ValueError, match=r"got Tensor \(40, 2\); return one number for the batch: the mean over its "
                                         r"elements \(loss\.mean\(\)\)"):
        ds.fit(nn.Linear(3, 2), (x, y), loss=lambda out, target: (out - target) ** 2, max_epochs=1)
    with pytest.raises(ValueError, match=r"got float; compute it with torch operations"):
        ds.fit(nn.Linear(3, 2), (x, y), loss=lambda out, target: float(((out - target) ** 2).mean()), max_epochs=1)


def test_report_and_doctor_on_a_folder_of_runs_name_the_runs_in_it(tmp_path, capsys):
    """`descend report runs` (the folder above the runs) said only that runs is not a run directory."""
    x = torch.randn(60, 2)
    for name in ("b", "a"):
        ds.fit(nn.Linear(2, 1), (x, x.sum(1, keepdim=True)), loss="mse", lr=0.01, max_epochs=1, progress=False,
               doctor=False, run_dir=tmp_path / "runs" / name)
    (tmp_path / "runs" / "notes").mkdir()
    for command in ("report", "doctor"):
        assert main([command, str(tmp_path / "runs")]) == 2
        assert capsys.readouterr().err.rstrip().endswith(f"; it holds the runs a, b: give one of them, as "
                                                         f"{tmp_path / 'runs' / 'a'}")
