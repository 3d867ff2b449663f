"""no_signal on small validation sets: a model's gain on a constant prediction that two standard errors cannot tell
from none is no evidence of signal, least of all when the kept weights are the best of the run's evaluations on
those same rows. Random 0/1 targets with 125-250 validation rows used to get only `overfitting`."""
import numpy as np
import torch
from torch import nn

import descend as ds
from descend.doctor.data_rules import _at_most_negligible, _gain_interval, _model_gains
from test_doctor_fresh2 import warnings


def coin_flip_table(rows: int, width: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard normal columns and a 0/1 label drawn apart from them."""
    draw = np.random.default_rng(seed)
    x = draw.normal(size=(rows, width))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(draw.integers(0, 2, size=rows), dtype=torch.float32)


def binary_fit(x: torch.Tensor, y: torch.Tensor, seed: int):
    """fit's defaults on a two-hidden-layer ReLU MLP under bce, the last quarter of the rows held out."""
    cut = len(y) * 3 // 4
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    return ds.fit(model, (x[:cut], y[:cut]), val=(x[cut:], y[cut:]), loss="bce", progress=False)


def test_gain_interval_is_the_mean_gain_two_standard_errors_either_way():
    constant = torch.full((100,), 0.7)
    gains = torch.tensor([0.0, 0.2] * 50)   # mean 0.1, standard deviation 0.1005, standard error 0.01005
    lower, upper, level = _gain_interval(constant - gains, constant)
    assert abs(lower - (0.1 - 2 * 0.01005)) < 1e-4 and abs(upper - (0.1 + 2 * 0.01005)) < 1e-4
    assert abs(level - 0.7) < 1e-6
    assert not _at_most_negligible(constant - gains, constant)          # 0.12 is over 5% of 0.7
    assert _at_most_negligible(constant - gains / 10, constant)         # 0.012 is under 0.035


def test_a_gain_that_matters_on_average_is_signal_though_too_few_rows_confirm_it():
    """resumes (tabular_fresh4) on seed 1: the model's validation log-loss 0.2773 against a constant's 0.2928 on 584
    rows, 5.3% lower but within two standard errors, was called `no_signal` ("no better than a constant"), and on
    the test rows it beat the constant by 4.5%."""
    constant = torch.full((200,), 0.3)
    weak = torch.tensor([0.4, -0.364] * 100)     # mean gain 0.018 (6% of 0.3), two standard errors 0.054
    lower, _, _ = _gain_interval(constant - weak, constant)
    assert lower < 0 and _model_gains(constant - weak, constant)
    slight = torch.tensor([0.4, -0.394] * 100)   # mean gain 0.003 (1%): no signal worth the name, unconfirmed
    assert not _model_gains(constant - slight, constant)
    confident = torch.tensor([0.05, 0.03] * 100)   # mean gain 0.04 (13%), two standard errors 0.0014
    assert _model_gains(constant - confident, constant)


def test_random_labels_on_small_validation_sets_are_no_signal():
    """Two sizes (125 and 250 validation rows, 10 and 20 columns): the kept weights beat the constant by a gain
    two standard errors cannot tell from none, and neither reference finds any (on main: `overfitting` alone)."""
    for rows, width, seed in ((500, 10, 22), (1000, 20, 1)):
        run = binary_fit(*coin_flip_table(rows, width, seed), seed)
        assert warnings(run) == ["no_signal"], (rows, width, [f.message for f in run.findings])


def test_labels_the_inputs_decide_stay_clear_of_no_signal_at_the_same_size():
    for rows, width, seed in ((500, 10, 22), (1000, 20, 1)):
        x, _ = coin_flip_table(rows, width, seed)
        noise = torch.randn(rows, generator=torch.Generator().manual_seed(seed + 7))
        run = binary_fit(x, (x[:, 0] - x[:, 1] + 0.5 * noise > 0).float(), seed)
        assert "no_signal" not in warnings(run), (rows, width)
