"""The doctor under a loss the user wrote, on variants no list stages, each with a healthy twin that must stay
silent: a loss summed over the batch's rows (steps grow with the batch size, the run overflows) is named as the
steps' cause before the overflow it caused, and a target in raw units (diabetes' disease progression, typically 140)
is named under a hand-written log-cosh loss that no reference judges."""
import torch
from sklearn.datasets import load_diabetes
from torch import nn
from torch.nn import functional as F

import descend as ds
from descend.doctor.probes import summed_loss

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def diabetes(standardize_target: bool):
    x, y = (torch.tensor(a, dtype=torch.float32) for a in load_diabetes(return_X_y=True))
    x = (x - x.mean(0)) / x.std(0)
    return x, (y - y.mean()) / y.std() if standardize_target else y


def tanh_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1), nn.Flatten(0))


def fit_diabetes(loss, standardize_target: bool, **settings):
    x, y = diabetes(standardize_target)
    return ds.fit(tanh_net(), (x[:350], y[:350]), val=(x[350:], y[350:]), loss=loss, progress=False, seed=0,
                  **settings)


def log_cosh(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log(cosh(error)), averaged: squared error near 0, absolute error far from it."""
    error = output - target
    return (error + F.softplus(-2 * error) - torch.log(torch.tensor(2.0))).mean()


def test_a_loss_summed_over_rows_is_named_before_the_overflow_it_caused():
    result = fit_diabetes(lambda out, y: F.mse_loss(out, y, reduction="sum"), True, optimizer="sgd", lr=0.05,
                          batch_size=32, max_epochs=6)
    first = result.findings[0]
    assert first.code == "lr_too_high" and first.evidence["summed_over_rows"]
    assert "summed over the batch's rows" in first.message and "reduction='mean'" in first.fix
    assert first.change["lr"] < 0.05 / 16


def test_the_same_loss_averaged_is_quiet():
    result = fit_diabetes(lambda out, y: F.mse_loss(out, y), True, optimizer="sgd", lr=0.05, batch_size=32,
                          max_epochs=6)
    assert "lr_too_high" not in warnings(result) and "non_finite" not in warnings(result)


def test_the_probe_tells_a_sum_over_rows_from_a_mean():
    out, y = torch.zeros(16, 3), torch.randn(16, 3)
    assert summed_loss(lambda o, t: (o - t).pow(2).sum(), out, y) == {"rows": 16}
    assert summed_loss(lambda o, t: (o - t).pow(2).sum(1).mean(), out, y) is None   # summed over columns only
    assert summed_loss("mse", out, y) is None


def test_a_raw_unit_target_under_a_hand_written_loss_is_unscaled_target():
    result = fit_diabetes(log_cosh, False, max_epochs=8)
    assert warnings(result)[0] == "unscaled_target"
    assert "standardize the target" in result.findings[0].fix
    assert result.findings[0].evidence["target_size"] > 100


def test_the_standardized_target_under_the_same_loss_is_quiet():
    assert "unscaled_target" not in warnings(fit_diabetes(log_cosh, True, max_epochs=8))
