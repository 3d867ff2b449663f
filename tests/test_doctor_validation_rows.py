"""How validation rows relate to training rows, and a model that never reads its inputs' size, each on a small real
case that no doctor list stages, with a healthy twin that must stay silent: rows copied before the split (training
repeats them too), a category encoded by a mean target over rows that include the training rows, and a norm layer
first on inputs of moderate size. Tables whose rows repeat by nature and time-ordered splits stay quiet."""

import numpy as np
import torch
from sklearn import datasets
from torch import nn
from torch.nn import functional as F

from descend.doctor.inputs import copied_validation, leaking_column, row_keys
from descend.doctor.probes import size_blind
from test_doctor_fresh2 import classes, warnings
from test_doctor_fresh3 import fit_rows, mlp


# ---- rows copied before the split -----------------------------------------------------------------------------------
def doubled(before_split: bool):
    """800 class rows with every row written twice (a table appended to itself): before the random split, or to the
    training rows only after it."""
    x, y = classes()
    order = torch.randperm(1600, generator=torch.Generator().manual_seed(4))
    if before_split:
        x, y = torch.cat([x, x])[order], torch.cat([y, y])[order]
        return x[:1200], y[:1200], x[1200:], y[1200:]
    rows = order[order < 1200] % 600
    return x[:600][rows], y[:600][rows], x[600:], y[600:]


def test_a_table_doubled_before_the_split_is_validation_in_training_and_doubled_after_it_is_not():
    xt, yt, xv, yv = doubled(before_split=True)
    found = copied_validation(xt, xv)
    assert found is not None and found["rows"] == 400 and 280 <= found["copies"] <= 320   # each row's twin: 3/4 there
    result = fit_rows(mlp(6, 4), torch.cat([xt, xv]), torch.cat([yt, yv]), cut=1200, loss="cross_entropy",
                      max_epochs=10)
    assert "validation_in_training" in warnings(result)
    xt, yt, xv, yv = doubled(before_split=False)
    assert len(torch.unique(xt, dim=0)) < len(xt) and copied_validation(xt, xv) is None


def test_rows_that_repeat_by_nature_and_a_time_ordered_split_are_not_validation_in_training():
    g = torch.Generator().manual_seed(5)
    levels = torch.randint(0, 4, (1000, 4), generator=g).float()   # 256 possible rows: most recur, in both parts
    assert copied_validation(levels[:750], levels[750:]) is None
    measured = torch.randn(1000, 5, generator=g)
    measured[torch.rand(1000, generator=g) < 0.3] = 0.0   # a sensor's idle reading, a third of the rows: one row
    assert copied_validation(measured[:750], measured[750:]) is None
    digits = torch.tensor(datasets.load_digits().data[:1500], dtype=torch.float32)   # 1500 distinct rows
    assert len(torch.unique(row_keys(digits))) == 1500   # small whole numbers' float bits once shared 257 keys
    walk = torch.randn(1030, generator=g).cumsum(0)
    windows = torch.stack([walk[i:i + 30] for i in range(1000)])   # later windows in validation
    assert copied_validation(windows[:750], windows[750:]) is None


# ---- a category encoded by its mean target over rows that include the training rows --------------------------------
def encoded(over_training_rows: bool, n: int = 2000, levels: int = 300, seed: int = 6):
    """Four measured columns and a 300-level category entering as the share of class 1 among its rows: over the
    1500 training rows themselves (in-fold), or over an earlier period's rows of the same kind (not these)."""
    g = np.random.default_rng(seed)
    x, level = g.normal(size=(n, 4)), g.integers(0, levels, n)
    effect = g.normal(size=levels)
    y = (x[:, 0] + x[:, 1] * x[:, 2] + effect[level] + g.normal(size=n) > 0).astype(np.int64)
    source = level[:1500] if over_training_rows else g.integers(0, levels, n)
    source_y = y[:1500] if over_training_rows else (g.normal(size=n) + effect[source] + g.normal(size=n) > 0)
    share = np.bincount(source, source_y, levels) / np.maximum(np.bincount(source, minlength=levels), 1)
    features = np.column_stack([x, share[level]])
    return torch.tensor((features - features.mean(0)) / features.std(0), dtype=torch.float32), torch.tensor(y)


def test_a_mean_target_encoding_over_the_training_rows_is_a_target_leak_and_one_from_other_rows_is_not():
    x, y = encoded(over_training_rows=True)
    found = leaking_column(x[:1500], y[:1500])
    assert found is not None and found["column"] == 4 and found["groups"] >= 30 and found["fit"] < 1e-6
    result = fit_rows(mlp(5, 2), x, y, cut=1500, loss="cross_entropy", max_epochs=10)
    leak = next(f for f in result.findings if f.code == "target_leak")
    assert leak.severity == "warning" and "mean-target encoding" in leak.message and "out of fold" in leak.fix
    x, y = encoded(over_training_rows=False)
    assert leaking_column(x[:1500], y[:1500]) is None
    assert "target_leak" not in warnings(fit_rows(mlp(5, 2), x, y, cut=1500, loss="cross_entropy", max_epochs=10))


# ---- a model that divides each row's size away ----------------------------------------------------------------------
def iris_in_millimetres():
    x, y = datasets.load_iris(return_X_y=True)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    return 10 * torch.tensor(x, dtype=torch.float32)[order], torch.tensor(y)[order]   # sizes 12-58


class RowNormalized(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        return self.body(F.normalize(x, dim=1))


def test_a_model_that_normalizes_each_row_is_not_told_its_inputs_are_unscaled():
    x, y = iris_in_millimetres()
    result = fit_rows(RowNormalized(), x, y, cut=110, loss="cross_entropy", max_epochs=40)
    assert "unscaled_inputs" not in warnings(result)   # main named it first: 53% dead units blamed on sizes 12-58
    torch.manual_seed(0)
    layer_norm_first = nn.Sequential(nn.LayerNorm(4, elementwise_affine=False), mlp(4, 3))
    assert size_blind(layer_norm_first, x[:32]) is True and size_blind(mlp(4, 3), x[:32]) is False
    assert size_blind(mlp(4, 3), torch.arange(8)[:, None].expand(8, 4)) is None   # ids: no size to scale
    dead = mlp(4, 3)
    nn.init.constant_(dead[0].bias, -1e3)   # every unit off for every row: the same output, whatever the size
    assert size_blind(dead, x[:32]) is False
