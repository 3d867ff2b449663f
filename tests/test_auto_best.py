"""Auto's first-order run with validation data ends with the weights of its lowest val_loss evaluation (best.py)."""
import pytest
import torch
from torch import nn

import descend as ds
from descend.fit import losses
from descend.fit.auto.best import standard_errors
from test_auto import Crash


def sparse_logistic(seed=0):
    """A linear classifier on 120 rows of 100 features of which 3 matter: it overfits within fit's 20 epochs."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.zeros(100)
    weights[:3] = 1.0

    def rows(n):
        x = torch.randn(n, 100, generator=g)
        return x, (x @ weights + 0.5 * torch.randn(n, generator=g) > 0).float()
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(100, 1), nn.Flatten(0)), rows(120), rows(200)


def smooth_regression():
    """A tanh MLP on a smooth target with plenty of rows: it does not overfit, validation falls to the end."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 5, generator=g)
    y = torch.tanh(x @ torch.randn(5, 1, generator=g)) + 0.05 * torch.randn(600, 1, generator=g)
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)), (x[:400], y[:400]), (x[400:], y[400:])


def val_loss(model, val, loss):
    model.eval()
    with torch.no_grad():
        return float(losses.get(loss)(model(val[0]), val[1]))


def evaluations(result):
    return [(r["step"], r["val_loss"]) for r in result.history if "val_loss" in r]


def test_an_overfitting_run_ends_with_the_weights_of_its_lowest_validation_loss():
    model, train, val = sparse_logistic()
    result = ds.fit(model, train, loss="bce", val=val, batch_size=16, seed=0, progress=False)
    scored = evaluations(result)
    best_step, best = min(scored, key=lambda s: s[1])
    assert best_step < scored[-1][0] and scored[-1][1] > 1.2 * best   # validation rose after its lowest point
    assert val_loss(result.model, val, "bce") == pytest.approx(best, rel=1e-6)
    assert f"the model holds the weights of step {best_step}, whose val_loss {best:.6g}" in result.stop_reason
    assert "standard errors higher over the validation rows" in result.stop_reason
    kept = [r["step"] for r in result.history if r.get("kept_best")]
    assert kept[-1] == best_step and kept == sorted(kept)
    assert result.best["step"] == best_step
    assert result.choice.limit == {"keeps_best": "val_loss"}
    assert ("keeping the weights of its lowest val_loss evaluation if the last ones score worse beyond the "
            "validation rows' noise") in result.choice.line()
    assert "the sweep ended as it used its share of the run (25 steps)" in result.choice.line()   # said once
    overfit = next(f for f in result.findings if f.code == "overfitting")   # auto kept the best, the run went on:
    last = scored[-1][0]
    assert last - best_step > best_step   # most of the run came after the kept weights: stopping near them saves it
    assert overfit.severity == "warning" and overfit.change == {"patience": 5}
    assert overfit.evidence["kept_step"] == best_step and overfit.evidence["restored_best"]
    assert overfit.message.endswith(f"; the model holds step {best_step}'s weights, its best evaluation, so the "
                                    f"{last - best_step} steps after them ({(last - best_step) / last:.0%} of the "
                                    f"run) cost time, not the result")
    assert overfit.fix.startswith("stop=[Patience(5, restore_best=True)] ends the run five evaluations after its best "
                                  "and keeps the same weights; a lower validation loss than theirs needs more rows")
    assert "went on past them" not in str(overfit) and "--weight-decay" not in overfit.fix



def test_overfitting_after_a_callers_restoring_patience_says_the_wait_cost_steps_and_asks_for_nothing():
    """The tables' fold runs' case: the caller's Patience put the best weights back, so weight decay (once the
    advice, with its flag) is no fix the run showed; the finding is info and changes nothing."""
    model, train, val = sparse_logistic()
    result = ds.fit(model, train, loss="bce", val=val, batch_size=16, seed=0, progress=False,
                    stop=[ds.stop.Patience(5, restore_best=True)])
    trained = [(r["step"], r["val_loss"]) for r in result.history if "val_loss" in r and not r.get("sweep")]
    (best_step, best), last = min(trained, key=lambda s: s[1]), trained[-1][0]
    assert val_loss(result.model, val, "bce") == pytest.approx(best, rel=1e-6)
    (overfit,) = [f for f in result.findings if f.code == "overfitting"]
    assert overfit.severity == "info" and overfit.change == {} and overfit.evidence["kept_step"] == best_step
    assert overfit.message.endswith(f"; the model holds step {best_step}'s weights, its best evaluation, so the "
                                    f"{last - best_step} steps after them ({(last - best_step) / last:.0%} of the "
                                    f"run) cost time, not the result")
    assert overfit.fix.startswith("those steps were the stop rule's wait to see the best pass, nothing to change")
    assert "weight_decay=" not in overfit.fix and "descend fit:" not in overfit.fix

def test_a_run_whose_last_evaluation_is_its_lowest_keeps_its_last_weights():
    model, train, val = smooth_regression()
    result = ds.fit(model, train, val=val, batch_size=32, seed=0, progress=False)
    scored = evaluations(result)
    assert scored[-1][1] == min(v for _, v in scored)
    assert "holds the weights" not in result.stop_reason
    assert val_loss(result.model, val, "mse") == pytest.approx(scored[-1][1], rel=1e-6)


def test_a_lower_val_loss_on_a_few_rows_within_their_noise_keeps_the_last_weights():
    """6 validation rows: the run's lowest val_loss (1e-4) is far below its last (0.056), but a row or two carry the
    difference, so it is not beyond the rows' noise (the luckiest of many evaluations on a few rows)."""
    model, train, val = sparse_logistic()
    val = (val[0][:6], val[1][:6])
    result = ds.fit(model, train, loss="bce", val=val, batch_size=16, seed=0, progress=False)
    scored = evaluations(result)
    assert min(v for _, v in scored) < 0.01 * scored[-1][1]
    assert "holds the weights" not in result.stop_reason
    assert val_loss(result.model, val, "bce") == pytest.approx(scored[-1][1], rel=1e-6)


def test_a_loss_that_cannot_score_one_row_keeps_the_last_weights_and_the_run_finishes():
    def batch_bce(output, target):   # a callable loss over whole batches only
        if len(target) < 2:
            raise ValueError("needs at least two rows")
        return torch.nn.functional.binary_cross_entropy_with_logits(output, target)
    model, train, val = sparse_logistic()
    result = ds.fit(model, train, loss=batch_bce, val=val, batch_size=16, seed=0, progress=False)
    scored = evaluations(result)
    assert scored[-1][1] > 1.2 * min(v for _, v in scored) and "holds the weights" not in result.stop_reason
    assert val_loss(result.model, val, "bce") == pytest.approx(scored[-1][1], rel=1e-6)


def test_standard_errors_is_the_paired_t_statistic():
    assert standard_errors(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)) == pytest.approx(2 * 3 ** 0.5)
    assert standard_errors(torch.tensor([0.5, 0.5, 0.5])) == 0.0   # no spread: the rows cannot say
    assert standard_errors(torch.tensor([2.0])) == 0.0


def test_a_callers_patience_decides_which_weights_the_run_ends_with():
    model, train, val = sparse_logistic()
    result = ds.fit(model, train, loss="bce", val=val, batch_size=16, seed=0, progress=False,
                    stop=[ds.stop.Patience(1000)])
    assert result.choice.limit == {} and "holds the weights" not in result.stop_reason
    assert val_loss(result.model, val, "bce") == pytest.approx(evaluations(result)[-1][1], rel=1e-6)


def test_without_validation_data_the_run_keeps_its_last_weights():
    model, train, _ = sparse_logistic()
    result = ds.fit(model, train, loss="bce", batch_size=16, seed=0, progress=False)
    assert result.choice.limit == {} and not any(r.get("kept_best") for r in result.history)


def test_a_killed_and_resumed_run_restores_the_same_best_weights(tmp_path):
    settings = dict(loss="bce", batch_size=16, seed=0, progress=False, checkpoint_every=10)
    model, train, val = sparse_logistic()
    reference = ds.fit(model, train, val=val, **settings)
    assert "holds the weights" in reference.stop_reason
    model, train, val = sparse_logistic()
    with pytest.raises(RuntimeError, match="simulated crash"):   # after the best evaluation was kept
        ds.fit(model, train, val=val, run_dir=str(tmp_path / "run"), callbacks=[Crash(75)], **settings)
    model, train, val = sparse_logistic()
    resumed = ds.fit(model, train, val=val, run_dir=str(tmp_path / "run"), resume=True, **settings)
    assert resumed.history == reference.history and resumed.stop_reason == reference.stop_reason
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 reference.model.state_dict().values()))


def test_the_best_record_is_the_step_a_callers_patience_kept_not_a_sweep_evaluation():
    model, train, val = sparse_logistic()
    result = ds.fit(model, train, loss="bce", val=val, batch_size=16, seed=0, progress=False, doctor=False,
                    eval_every=4, stop=[ds.stop.Patience(3, restore_best=True)])
    kept = [r for r in result.history if "val_loss" in r and not r.get("sweep")]
    best = min(kept, key=lambda r: r["val_loss"])
    assert any(r.get("sweep") and "val_loss" in r for r in result.history)   # the sweep was evaluated too
    assert result.best["step"] == best["step"] and not result.best.get("sweep")
    assert val_loss(result.model, val, "bce") == pytest.approx(best["val_loss"], rel=1e-6)   # the weights it names
