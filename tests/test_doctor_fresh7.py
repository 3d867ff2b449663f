"""What the seventh fresh set (benchmarks/doctor_fresh7.py) taught the doctor, each on a small real fit with a
healthy twin that must stay silent: an accuracy metric that cannot read the model's one output (an argmax over a
single column) while the loss shows it learnt, a Patience whose min_delta is in the wrong units for the loss it
guards, and inputs whose size (an offset, such as kelvin near 290) starts the run far above a constant's loss."""
import torch
from torch import nn

import descend as ds
from test_doctor_fresh2 import WARN, regression, warnings
from test_doctor_fresh3 import fit_rows, mlp


def first_warning(result):
    return next(f for f in result.findings if f.severity in WARN)


# ---- a metric that does not read the model ------------------------------------------------------------------------
def binary(n=800, seed=0):
    """Two overlapping classes as 0/1 floats (a bce target), about 30% positive, from six standardized inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return x, (2 * x[:, 0] - x[:, 1] + 0.5 * torch.randn(n, generator=g) > 1.0).float()


def one_output(inputs):
    return nn.Sequential(mlp(inputs, 1), nn.Flatten(0))


def argmax_accuracy(output, target):
    return (output.reshape(len(target), -1).argmax(1) == target.long()).float().mean().item()


def threshold_accuracy(output, target):
    return ((output.reshape(-1) > 0).long() == target.long()).float().mean().item()


def test_an_argmax_accuracy_over_one_bce_output_is_loss_metric_mismatch_and_a_threshold_is_not():
    x, y = binary()
    negative = float(1 - y[:600].mean())
    argmax = fit_rows(one_output(6), x, y, loss="bce", max_epochs=15, metrics=[argmax_accuracy])
    first = first_warning(argmax)
    assert first.code == "loss_metric_mismatch" and first.evidence["metric"] == "val_argmax_accuracy"
    assert first.evidence["metric_first"] == first.evidence["metric_last"]
    assert abs(first.evidence["metric_last"] - float((y[600:] == 0).float().mean())) < 1e-6   # always class 0
    assert abs(first.evidence["majority_share"] - negative) < 1e-6 and first.evidence["evaluations"] >= 3
    threshold = fit_rows(one_output(6), x, y, loss="bce", max_epochs=15, metrics=[threshold_accuracy])
    assert not warnings(threshold)
    assert threshold.history[-1]["val_threshold_accuracy"] > negative + 0.1   # the model did learn: 0/1 read right


# ---- Patience with min_delta in the wrong units --------------------------------------------------------------------
def test_a_min_delta_near_the_loss_itself_is_stopped_too_early_and_its_fix_runs_on():
    x, y = regression()
    large = fit_rows(mlp(6, 1), x, y, max_epochs=40, seed=0,
                     stop=[ds.stop.Patience(3, min_delta=0.2, restore_best=True)])
    first = first_warning(large)
    assert first.code == "stopped_too_early" and first.change == {"patience": 3}
    assert first.evidence["reached"] < first.evidence["counted_best"] <= 2 * first.evidence["min_delta"]
    assert first.evidence["steps"] <= first.evidence["planned_steps"] / 2
    plain = fit_rows(mlp(6, 1), x, y, max_epochs=40, seed=0, stop=[ds.stop.Patience(3, restore_best=True)])
    assert "stopped_too_early" not in warnings(plain)
    assert plain.best["val_loss"] < first.evidence["counted_best"]


def test_a_min_delta_small_beside_the_loss_is_not_warned():
    x, y = regression()
    small = fit_rows(mlp(6, 1), x, y, max_epochs=40, seed=0,
                     stop=[ds.stop.Patience(3, min_delta=1e-3, restore_best=True)])
    assert "stopped_too_early" not in warnings(small)


# ---- inputs with an offset ----------------------------------------------------------------------------------------
def kelvin(n=800, seed=0):
    """Six temperatures near 290 K (spread 5 K) and a nonlinear standardized target of their deviations."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 6, generator=g)
    y = torch.sin(2 * z[:, 0]) + z[:, 1] * z[:, 2] + 0.5 * z[:, 3] + 0.1 * torch.randn(n, generator=g)
    return 290 + 5 * z, (y - y.mean()) / y.std()


def test_readings_near_290_are_unscaled_inputs_and_standardizing_them_fixes_the_run():
    x, y = kelvin()
    raw = fit_rows(mlp(6, 1), x, y, max_epochs=15, seed=0)
    first = first_warning(raw)
    assert first.code == "unscaled_inputs" and first.change == {"standardize_inputs": True}
    assert first.evidence["largest"] > 280 and first.evidence["first_loss"] > 10 * first.evidence["constant_baseline"]
    scaled = (x - x[:600].mean(0)) / x[:600].std(0)
    fixed = fit_rows(mlp(6, 1), scaled, y, max_epochs=15, seed=0)
    assert not warnings(fixed)
    assert fixed.history[-1]["val_loss"] < 0.5 * raw.history[-1]["val_loss"]
