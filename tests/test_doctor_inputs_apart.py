"""Two mistakes the doctor reads from data and loss, each on a case no doctor list stages, with a healthy twin that
must stay silent: a window of a series that ends on the value it forecasts (several features per step), and a
penalty on the weights written into a class loss (an L1 sum) at a weight that outweighs the fit."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from descend.doctor.inputs import last_step_leak
from test_doctor_fresh2 import classes, warnings
from test_doctor_fresh3 import fit_rows, mlp


# ---- a window that ends on the value to forecast ---------------------------------------------------------------------
def hourly_windows(leak: bool, n: int = 900, steps: int = 8):
    """Windows (n, steps, 2) of a noisy daily cycle and its hour of day, the next value the target; `leak` slices
    each window one step too far (its last step is the value to forecast)."""
    g = torch.Generator().manual_seed(3)
    t = torch.arange(n + steps + 1, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 24) + 0.3 * torch.randn(len(t), generator=g)
    hour = (t % 24) / 24
    shift = 1 if leak else 0
    x = torch.stack([torch.stack([series[i + shift:i + steps + shift], hour[i + shift:i + steps + shift]], 1)
                     for i in range(n)])
    y = series[steps:steps + n]
    order = torch.randperm(n, generator=g)
    return x[order], y[order]


def flat_mlp(steps: int = 8, features: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), mlp(steps * features, 1), nn.Flatten(0))


def test_a_window_ending_on_the_value_it_forecasts_is_a_target_leak_and_one_ending_before_it_is_not():
    x, y = hourly_windows(leak=True)
    found = last_step_leak(x, y)
    assert (found["column"], found["feature"], found["last_step"]) == (7, 0, True) and found["correlation"] > 0.9999
    result = fit_rows(flat_mlp(), x, y, cut=700, max_epochs=5)
    leak = next(f for f in result.findings if f.code == "target_leak")
    assert leak.severity == "warning" and "one step too far" in leak.message and leak.change == {"drop_columns": [7]}
    x, y = hourly_windows(leak=False)
    assert last_step_leak(x, y) is None
    assert "target_leak" not in warnings(fit_rows(flat_mlp(), x, y, cut=700, max_epochs=5))


def test_a_target_equal_to_the_first_step_is_a_memory_task_not_a_leak():
    x = torch.randn(300, 10, 1, generator=torch.Generator().manual_seed(1))
    assert last_step_leak(x, x[:, 0, 0].clone()) is None
    assert last_step_leak(x, x[:, -1, 0].clone())["column"] == 9


# ---- a penalty on the weights written into the loss ------------------------------------------------------------------
class L1Penalized:
    """cross_entropy plus `weight` times the sum of absolute weights of the model it builds."""

    def __init__(self, weight: float):
        self.weight, self.model = weight, mlp(6, 4)

    def loss(self, output, target):
        penalty = sum(p.abs().sum() for p in self.model.parameters() if p.dim() > 1)
        return F.cross_entropy(output, target) + self.weight * penalty


def test_a_hand_written_penalty_that_outweighs_the_fit_is_weight_decay_too_strong_and_a_light_one_is_silent():
    x, y = classes()
    strong = L1Penalized(0.02)
    result = fit_rows(strong.model, x, y, loss=strong.loss, max_epochs=10)
    first = next(f for f in result.findings if f.severity in ("warning", "error"))
    assert first.code == "weight_decay_too_strong" and "penalty" in first.message
    assert first.evidence["same_as"] == "cross_entropy" and first.evidence["penalty"] >= 0.5 * first.evidence["data"]
    light = L1Penalized(1e-6)
    assert warnings(fit_rows(light.model, x, y, loss=light.loss, max_epochs=10)) == []
