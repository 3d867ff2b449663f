"""The doctor reads an output activation applied as a function in forward (torch.sigmoid, F.softplus, x.tanh(),
torch.clamp) from the torch calls of the forward pass it already makes, with the range its arguments give; a
user-built nn.BCEWithLogitsLoss after a sigmoid is named as loss='bce' is. Each failing run has a quiet twin."""
import math

import torch
import torch.nn.functional as F
from torch import nn

import descend as ds
from descend.doctor.output_function import bounds, last_bounded, output_bound
from descend.doctor.probes import evaluate

WARN = ("warning", "error")


class Squashed(nn.Module):
    """An MLP whose output goes through `squash`, a function called in forward (no module)."""

    def __init__(self, squash, inputs: int = 5, width: int = 32):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, 1)
        self.squash = squash

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.squash(self.head(self.body(x)))


def regression(n=800, seed=2):
    """A standardized target (half of it below 0, a sixth above 1) of shape (rows, 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = torch.sin(x[:, 0]) + x[:, 1] + 0.1 * torch.randn(n, generator=g)
    return x, ((y - y.mean()) / y.std())[:, None]


def fit(model, x, y, **settings):
    cut = len(x) * 3 // 4
    return ds.fit(model, (x[:cut], y[:cut]), val=(x[cut:], y[cut:]), max_epochs=8, progress=False, seed=0,
                  **settings)


def mismatch(result):
    return next((f for f in result.findings if f.severity in WARN and f.code == "loss_target_mismatch"), None)


def read(model: nn.Module, x: torch.Tensor):
    with last_bounded() as last:
        out = evaluate(model, x)
    return output_bound(last, out)


def test_a_functional_sigmoid_on_a_standardized_target_is_named_and_its_twin_in_range_is_not():
    x, y = regression()
    found = mismatch(fit(Squashed(torch.sigmoid), x, y))
    assert found is not None and found.evidence["output_activation"] == "Sigmoid"
    assert found.evidence["output_range"] == [0.0, 1.0] and found.change == {"drop_output_activation": True}
    inside = (y - y.min()) / (y.max() - y.min())   # the same signal in [0, 1]
    assert mismatch(fit(Squashed(torch.sigmoid), x, inside)) is None


def test_a_clamp_is_read_with_its_own_limits_and_a_target_inside_them_stays_quiet():
    x, y = regression()
    found = mismatch(fit(Squashed(lambda t: torch.clamp(t, min=-0.5, max=0.5)), x, y))
    assert found is not None and found.evidence["output_range"] == [-0.5, 0.5]
    assert mismatch(fit(Squashed(lambda t: t.clamp(-4.0, 4.0)), x, y)) is None


def test_a_module_sigmoid_on_a_rows_by_one_target_is_named():
    # the reach-past guard once compared a (rows, 1) target with (rows,) errors, every row against every other
    x, y = regression()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    assert mismatch(fit(model, x, y)).evidence["output_activation"] == "Sigmoid"


def test_a_sigmoid_before_a_user_built_logits_loss_is_named_but_not_before_bce_on_probabilities():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 5, generator=g)
    y = ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).float()[:, None]
    squashed = fit(Squashed(torch.sigmoid), x, y, loss=nn.BCEWithLogitsLoss())
    found = mismatch(squashed)
    assert found is not None and "BCEWithLogitsLoss()" in found.message and found.evidence["loss"] == "bce"
    assert [f.code for f in squashed.findings if f.severity in WARN] == ["loss_target_mismatch"]   # no class lean
    assert mismatch(fit(Squashed(torch.sigmoid), x, y, loss=nn.BCELoss())) is None
    assert mismatch(fit(Squashed(lambda t: t), x, y, loss=nn.BCEWithLogitsLoss())) is None


def test_the_reading_takes_only_the_function_that_made_the_output():
    x = torch.randn(16, 5)
    assert read(Squashed(F.softplus), x) == ("Softplus", 0.0, math.inf)
    assert read(Squashed(lambda t: t.tanh().squeeze(1)), x) == ("Tanh", -1.0, 1.0)   # through a view
    assert read(Squashed(lambda t: torch.sigmoid(t) * 4 - 2), x) is None   # rescaled after it
    assert read(Squashed(lambda t: torch.sigmoid(t).mul_(3)), x) is None   # changed in place after it
    assert read(Squashed(lambda t: t), x) is None   # the body's ReLU is not the output


def test_ranges_come_from_the_arguments_given():
    t = torch.zeros(3)
    assert bounds("hardtanh", (t, -4.0, 4.0), {}) == ("Hardtanh", -4.0, 4.0)
    assert bounds("elu", (t,), {"alpha": 2.0}) == ("ELU", -2.0, math.inf)
    assert bounds("clamp", (t,), {"max": torch.tensor(1.5)}) == ("clamp", -math.inf, 1.5)
    assert bounds("clamp", (t, torch.zeros(3)), {}) == ("clamp", -math.inf, math.inf)   # elementwise: no one range
    assert bounds("clamp_min", (t, 0.0), {}) == ("clamp", 0.0, math.inf)
