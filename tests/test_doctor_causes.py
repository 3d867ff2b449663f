"""The causes the doctor names besides the training dynamics, each on a small fit, with its fix as data."""
import subprocess
import sys

import torch
from torch import nn

import descend as ds
from descend.doctor.findings import FLAGS
from descend.doctor.inputs import dominant_target_row, leaking_column, target_kind


def _data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.3 * torch.randn(n, generator=g)


def test_a_column_that_is_the_target_is_a_leak_and_the_fix_drops_it():
    x, y = _data()
    leaky = torch.cat([x, 3 * y[:, None] + 1], dim=1)
    assert leaking_column(leaky, y) == {"column": 5, "correlation": leaking_column(leaky, y)["correlation"]}
    assert leaking_column(x, y) is None
    labels = (y > 0).long()
    assert leaking_column(torch.cat([x, labels[:, None].float() * 7], 1), labels)["column"] == 5
    result = ds.fit(nn.Linear(6, 1), (leaky[:300], y[:300]), val=(leaky[300:], y[300:]), lr=0.01, max_epochs=5,
                    progress=False)
    f = result.findings[0]
    assert f.code == "target_leak" and f.change == {"drop_columns": [5]} and "--drop" not in f.fix


def test_mse_on_binary_and_one_hot_targets_names_the_loss():
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    assert target_kind(y) == "binary" and target_kind(y * 2) is None
    assert target_kind(nn.functional.one_hot(torch.tensor([0, 2, 1, 2]), 3).float()) == "one-hot"
    x, z = _data()
    labels = (z > 0).float()
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
    result = ds.fit(model, (x, labels), loss="mse", max_epochs=3, progress=False)
    f = result.findings[0]
    assert f.code == "loss_target_mismatch" and f.change == {"loss": "bce", "drop_output_activation": True}


def test_nan_from_the_loss_before_any_update_points_at_the_loss_not_the_lr():
    x, z = _data()
    labels = (z > 0).float()

    def log_loss(out, y):   # log of raw scores: NaN for the negative ones at the first batch
        out = out.squeeze(-1)
        return -(y * torch.log(out) + (1 - y) * torch.log(1 - out)).mean()
    result = ds.fit(nn.Linear(5, 1), (x, labels), loss=log_loss, max_epochs=2, progress=False)
    f = result.findings[0]
    assert f.code == "non_finite" and f.evidence["before_update"] and f.steps == (1, 1)
    assert f.change == {} and "no learning rate can help" in f.fix and "log" in f.fix


def test_a_start_far_above_a_constant_prediction_is_a_bad_start_fixed_by_initialization():
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)
    plain = ds.fit(model, (x, y), optimizer="sgd", lr=1e-2, max_epochs=3, progress=False)
    f = plain.findings[0]
    assert f.code == "bad_start" and f.change == {"init": "kaiming"}
    assert f.evidence["first_loss"] > 10 * f.evidence["constant_baseline"]


def test_a_row_that_outweighs_all_others_is_named_with_a_robust_loss():
    y = torch.randn(100)
    assert dominant_target_row(y) is None
    y[40] = 9999.0
    assert dominant_target_row(y)["row"] == 40 and dominant_target_row(y)["share"] > 0.98   # (n-1)/n


def test_fixes_quote_only_options_descend_fit_has():
    shown = subprocess.run([sys.executable, "-m", "descend.cli", "fit", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert all(f" {flag} " in f" {shown.replace(chr(10), ' ')} " for flag in FLAGS.values())


def test_a_diverging_lr_is_cut_by_how_fast_the_loss_grew():
    from descend.doctor.rules import cut_for_growth
    # on a quadratic the loss grows (lr * curvature - 1)^2 per step: 1.21x means lr * curvature = 2.1
    assert cut_for_growth(1.21) == 10 and cut_for_growth(1.0) == 10
    assert cut_for_growth(99.0 ** 2) == 100 and cut_for_growth(1e4) == 1000   # 1 + sqrt(1e4) = 101
    assert cut_for_growth(1e30) == 1000   # overflow outgrows any quadratic: the cut stops at 1000x
