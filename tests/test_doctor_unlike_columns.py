"""Target columns in unlike units (a count beside a rate, or both divided by one standard deviation taken over every
value) are read column by column: the narrow column left unfitted is named whatever the target's overall size, and
a per-column standardized twin, or unlike columns that the model fits, stay quiet."""
import torch
from torch import nn

import descend as ds
from descend.doctor.reference import unlike_columns

WARN = ("warning", "error")


def counts_and_rates(n=1200, seed=1):
    """A visit count (about 50, sd 9) and a conversion rate (about 0.02, sd 0.006), both nonlinear in the inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    count = 50 + 12 * torch.tanh(x[:, 0] + x[:, 1]) + 3 * torch.randn(n, generator=g)
    rate = 0.02 + 0.008 * torch.tanh(x[:, 3] - x[:, 4] + x[:, 5]) + 0.001 * torch.randn(n, generator=g)
    return x, torch.stack([count, rate], 1)


def fit(y, x):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    cut = len(x) * 3 // 4
    return ds.fit(model, (x[:cut], y[:cut]), val=(x[cut:], y[cut:]), max_epochs=12, progress=False, seed=0)


def unscaled(result):
    return next((f for f in result.findings if f.severity in WARN and f.code == "unscaled_target"), None)


def test_one_spread_over_all_values_leaves_the_rate_unfitted_and_per_column_standardizing_is_quiet():
    x, y = counts_and_rates()
    pooled = fit((y - y.mean()) / y.std(), x)   # y.std() without dim: one spread, the columns still 1,500x apart
    found = unscaled(pooled)
    assert found is not None and found.evidence["column"] == 1
    assert found.evidence["model"] > 0.5 * found.evidence["constant"] > found.evidence["linear"]
    assert "y.mean(0), y.std(0)" in found.fix
    assert unscaled(fit((y - y.mean(0)) / y.std(0), x)) is None


def test_raw_columns_under_100_are_read_too():
    x, y = counts_and_rates()
    found = unscaled(fit(y, x))   # the target's size (50) is below the raw-units line; its columns are unlike
    assert found is not None and found.evidence["column"] == 1 and found.evidence["target_size"] < 100


def test_unlike_columns_that_the_model_fits_are_not_named():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1200, 6, generator=g)
    y = torch.stack([x[:, 0] + x[:, 1] + 0.1 * torch.randn(1200, generator=g), 0.05 * (x[:, 2] - x[:, 3])], 1)
    assert unlike_columns(y)   # 28x apart
    assert unscaled(fit(y, x)) is None


def test_unlike_columns_is_a_ratio_of_spreads_not_a_size():
    assert unlike_columns(torch.tensor([[1e4, 0.1], [3e4, 0.3], [2e4, 0.2]]))
    assert not unlike_columns(torch.tensor([[1e4, 2e4], [3e4, 1e4], [2e4, 3e4]]))   # large, alike
    assert not unlike_columns(torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]))    # a constant column
    assert not unlike_columns(torch.tensor([1.0, 100.0, 1e4]))                        # one column
