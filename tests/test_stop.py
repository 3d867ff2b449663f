"""Every stopping rule fires at the step it should, with a reason in words."""
import math
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import descend as ds
from descend import stop
from descend.core.loop import Loop, NonFiniteOrigin


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 3, generator=g)
    return X, X @ torch.tensor([1.0, -2.0, 0.5]) + 0.3


def _fit(model=None, **kw):
    X, y = _data()
    kw.setdefault("progress", False)
    return ds.fit(model or nn.Linear(3, 1), (X, y), loss="mse", **kw)


def test_max_steps_and_max_epochs():
    assert len(_fit(max_steps=7).history) == 7
    r = _fit(max_epochs=3, batch_size=16)
    assert len(r.history) == 12 and r.stop_reason == "reached the epoch limit (3 epochs)"
    r = _fit(max_epochs=3, max_steps=5, batch_size=16)
    assert len(r.history) == 5 and "step limit" in r.stop_reason
    r = _fit(stop=stop.MaxSteps(4), batch_size=16)  # one rule without a list
    assert len(r.history) == 4 and r.stop_reason == "reached the step limit (4 steps)"


def test_max_time_stops_a_long_run():
    # mini-batches: on the full batch auto's L-BFGS converges in 9 steps and stops there, long before 0.3 s
    r = _fit(max_steps=10**7, stop=[stop.MaxTime(0.3)], batch_size=16)
    assert 0.3 <= r.elapsed < 3 and "time limit" in r.stop_reason


def test_target_fires_at_first_step_at_or_below_value():
    r = _fit(lr=0.05, max_steps=2000, batch_size=64, stop=[stop.Target(0.01)])
    losses = [h["loss"] for h in r.history]
    assert losses[-1] <= 0.01 and all(v > 0.01 for v in losses[:-1])
    assert f"at step {len(losses)}" in r.stop_reason


def test_patience_counts_evaluations_and_restores_best():
    X, y = _data(n=48)
    Xv, yv = X[:16] + 3.0, y[:16] - 5.0  # a validation set the model cannot fit: val_loss rises once trained
    model = nn.Linear(3, 1)
    r = ds.fit(model, (X, y), val=(Xv, yv), loss="mse", lr=0.05, batch_size=16, max_epochs=200, progress=False,
               stop=[stop.Patience(3, restore_best=True)])
    evaluated = [h for h in r.history if "val_loss" in h]
    best = min(evaluated, key=lambda h: h["val_loss"])
    after_best = [h for h in evaluated if h["step"] > best["step"]]
    assert len(after_best) == 3 and all(h["val_loss"] >= best["val_loss"] for h in after_best)
    assert r.best["step"] == best["step"]
    with torch.no_grad():
        restored = nn.functional.mse_loss(model(Xv).squeeze(-1), yv).item()
    assert restored == pytest.approx(best["val_loss"], rel=1e-6)


def test_patience_in_max_mode_on_a_metric():
    X, y = _data(n=48)
    r = ds.fit(nn.Linear(3, 1), (X, y), val=(X, y), loss="mse", metrics=["rmse"], lr=1e-4, batch_size=48,
               max_epochs=30, progress=False, stop=[stop.Patience(2, monitor="val_rmse", mode="max")])
    # rmse falls every epoch, so in max mode it never improves after the first evaluation: stop at epoch 3
    assert len(r.history) == 3 and "val_rmse did not improve" in r.stop_reason


def test_patience_on_val_without_validation_is_an_error():
    with pytest.raises(ValueError, match="no validation data"):
        _fit(max_steps=5, stop=[stop.Patience(2, monitor="val_loss")])


def _first_step_where(history, window, test):
    """The first step whose last `window` records pass `test`, computed from the history itself."""
    return next(i + 1 for i in range(window - 1, len(history)) if test(history[i + 1 - window:i + 1]))


def test_converged_by_relative_change_and_by_gradient_norm():
    r = _fit(optimizer="lbfgs", lr=1.0, batch_size=64, max_steps=500, stop=[stop.Converged(rtol=1e-9, window=3)])
    small = lambda recs: abs(recs[-1]["loss"] - recs[0]["loss"]) / max(abs(recs[0]["loss"]), 1e-12) < 1e-9
    expected = _first_step_where(r.history, 4, small)  # window 3: a loss against the one 3 steps before it
    assert r.stop_reason.startswith("converged: loss changed") and len(r.history) == expected
    assert r.stop_reason.endswith(f"(step {expected})") and r.history[0]["loss"] > r.history[-1]["loss"]

    r = _fit(optimizer="lbfgs", lr=1.0, batch_size=64, max_steps=500, stop=[stop.Converged(rtol=None, gtol=1e-4,
                                                                                          window=2)])
    expected = _first_step_where(r.history, 2, lambda recs: max(h["grad_norm"] for h in recs) < 1e-4)
    assert r.stop_reason.startswith("converged: gradient norm") and len(r.history) == expected
    assert r.history[-1]["grad_norm"] < 1e-4 < r.history[0]["grad_norm"]


class _Scripted:
    """A task whose steps report the losses of a script, so a rule can be followed step by step."""

    epoch = 0

    def __init__(self, losses):
        self.losses = iter(losses)

    def step(self):
        return {"loss": next(self.losses), "grad_norm": 1.0}

    def evaluate(self):
        return {}

    def snapshot(self):
        return None

    def restore(self, snapshot):
        pass

    non_finite_origin = NonFiniteOrigin("loss", "scripted")


def _run_script(losses, rules):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    return Loop(_Scripted(losses), opt, stop.with_defaults([*rules, stop.MaxSteps(len(losses))])).run()


def test_patience_min_delta_counts_small_improvements_as_none():
    losses = [10.0, 9.5, 9.3, 9.25, 9.21, 9.0, 8.0, 7.0]
    state = _run_script(losses, [stop.Patience(3, min_delta=0.3)])
    # 9.3, 9.25 and 9.21 each improve on 9.5 by less than 0.3: three evaluations without improvement
    assert state.step == 5
    assert state.stop_reason == "loss did not improve by more than 0.3 for 3 evaluations (best 9.5 at step 2)"
    assert _run_script(losses, [stop.Patience(3)]).step == len(losses)  # without min_delta each one counts


def test_target_on_a_metric_stops_at_the_first_evaluation_that_reaches_it():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 2, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    r = ds.fit(nn.Linear(2, 2), (X[:150], y[:150]), val=(X[150:], y[150:]), loss="cross_entropy",
               metrics=["accuracy"], optimizer="sgd", lr=0.02, batch_size=50, max_epochs=200, progress=False,
               doctor=False, stop=[stop.Target(0.96, monitor="val_accuracy", mode="max")])
    evaluated = [h for h in r.history if "val_accuracy" in h]
    assert len(evaluated) >= 2 and all(h["val_accuracy"] < 0.96 for h in evaluated[:-1])
    assert evaluated[-1]["val_accuracy"] >= 0.96 and evaluated[-1] is r.history[-1]
    assert r.stop_reason == (f"val_accuracy reached the target 0.96 (got {evaluated[-1]['val_accuracy']:.6g}) "
                             f"at step {len(r.history)}")


def test_a_monitored_value_no_evaluation_gives_is_named_at_the_first_evaluation():
    X, y = _data(n=48)
    with pytest.raises(ValueError, match=r"Patience monitors 'val_acuracy', but the evaluation gives only "
                                         r"val_loss, val_mae; did you mean val_accuracy\? add metrics="):
        ds.fit(nn.Linear(3, 1), (X, y), val=(X, y), metrics=["mae"], max_epochs=5, progress=False,
               stop=[stop.Patience(2, monitor="val_acuracy")])
    with pytest.raises(ValueError, match=r"Target monitors 'val_accuracy', but the evaluation gives only val_loss; "
                                         r"add metrics=\['accuracy'\] to fit to compute it"):
        ds.fit(nn.Linear(3, 1), (X, y), val=(X, y), max_epochs=5, progress=False,
               stop=[stop.Target(0.9, monitor="val_accuracy", mode="max")])


def test_a_monitored_training_value_no_record_held_is_warned_about():
    with pytest.warns(UserWarning, match=r"Target monitored 'los', which no record held, so it never fired; "
                                         r"records hold loss, grad_norm, step, epoch, lr"):
        r = _fit(max_steps=3, stop=[stop.Target(0.1, monitor="los")])
    assert r.stop_reason == "reached the step limit (3 steps)"


def test_a_run_cut_short_by_an_error_does_not_warn_about_unseen_monitors(recwarn):
    class Prune(ds.loop.Callback):   # what a tuning pruner does at the first evaluation
        def on_evaluate(self, state, record):
            raise RuntimeError("pruned")
    X, y = _data()
    with pytest.raises(RuntimeError, match="pruned"):
        ds.fit(nn.Linear(3, 1), (X, y), val=(X, y), max_epochs=5, progress=False, callbacks=[Prune()],
               stop=[stop.Patience(2)])
    assert not [w for w in recwarn if "never fired" in str(w.message)]


def test_non_finite_in_a_tensor_dataset_is_found_before_training():
    X, y = _data()
    X[37, 1] = float("nan")
    with pytest.raises(ValueError, match="train inputs contains NaN at row 37, column 1"):
        ds.fit(nn.Linear(3, 1), DataLoader(TensorDataset(X, y), batch_size=16), loss="mse", progress=False)
    y[40] = float("inf")
    with pytest.raises(ValueError, match="train targets contains Inf at row 40"):
        ds.fit(nn.Linear(3, 1), TensorDataset(X.nan_to_num(), y), loss="mse", progress=False)


class _Rows(Dataset):
    """A Dataset that is not a TensorDataset: fit can only check it batch by batch."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


def test_non_finite_targets_of_the_first_batch_are_found_before_training():
    X, y = _data()
    y[2] = float("nan")
    with pytest.raises(ValueError, match=r"train targets \(first batch\) contains NaN at row 2"):
        ds.fit(nn.Linear(3, 1), _Rows(X, y), loss="mse", batch_size=16, progress=False)


def test_non_finite_names_the_input_batch():
    X, y = _data()
    X[37, 1] = float("nan")
    # a Dataset other than TensorDataset is checked on its first batch only: a NaN in the third is met in training
    loader = DataLoader(_Rows(X, y), batch_size=16)
    r = ds.fit(nn.Linear(3, 1), loader, loss="mse", max_steps=5, progress=False)
    assert len(r.history) == 3 and math.isnan(r.history[-1]["loss"])
    assert r.stop_reason == "non-finite values at step 3: the input batch: inputs row 5 of the batch is not finite"


def test_non_finite_names_the_loss():
    def log_of_negative(output, target):
        return torch.log(nn.functional.mse_loss(output.squeeze(-1), target) - 1e6)  # NaN from finite values

    model = nn.Linear(3, 1)
    before = model.weight.detach().clone()
    r = ds.fit(model, _data(), loss=log_of_negative, max_steps=5, progress=False)
    assert r.stop_reason == ("non-finite values at step 1: the loss (inputs and model output were finite); check the "
                             "loss for log(0) or division by 0")
    assert len(r.history) == 1 and torch.equal(model.weight, before)


def test_non_finite_says_when_huge_outputs_overflowed_the_loss():
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.fill_(1e20)   # outputs near 1e20 are finite in float32; their squares are not
    r = ds.fit(model, _data(), loss="mse", optimizer="sgd", lr=0.1, max_steps=5, progress=False)
    said = re.fullmatch(r"non-finite values at step 1: the loss \(inputs and model output were finite, but outputs "
                        r"reached (\S+), which overflows it\); the run was diverging: lower the learning rate, or "
                        r"standardize the inputs", r.stop_reason)
    with torch.no_grad():
        assert 1e20 < float(said.group(1)) <= float(model(_data()[0]).abs().max()) * 1.001


class _Log(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return torch.log(self.linear(x) - self.linear(x).detach())  # log(0) = -inf


def test_non_finite_names_the_model_output():
    r = _fit(_Log(), max_steps=5)
    assert "the model output" in r.stop_reason and "step 1" in r.stop_reason


class _SqrtAtZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1))
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        return self.linear(x) + torch.sqrt(self.scale)  # finite value, infinite gradient at 0


def test_non_finite_names_the_parameter_whose_gradient_blew_up():
    model = _SqrtAtZero()
    before = model.linear.weight.detach().clone()
    r = _fit(model, max_steps=5)
    assert "gradient of parameter 'scale'" in r.stop_reason
    assert torch.equal(model.linear.weight, before)  # the poisoned update was not applied


def test_unknown_rule_object_is_rejected():
    with pytest.raises(ValueError, match="stop= takes"):
        _fit(max_steps=3, stop=["patience"])


def test_non_finite_quotes_the_tasks_origin_and_leaves_its_code():
    state = _run_script([1.0, math.nan, 0.5], [])
    assert state.stop_code == "non_finite" and state.stop_reason == "non-finite values at step 2: scripted"
    assert _run_script([1.0, 0.9], []).stop_code == "max_steps"


def test_patience_without_min_delta_says_so_plainly_and_says_when_the_best_weights_are_kept():
    losses = [10.0, 9.0, 9.5, 9.4, 9.2]
    assert _run_script(losses, [stop.Patience(3)]).stop_reason == \
        "loss did not improve for 3 evaluations (best 9 at step 2)"
    assert _run_script(losses, [stop.Patience(3, restore_best=True)]).stop_reason == \
        "loss did not improve for 3 evaluations (best 9 at step 2; the model holds the weights of that step)"


def test_patience_does_not_count_the_evaluations_of_autos_lr_sweep():
    """The sweep raises the lr on purpose and then returns to kept weights: Patience(1) waits for the run itself."""
    torch.manual_seed(0)
    x = torch.randn(2000, 8)
    y = (x[:, :3].sum(1) + 0.3 * torch.randn(2000)).unsqueeze(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    result = ds.fit(model, (x[:1600], y[:1600]), val=(x[1600:], y[1600:]), stop=ds.stop.Patience(1),
                    max_epochs=20, batch_size=32, eval_every=5, seed=0, doctor=False)
    swept = [h["step"] for h in result.history if h.get("sweep")]
    evaluated_in_sweep = [h["step"] for h in result.history if h.get("sweep") and "val_loss" in h]
    assert len(evaluated_in_sweep) >= 2          # the sweep was evaluated, and its val_loss rose at its end
    assert result.stop_code == "patience" and result.history[-1]["step"] > swept[-1]
    best_step = int(result.stop_reason.split("at step ")[1].rstrip(")"))
    assert best_step > swept[-1]                 # the best it waited on is the run's, not the sweep's
