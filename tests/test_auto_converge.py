"""Auto's L-BFGS on full-batch problems runs until it has converged (fit/auto/converge.py) and says why it stopped."""
import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from torch import nn

import descend as ds
from descend.fit.auto import converge
from descend.core.loop import LoopState
from test_auto import Crash

NOISE = 0.05


def sin_problem():
    """60 noisy points of sin(2x) and a 1-64-64-1 tanh MLP: 20 L-BFGS steps leave it far from converged."""
    torch.manual_seed(0)
    x = torch.rand(60, 1) * 6 - 3
    y = torch.sin(2 * x) + NOISE * torch.randn(60, 1)
    model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    return model, (x, y)


def logistic_problem(seed=0, n=300, features=5):
    """Overlapping classes drawn from a logistic model (a finite unregularized optimum), float64."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g, dtype=torch.float64)
    p = torch.sigmoid(x @ torch.randn(features, generator=g, dtype=torch.float64) + 0.5)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < p).to(torch.float64)
    return nn.Linear(features, 1, dtype=torch.float64), (x, y[:, None])


def sklearn_optimum(x, y) -> float:
    """Mean log loss at scikit-learn's unregularized optimum, solved to tol 1e-12."""
    found = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x.numpy(), y.numpy().ravel())
    return log_loss(y.numpy().ravel(), found.predict_proba(x.numpy())[:, 1])


def bce(model, data) -> float:
    with torch.no_grad():
        return float(nn.functional.binary_cross_entropy_with_logits(model(data[0]), data[1]))


@pytest.mark.slow
def test_with_no_limit_the_sin_fit_runs_until_converged_and_reaches_the_noise_level():
    model, data = sin_problem()
    result = ds.fit(model, data, progress=False)
    assert result.choice.optimizer == "lbfgs" and result.stop_code == "converged"
    assert result.stop_reason.startswith("converged: ")
    assert 20 * 20 < len(result.history) < converge.CAP_STEPS   # far past fit's old default of 20 steps
    final = result.history[-1]["loss"]
    assert 0.25 * NOISE ** 2 < final < 1.5 * NOISE ** 2, final   # 20 steps ended at 0.054, 20x the noise variance
    assert result.choice.limit["max_steps"] == converge.CAP_STEPS
    assert "until converged (at most 10,000 steps or 600 s)" in result.choice.line()


def test_logistic_regression_reaches_sklearns_unregularized_optimum_to_1e_6_relative():
    model, data = logistic_problem()
    result = ds.fit(model, data, loss="bce", batch_size=len(data[0]), progress=False)
    fstar = sklearn_optimum(*data)
    assert result.choice.optimizer == "lbfgs" and result.stop_code == "converged"
    assert abs(bce(model, data) - fstar) <= 1e-6 * fstar
    assert len(result.history) < 100


def test_a_given_limit_is_kept_exactly():
    model, data = sin_problem()
    result = ds.fit(model, data, max_steps=25, progress=False)
    assert len(result.history) == 25 and result.stop_code == "max_steps"
    assert result.choice.limit["cap"] == "the given limit" and "max_steps" not in result.choice.limit
    model, data = sin_problem()
    result = ds.fit(model, data, max_epochs=7, progress=False)
    assert len(result.history) == 7 and result.stop_code == "max_epochs"


def test_a_converged_run_with_a_longer_given_limit_stops_early_with_its_reason():
    model, data = logistic_problem(seed=1)
    result = ds.fit(model, data, loss="bce", batch_size=len(data[0]), max_steps=5000, progress=False)
    assert result.stop_code == "converged" and len(result.history) < 100
    assert result.stop_reason.startswith("converged: ")
    losses = [r["loss"] for r in result.history]
    assert sum(a == b for a, b in zip(losses, losses[1:])) <= converge.STILL - 1   # no run of no-op steps


def test_a_problem_that_does_not_converge_within_the_cap_stops_at_it(monkeypatch):
    monkeypatch.setattr(converge, "CAP_STEPS", 40)
    model, data = sin_problem()
    result = ds.fit(model, data, progress=False)
    assert len(result.history) == 40 and result.stop_code == "max_steps"
    assert result.stop_reason == "reached the step limit (40 steps)"


def rule_after(losses, norms, ftol=1e-6):
    """The Converged rule's verdict after it has seen `losses` and `norms`, one step each, and the step it fired."""
    rule = converge.Converged(ftol)
    state = LoopState(task=None, optimizer=None)
    rule.setup(state)
    for step, (loss, norm) in enumerate(zip(losses, norms), 1):
        state.step = step
        reason = rule.check(state, {"loss": loss, "grad_norm": norm})
        if reason is not None:
            return reason, step
    return None, None


def test_each_convergence_test_fires_on_its_own_and_names_itself():
    reason, step = rule_after([1.0, 0.5, 0.3], [1.0, 1.0, 2e-6])
    assert step == 3 and reason.startswith("converged: gradient norm 2.00e-06")
    reason, step = rule_after([1.0, 0.5, 0.4, 0.4, 0.4], [1.0] * 5)
    assert step == 5 and "can no longer move the weights" in reason
    falling = [1.0 - 1e-8 * i for i in range(20)]   # 1e-8 a step: below ftol 1e-6 a step
    reason, step = rule_after(falling, [1.0] * 20)
    assert step == converge.WINDOW + 1 and "over 10 steps" in reason
    fast = [0.5 ** i for i in range(30)]
    assert rule_after(fast, [1.0] * 30) == (None, None)


def test_ftol_follows_the_parameters_precision():
    assert converge.ftol_for(torch.float32) == pytest.approx(4 * 2.0 ** -23)
    assert converge.ftol_for(torch.float64) == converge.FTOL_FLOOR


def noisy_sin_with_validation():
    """The sin fit with noise 0.3 and 200 validation points: run to convergence it overfits."""
    model, (x, _) = sin_problem()
    g = torch.Generator().manual_seed(5)
    xv = torch.rand(200, 1, generator=g) * 6 - 3
    val = (xv, torch.sin(2 * xv) + 0.3 * torch.randn(200, 1, generator=g))
    return model, (x, torch.sin(2 * x) + 0.3 * torch.randn(60, 1, generator=g)), val


def test_with_validation_data_the_run_keeps_the_weights_of_its_best_evaluation():
    model, train, val = noisy_sin_with_validation()
    result = ds.fit(model, train, val=val, progress=False)
    assert result.choice.limit["val_patience"] == converge.VAL_PATIENCE
    assert "val_loss stalls for 100 steps" in result.choice.line()
    best = result.best
    assert result.stop_code in ("patience", "converged") and best["step"] < len(result.history)
    with torch.no_grad():
        kept = float(((model(val[0]) - val[1]) ** 2).mean())
    assert kept == pytest.approx(best["val_loss"], rel=1e-6)
    assert kept < min(r["val_loss"] for r in result.history[-10:])


def test_a_killed_and_resumed_run_to_convergence_is_bit_identical(tmp_path):
    """With validation data, so that the checkpoint holds the convergence tests' and Patience's memory."""
    settings = dict(seed=1, progress=False, checkpoint_every=25)
    model, train, val = noisy_sin_with_validation()
    reference = ds.fit(model, train, val=val, **settings)
    assert len(reference.history) > 80 and reference.choice.limit["max_steps"] == converge.CAP_STEPS
    run_dir = str(tmp_path / "run")
    model, train, val = noisy_sin_with_validation()
    with pytest.raises(RuntimeError, match="simulated crash"):
        ds.fit(model, train, val=val, run_dir=run_dir, callbacks=[Crash(60)], **settings)
    model, train, val = noisy_sin_with_validation()
    resumed = ds.fit(model, train, val=val, run_dir=run_dir, resume=True, **settings)
    assert resumed.history == reference.history and resumed.stop_reason == reference.stop_reason
    assert resumed.best == reference.best
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 reference.model.state_dict().values()))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["auto"]["limit"] == reference.choice.to_dict()["limit"]


def test_the_doctor_says_a_line_search_run_stopped_while_its_loss_fell_fast():
    """20 steps of the sin fit end at 0.054, beating a linear model on the same rows (so the reference-based test
    stays silent) while each step still takes 0.007 off the loss."""
    model, data = sin_problem()
    result = ds.fit(model, data, max_epochs=20, progress=False)
    found = [f for f in result.findings if f.code == "not_converged"]
    assert len(found) == 1 and found[0].severity == "warning"
    assert "still falling fast" in str(found[0]) and "leave max_epochs and max_steps out" in str(found[0])
    assert found[0].change == {"max_epochs": 80}


@pytest.mark.parametrize("batch_size", [300, 50])
def test_a_named_lbfgs_stops_once_converged_on_a_full_batch_only(batch_size):
    model, data = logistic_problem(seed=3)
    result = ds.fit(model, data, loss="bce", optimizer="lbfgs", batch_size=batch_size, max_steps=400,
                    progress=False, doctor=False)
    if batch_size == 300:   # the full batch: no-op steps until step 400 before
        assert result.stop_code == "converged" and len(result.history) < 100
        assert abs(bce(model, data) - sklearn_optimum(*data)) <= 1e-6 * sklearn_optimum(*data)
    else:   # mini-batches: no convergence test applies (this run ends in NaN, the known line_search_on_batches)
        assert result.stop_code != "converged"


def small_tanh_problem(rows=60, width=16):
    """sin(x0) + x1 / 2 on 3 inputs and a 3-16-1 tanh MLP: L-BFGS converges in a few hundred steps."""
    torch.manual_seed(0)
    x = torch.randn(rows, 3)
    y = (x[:, :1].sin() + 0.5 * x[:, 1:2]).squeeze(-1)
    return nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 1)), (x, y)


def test_a_run_until_converged_shows_no_step_total_and_its_records_say_what_replaced_the_default(tmp_path, capsys):
    """The progress lines count steps with no made-up total (the cap once made it /10000, and a 607-step run
    printed no line at all); config.json and the report say that auto's limit replaced max_epochs' default."""
    model, data = small_tanh_problem()
    result = ds.fit(model, data, progress=True, run_dir=str(tmp_path / "run"))
    steps = len(result.history)
    assert result.stop_code == "converged" and 300 < steps < 1000
    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == [str(n) for n in range(100, steps, 100)]
    assert progress[0].startswith("step 100  epoch 100  loss ")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["run"]["max_epochs"] == 20 and config["auto"]["limit"]["replaces"] == "max_epochs"
    assert config["auto"]["line"] == result.choice.line()
    record = ds.runs.read_run(tmp_path / "run")
    assert ["max_epochs", "20 (not used: auto's limit replaced it, see chosen)"] in record.settings_rows()
    assert ["chosen", result.choice.line()] in record.summary_rows()


def test_overfitting_under_autos_patience_does_not_ask_for_the_patience_auto_already_used():
    # 161 weights on 50 rows overfit 10 validation rows long before L-BFGS reaches float32's floor; at width 16 the
    # run ended either way (converged or the patience) by the machine's rounding
    model, (x, y) = small_tanh_problem(width=32)
    result = ds.fit(model, (x[10:], y[10:]), val=(x[:10], y[:10]), progress=False)
    assert result.stop_reason == (f"val_loss did not improve for 100 evaluations (best "
                                  f"{result.best['val_loss']:.6g} at step {result.best['step']}; the model holds "
                                  f"the weights of that step)")
    overfitting = [f for f in result.findings if f.code == "overfitting"]
    (finding,) = overfitting   # the patience's wait cost steps, not the result: nothing to change, no warning
    assert finding.severity == "info" and finding.change == {} and finding.evidence["kept_step"] == result.best["step"]
    assert f"the model holds step {result.best['step']}'s weights, its best evaluation" in finding.message
    assert finding.fix.startswith("those steps were the stop rule's wait to see the best pass, nothing to change; a "
                                  "lower validation loss than theirs needs more rows")
    assert "Patience(5" not in str(finding) and "weight_decay=" not in str(finding)
