"""What the eighth fresh set (benchmarks/doctor_fresh8.py) taught the doctor, each on a small real fit that the set
does not stage, with a healthy twin that must stay silent: a param group left at lr 0 is weights the optimizer never
moves, a loss whose gradient spans fewer directions than the output columns leaves outputs unread, and a model that
mixes rows within a batch is named before a moderate input size is blamed for its cost; plus the probe's numbers."""

import torch
from sklearn import datasets
from torch import nn
from torch.nn import functional as F

from descend.doctor.probes import unread_outputs
from test_doctor_fresh2 import WARN, classes, regression, warnings
from test_doctor_fresh3 import fit_rows, mlp


def first_warning(result):
    return next(f for f in result.findings if f.severity in WARN)


def two_groups(model: nn.Sequential, body_lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([{"params": model[:-1].parameters(), "lr": body_lr},
                             {"params": model[-1].parameters()}], lr=3e-3)


# ---- a param group at lr 0 ----------------------------------------------------------------------------------------
def test_a_body_param_group_left_at_lr_0_is_named_as_weights_the_optimizer_never_moves():
    x, y = classes(k=4)
    model = mlp(6, 4, width=8)
    frozen = fit_rows(model, x, y, loss="cross_entropy", max_epochs=10, optimizer=two_groups(model, 0.0))
    first = first_warning(frozen)
    assert first.code == "optimizer_misses_weights" and "lr 0" in first.message
    assert first.evidence["at_zero_lr"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert first.evidence["of"] == 6 and first.change == {"optimizer": "auto"}


def test_a_body_param_group_at_a_small_lr_is_not_warned():
    x, y = classes(k=4)
    model = mlp(6, 4, width=8)
    slower = fit_rows(model, x, y, loss="cross_entropy", max_epochs=10, optimizer=two_groups(model, 1e-3))
    assert "optimizer_misses_weights" not in warnings(slower)


# ---- a loss that reads the outputs through fewer combinations than columns ------------------------------------------
def summed_error_squared(output, target):
    """The two targets' errors added before squaring: only output[:, 0] + output[:, 1] is fitted."""
    return ((output - target).sum(1) ** 2).mean()


def per_column_squared(output, target):
    return ((output - target) ** 2).sum(1).mean()


def two_targets():
    x, y = regression()
    return x, torch.stack([y, torch.cos(2 * x[:, 4]) + x[:, 5]], 1)


def test_errors_added_over_the_columns_before_squaring_are_named_as_unread_outputs():
    x, y2 = two_targets()
    summed = fit_rows(mlp(6, 2), x, y2, max_epochs=15, loss=summed_error_squared)
    first = first_warning(summed)
    assert first.code == "unread_outputs" and first.evidence["read"] == 1 and first.evidence["columns"] == 2
    per_column = fit_rows(mlp(6, 2), x, y2, max_epochs=15, loss=per_column_squared)
    assert warnings(per_column) == []
    assert F.mse_loss(per_column.model(x[600:]), y2[600:]) < 0.5 * F.mse_loss(summed.model(x[600:]), y2[600:])


def soft_cross_entropy(output, target):
    return -(target * F.log_softmax(output, 1)).sum(1).mean()


def test_the_probe_counts_the_combinations_read_and_forgives_a_softmax_s_offset():
    out, target = torch.zeros(64, 3), torch.randn(64, 3)
    assert unread_outputs(lambda o, t: ((o - t).mean(1) ** 2).mean(), out, target) == {
        "unread": [], "columns": 3, "read": 1, "same_as": None}
    assert unread_outputs(lambda o, t: ((o[:, 0] - o[:, 1] - t[:, 0] + t[:, 1]) ** 2 + (o[:, 2] - t[:, 2]) ** 2).mean(),
                          out, target)["read"] == 2
    assert unread_outputs(per_column_squared, out, target) is None
    assert unread_outputs(soft_cross_entropy, out, F.softmax(target, 1)) is None   # blind to a common offset only
    assert unread_outputs(lambda o, t: ((o - t).mean(1) ** 2).mean(), torch.zeros(8, 6), torch.randn(8, 6)) is None


# ---- rows mixed within a batch, inputs of moderate size -------------------------------------------------------------
class Normalized(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        torch.manual_seed(0)
        self.dim, self.body = dim, nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        return self.body(F.normalize(x, dim=self.dim))


def iris_in_millimetres():
    x, y = datasets.load_iris(return_X_y=True)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    return 10 * torch.tensor(x, dtype=torch.float32)[order], torch.tensor(y)[order]   # sizes 12-58


def test_inputs_normalized_over_the_batch_are_named_batch_mixing_not_unscaled_inputs():
    x, y = iris_in_millimetres()
    mixed = fit_rows(Normalized(dim=0), x, y, cut=110, loss="cross_entropy", max_epochs=40)
    assert first_warning(mixed).code == "batch_mixing"
    assert "unscaled_inputs" not in warnings(mixed)


def test_the_same_inputs_into_a_plain_mlp_that_fits_them_are_not_warned():
    x, y = iris_in_millimetres()
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    assert warnings(fit_rows(plain, x, y, cut=110, loss="cross_entropy", max_epochs=40)) == []
