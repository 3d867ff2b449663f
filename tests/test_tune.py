"""descend.tune: Optuna searches, fit trains, pruning goes through fit's evaluations, results land in files."""
import json
import math

import optuna
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_diabetes

import descend as ds
from descend.core.errors import DescendError, DescendTypeError
from descend.apps.tuning import Choice, Float, Int, ReportToTrial
from descend.apps.tuning.tabular import TABULAR_SPACE, space_for

X_ALL, Y_ALL = (torch.tensor(a, dtype=torch.float32) for a in load_diabetes(return_X_y=True))
Y_ALL = (Y_ALL - Y_ALL.mean()) / Y_ALL.std()
TRAIN, VAL = (X_ALL[:300], Y_ALL[:300]), (X_ALL[300:], Y_ALL[300:])


def mlp_spec(params: dict) -> dict:
    """A small regression MLP on the diabetes data, built afresh from the drawn settings."""
    torch.manual_seed(0)
    width = params.get("width", 16)
    model = torch.nn.Sequential(torch.nn.Linear(10, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))
    return dict(model=model, train=TRAIN, val=VAL, lr=params["lr"], batch_size=32, max_steps=20, eval_every=5,
                seed=0)


def quadratic(params):
    return (params["x"] - 1.5) ** 2 + params["n"]


def test_search_finds_the_minimum_of_a_quadratic_and_the_table_matches_the_study():
    result = ds.tune(quadratic, {"x": (-5.0, 5.0), "n": (0, 3)}, 40, sampler="tpe", seed=1, progress=False)
    assert result.best_params["n"] == 0
    assert abs(result.best_params["x"] - 1.5) < 0.5
    assert result.best_value == pytest.approx((result.best_params["x"] - 1.5) ** 2, abs=0)
    assert len(result.trials) == 40 and set(result.trials["state"]) == {"COMPLETE"}
    values = [quadratic({"x": x, "n": n}) for x, n in zip(result.trials["x"], result.trials["n"])]
    assert list(result.trials["value"]) == values
    assert result.best_value == min(values)


def test_same_seed_draws_the_same_trials():
    a = ds.tune(quadratic, {"x": Float(-5, 5), "n": Int(0, 3)}, 12, seed=7, progress=False)
    b = ds.tune(quadratic, {"x": Float(-5, 5), "n": Int(0, 3)}, 12, seed=7, progress=False)
    c = ds.tune(quadratic, {"x": Float(-5, 5), "n": Int(0, 3)}, 12, seed=8, progress=False)
    assert list(a.trials["x"]) == list(b.trials["x"])
    assert list(a.trials["x"]) != list(c.trials["x"])


@pytest.mark.slow
def test_fit_settings_are_trained_and_best_json_reproduces_the_best_trial(tmp_path):
    space = {"lr": Float(1e-3, 1e-1, log=True), "width": Int(4, 32, log=True)}
    result = ds.tune(mlp_spec, space, 5, pruner="none", out=tmp_path, progress=False)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["params"] == result.best_params and best["value"] == result.best_value
    assert best["trials"] == {"complete": 5} and best["metric"] == "val_loss"
    table = pd.read_csv(tmp_path / "trials.csv")
    assert len(table) == 5 and table["value"].min() == result.best_value
    assert set(table["steps"]) == {20}
    rerun = ds.fit(**mlp_spec(best["params"]), progress=False)   # the saved settings give the same run again
    assert min(r["val_loss"] for r in rerun.history if "val_loss" in r) == best["value"]
    for name in ("history.png", "importance.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # BruteForceSampler
def test_a_poor_trial_is_pruned_at_its_first_evaluation_through_fit():
    def run(lr):
        return ds.fit(**mlp_spec({"lr": lr}), progress=False).history
    good, bad = run(0.05), run(1e-6)
    good_vals = [r["val_loss"] for r in good if "val_loss" in r]
    bad_first = next(r["val_loss"] for r in bad if "val_loss" in r)
    assert max(good_vals) < bad_first       # the threshold below separates them at every evaluation
    pruner = optuna.pruners.ThresholdPruner(upper=(max(good_vals) + bad_first) / 2)
    result = ds.tune(mlp_spec, {"lr": Choice([0.05, 1e-6])}, 2, sampler=optuna.samplers.BruteForceSampler(seed=0),
                     pruner=pruner, progress=False)
    trials = {t.params["lr"]: t for t in result.study.trials}
    assert trials[1e-6].state == optuna.trial.TrialState.PRUNED
    assert trials[1e-6].intermediate_values == {5: bad_first}     # stopped after 5 of 20 steps
    assert trials[0.05].state == optuna.trial.TrialState.COMPLETE
    assert trials[0.05].value == min(good_vals)
    assert sorted(trials[0.05].intermediate_values) == [5, 10, 15, 20]


def test_report_to_trial_ignores_records_without_the_metric():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    trial = study.ask()
    callback = ReportToTrial(trial, "val_accuracy")
    callback.on_evaluate(None, {"val_loss": 3.0})
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}
    with pytest.raises(optuna.TrialPruned, match="val_accuracy 0.5"):
        callback.on_evaluate(type("S", (), {"step": 7})(), {"val_accuracy": 0.5})


def test_metric_and_direction_pick_the_maximum_of_a_history_metric():
    def spec(params):
        return {**mlp_spec(params), "metrics": ["mae"]}
    result = ds.tune(spec, {"lr": Choice([0.05])}, 1, metric="val_mae", direction="maximize", progress=False)
    history = ds.fit(**spec({"lr": 0.05}), progress=False).history
    assert result.best_value == max(r["val_mae"] for r in history if "val_mae" in r)


def test_objective_can_take_the_trial_and_return_a_number():
    seen = []

    def objective(params, trial):
        seen.append(trial.number)
        return params["x"]
    result = ds.tune(objective, {"x": [3, 1, 2]}, 6, seed=0, progress=False)
    assert seen == list(range(6)) and result.best_value == 1


class Recorder:
    def __init__(self):
        self.calls = 0

    def __call__(self, params):
        self.calls += 1
        return 0.0


@pytest.mark.parametrize("space, kwargs, message", [
    ({}, {}, "search space is empty"),
    ({"lr": Float(0.1, 0.01)}, {}, "'lr': low 0.1 > high 0.01"),
    ({"width": (64, 8)}, {}, "'width': low 64 > high 8"),
    ({"lr": Float(0.0, 0.1, log=True)}, {}, "log range needs low > 0"),
    ({"width": Int(1.5, 8)}, {}, "low must be an integer"),
    ({"schedule": []}, {}, "at least one option"),
    ({"x": (0.0, 1.0)}, {"storage": "sqlite:////no/such/folder/tune.db"}, "cannot be opened"),
    ({"x": (0.0, 1.0)}, {"storage": "tune.db"}, "must be a database URL"),
    ({"x": (0.0, 1.0)}, {"sampler": "grid"}, "unknown sampler 'grid'"),
    ({"x": (0.0, 1.0)}, {"pruner": "asap"}, "valid pruners: asha, hyperband, median, none"),
    ({"x": (0.0, 1.0)}, {"workers": 2}, "workers > 1 need a shared storage"),
    ({"x": (0.0, 1.0)}, {"n_trials": 0}, "n_trials must be a positive integer"),
])
def test_bad_input_is_refused_before_any_trial(space, kwargs, message, tmp_path):
    recorder = Recorder()
    kwargs = {"n_trials": 3, **kwargs}
    with pytest.raises(DescendError, match=message):
        ds.tune(recorder, space, progress=False, out=tmp_path / "out", **kwargs)
    assert recorder.calls == 0 and not (tmp_path / "out").exists()


def test_an_objective_with_a_wrong_signature_or_result_is_named():
    with pytest.raises(DescendTypeError, match="must take \\(params\\) or \\(params, trial\\)"):
        ds.tune(lambda: 0.0, {"x": (0.0, 1.0)}, 1, progress=False)
    with pytest.raises(DescendTypeError, match="returned str"):
        ds.tune(lambda p: "low", {"x": (0.0, 1.0)}, 1, progress=False)
    with pytest.raises(DescendTypeError, match="do not match fit\\(\\)"):
        ds.tune(lambda p: {**mlp_spec({"lr": 0.1}), "learning_rate": 1}, {"x": (0.0, 1.0)}, 1, progress=False)


def test_workers_refuse_an_objective_that_cannot_reach_another_process(tmp_path):
    with pytest.raises(DescendError, match="objective defined at module level"):
        ds.tune(lambda p: 0.0, {"x": (0.0, 1.0)}, 2, storage=f"sqlite:///{tmp_path / 't.db'}", workers=2,
                progress=False)
    assert not (tmp_path / "t.db").exists()


def test_a_study_where_no_trial_completes_says_so():
    with pytest.raises(DescendError, match="no trial .* completed .*'fail': 2"):
        ds.tune(lambda p: math.nan, {"x": (0.0, 1.0)}, 2, progress=False)


def test_the_tabular_space_offers_no_batch_larger_than_the_training_rows():
    """On 100 rows 128, 256 and 512 are each the whole set: one choice of 100 stands for them."""
    space, note = space_for(100)
    assert space["batch_size"].options == [32, 64, 100] and space["lr"] == TABULAR_SPACE["lr"]
    assert note == "batch sizes 128, 256, 512 capped at the 100 training rows (a larger batch is the whole set)"
    assert space_for(20)[0]["batch_size"].options == [20]
    assert space_for(512) == (TABULAR_SPACE, "")


def test_a_trial_that_raises_gives_one_exception_naming_the_trial_not_optunas_traceback(capsys, caplog):
    """The user's error keeps its type and gains a note with the trial and its settings; Optuna's "Trial 0 failed"
    warnings (with the whole traceback) are not shown beside it."""
    def broken(params):
        raise KeyError("widht")

    with pytest.raises(KeyError) as raised:
        ds.tune(broken, {"x": (0.0, 1.0)}, 3, progress=False)
    note = raised.value.__notes__[0]
    assert note.startswith("descend.tune: raised in trial 0 (x=0.") and "no later trial ran" in note
    assert "Trial 0 failed" not in capsys.readouterr().err + caplog.text


@pytest.mark.parametrize("settings, metric, message", [
    ({}, "val_acc", "give only val_loss; did you mean val_accuracy\\? add metrics=\\['accuracy'\\]"),
    ({"metrics": ["mae"]}, "val_mea", "give only val_loss, val_mae; did you mean val_mse\\?"),
    ({"val": None}, "val_loss", "have no val=; give val="),
])
def test_a_metric_the_runs_cannot_record_is_refused_before_trial_zero_trains(settings, metric, message):
    made = []

    def spec(params):
        made.append(mlp_spec(params)["model"])
        return {**mlp_spec(params), **settings, "model": made[-1]}

    with pytest.raises(DescendError, match=message):
        ds.tune(spec, {"lr": (1e-3, 1e-1)}, 2, metric=metric, progress=False)
    untrained = mlp_spec({"lr": 0.1})["model"]   # the same seed: the weights every trial starts from
    assert len(made) == 1 and torch.equal(made[0][0].weight, untrained[0].weight)
