"""The doctor in a world where fit chooses: it reads what optimizer="auto" chose (L-BFGS's line search, or AdamW
after an lr sweep and a cosine decay), leaves the sweep's steps out, and phrases fixes that train as they say."""
import math

import torch
from torch import nn

import descend as ds
from descend.doctor import Readings, diagnose


def _blobs(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    return x, (x @ torch.randn(10, 3, generator=g)).argmax(1)


def _records(losses, lrs, start=1, sweep=False, epoch_of=lambda step: 0):
    return [{"step": start + i, "epoch": epoch_of(start + i), "loss": v, "grad_norm": 1.0, "lr": lr,
             **({"sweep": True} if sweep else {})} for i, (v, lr) in enumerate(zip(losses, lrs))]


def _cosine(peak, steps):
    return [peak * 0.5 * (1 + math.cos(math.pi * i / steps)) for i in range(steps)]


def _swept_run(after, peak=0.1):
    """20 sweep steps (lr rising 1e-4 -> 1e-0 and the loss turning up at the end), then `after` at a cosine."""
    sweep = _records([1.0] * 15 + [2.0, 4.0, 8.0, 16.0, 32.0], [1e-4 * 10 ** (i / 5) for i in range(20)], sweep=True)
    return sweep + _records(after, _cosine(peak, len(after)), start=21)


def _codes(findings, severities=("warning", "error")):
    return [f.code for f in findings if f.severity in severities]


def test_mini_batch_lbfgs_is_named_with_a_fix_that_trains_on_batches():
    x, y = _blobs()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
    result = ds.fit(model, (x[:384], y[:384]), val=(x[384:], y[384:]), loss="cross_entropy", optimizer="lbfgs",
                    batch_size=64, max_epochs=3, progress=False)
    f = result.findings[0]
    assert f.code == "line_search_on_batches" and f.evidence["batches_per_epoch"] == 6
    assert f.change == {"optimizer": "adamw", "lr": "auto"} and f.fix.endswith(
        f"optimizer='adamw' and lr='auto', whose steps average over batches")
    assert "lr_too_high" not in _codes(result.findings)   # folded: the steps overshot because of the line search
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
    fixed = ds.fit(model, (x[:384], y[:384]), val=(x[384:], y[384:]), loss="cross_entropy", batch_size=64,
                   max_epochs=3, progress=False, **f.change)
    assert "line_search_on_batches" not in _codes(fixed.findings)
    assert fixed.history[-1]["val_loss"] < 0.01 * result.history[-1]["val_loss"]


def test_full_batch_lbfgs_chosen_by_auto_gets_no_lr_advice():
    """A deterministic full-batch fit: auto takes L-BFGS, whose tiny steps near the optimum are the line search's
    doing, not a too-low lr; the run converges and the doctor says nothing."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 6, generator=g)
    y = x @ torch.randn(6, generator=g) + 0.1 * torch.randn(256, generator=g)
    result = ds.fit(nn.Linear(6, 1), (x, y), batch_size=256, max_steps=60, progress=False)
    assert result.choice.optimizer == "lbfgs"
    assert result.history[-1]["loss"] < 0.012   # the noise's variance is 0.01
    assert _codes(result.findings, ("warning", "error", "info")) == []


def test_a_fix_that_sets_an_lr_under_auto_names_the_optimizer_and_the_schedules_peak():
    """Units alive at the first sampled step and dead at the end died while training: the lr goes down 10x from
    the lr auto picked (the cosine's peak, not its near-zero end), and the fix names the optimizer auto trained
    with, so it trains as it says."""
    alive, dead = torch.ones(8, dtype=torch.bool), torch.zeros(8, dtype=torch.bool)
    readings = Readings(history=_swept_run([1.0 - 0.001 * i for i in range(60)], peak=0.1), auto_lr=0.1,
                        auto_optimizer="adamw", dead={"1": [dead] * 5}, dead_first={"1": alive})
    f = diagnose(readings)[0]
    assert f.code == "dead_units" and f.change == {"lr": 0.1 / 10, "optimizer": "adamw"}
    assert f.fix == "lower the learning rate to 0.01 (lr=0.01, optimizer='adamw')"
    readings = Readings(history=_swept_run([1.0 - 0.001 * i for i in range(60)]), auto_lr=0.1,
                        auto_optimizer="adamw", dead={"1": [dead] * 5}, dead_first={"1": dead})
    assert diagnose(readings)[0].change == {"init": "kaiming"}   # dead from the start: the initialization


def test_dead_units_with_no_reference_count_what_the_sweep_learnt():
    """With no reference to compare with, dead units cost when the loss hardly fell from where the weights started.
    Under auto those weights are the sweep's first: a sweep that took the loss from 4 to 1 learnt, and a flat
    curve after it is no cost; the same flat curve after a sweep that learnt nothing still is."""
    alive, dead = torch.ones(8, dtype=torch.bool), torch.zeros(8, dtype=torch.bool)
    after = [1.0 - 0.001 * i for i in range(60)]
    learnt = _records([4.0 * 0.92 ** i for i in range(17)] + [2.0, 4.0, 8.0], [1e-4 * 10 ** (i / 5) for i in range(20)],
                      sweep=True) + _records(after, _cosine(0.1, 60), start=21)
    for history, named in ((learnt, False), (_swept_run(after), True)):
        readings = Readings(history=history, auto_lr=0.1, auto_optimizer="adamw", dead={"1": [dead] * 5},
                            dead_first={"1": alive})
        assert ("dead_units" in _codes(diagnose(readings))) is named


def test_the_sweep_and_its_samples_are_left_out_of_the_curve_rules():
    """The sweep's rising lr and loss are no divergence, and its tiny early updates (lr 1e-4) are no lr_too_low."""
    after = [1.0 * 0.97 ** i for i in range(80)]
    ratios = [{"0.weight": 1e-6}] * 4 + [{"0.weight": 1e-3}] * 4
    readings = Readings(history=_swept_run(after), auto_lr=0.1, auto_optimizer="adamw", update_ratios=ratios,
                        sampled_steps=[1, 6, 11, 16, 26, 46, 66, 86], layer_grads=[{"0.weight": 1.0}] * 8)
    assert diagnose(readings) == []
    assert readings.sampled_steps == [26, 46, 66, 86] and readings.history[0]["step"] == 21


def _with_validation(history, val):
    for record, value in zip([r for r in history if not r.get("sweep")][9::10], val):
        record["val_loss"] = value
    return history


def test_a_transient_after_the_sweep_that_the_run_recovers_from_is_no_lr_too_high():
    """A fresh AdamW state at the picked lr kicks the loss up for a few steps after the sweep; the run comes back
    below where it rose from and its validation loss ends at its best: that cost nothing."""
    spike = [0.5, 3.0] + [2.0] * 12 + [0.5 * 0.97 ** i for i in range(86)]
    val = [1.5, 0.45, 0.3, 0.2, 0.15, 0.12, 0.1, 0.09, 0.085, 0.08]
    readings = Readings(history=_with_validation(_swept_run(spike), val), auto_lr=0.1, auto_optimizer="adamw")
    assert _codes(diagnose(readings)) == []
    stays = [0.5, 3.0] + [2.0] * 98   # the same rise that never comes back is divergence
    readings = Readings(history=_with_validation(_swept_run(stays), [2.0] * 10), auto_lr=0.1, auto_optimizer="adamw")
    f = diagnose(readings)[0]
    assert f.code == "lr_too_high" and f.evidence["kind"] == "diverged"
    assert f.change == {"lr": 0.01, "optimizer": "adamw"} and "lr_find's suggestion 0.1 from" in f.fix


def _overfit_history(accuracy):
    train = [1.0 * 0.95 ** i for i in range(100)]
    history = _records(train, [1e-3] * 100)
    val = [0.8, 0.5, 0.3, 0.25, 0.27, 0.3, 0.33, 0.36, 0.38, 0.4]
    for record, value, acc in zip(history[9::10], val, accuracy):
        record.update(val_loss=value, val_accuracy=acc)
    return history


def test_a_validation_loss_rise_with_accuracy_held_is_confidence_not_lost_predictions():
    held = _overfit_history([0.5, 0.8, 0.9, 0.95, 0.95, 0.96, 0.95, 0.96, 0.96, 0.96])
    f = diagnose(Readings(history=held, val_size=100))[0]
    assert (f.code, f.severity, f.evidence["metrics_held"]) == ("overfitting", "info", ["val_accuracy"])
    dropped = _overfit_history([0.5, 0.8, 0.9, 0.95, 0.95, 0.94, 0.93, 0.92, 0.92, 0.92])   # 3 examples worse
    f = diagnose(Readings(history=dropped, val_size=100))[0]
    assert (f.code, f.severity, f.evidence["metrics_held"]) == ("overfitting", "warning", [])


def test_overfitting_needs_the_training_loss_to_keep_falling():
    """Validation rising while training is flat (a converged linear model drifting) is not the model trading
    new rows for old ones."""
    history = _records([0.1] * 50 + [0.0995] * 50, [1e-3] * 100)
    for record, value in zip(history[9::10], [0.3, 0.25, 0.2, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27]):
        record["val_loss"] = value
    assert "overfitting" not in [f.code for f in diagnose(Readings(history=history))]
