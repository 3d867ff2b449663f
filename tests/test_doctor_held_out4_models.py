"""What fit_held_out4's models (benchmarks/fit_held_out4.py) taught the doctor, each on a real fit of a variant the
list does not stage. A U-Net filling 3x3 holes in digits was told "target leak: input column 8 is target column 8
itself" on every seed while it beat the AdamW grid's best: where the inputs are the targets damaged in places, a
column the damage never reached is what the model passes through, not a leak. A real leak among targets of the
inputs' width is still named."""
import torch
from torch import nn

import descend as ds


def codes(result) -> list[str]:
    return [f.code for f in result.findings]


def fit(x, y, width: int):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], width), nn.ReLU(), nn.Linear(width, y.shape[1]))
    cut = len(x) * 3 // 4
    return ds.fit(model, (x[:cut], y[:cut]), loss="mse", val=(x[cut:], y[cut:]), max_epochs=3, seed=0,
                  progress=False)


def test_imputing_the_gappy_columns_of_a_table_is_no_leak():
    """A table of 10 correlated columns, 3 of them with 30% of their cells missing (set to 0); the model returns
    the whole table. The 7 complete columns equal their targets; the rule used to call the first a leak."""
    g = torch.Generator().manual_seed(1)
    table = torch.randn(1200, 4, generator=g) @ torch.randn(4, 10, generator=g) + 0.1 * torch.randn(1200, 10,
                                                                                                    generator=g)
    holed = table.clone()
    holed[:, 7:] *= (torch.rand(1200, 3, generator=g) > 0.3).float()
    assert "target_leak" not in codes(fit(holed, table, 64))


def test_filling_a_blanked_stretch_of_a_signal_is_no_leak():
    """Noise-free sums of two sines over 32 steps with 6 steps blanked somewhere in steps 10..25: the steps outside
    that window are exact copies of their targets, those inside are not."""
    g = torch.Generator().manual_seed(2)
    t = torch.arange(32.0)
    freq, phase = 0.1 + 0.4 * torch.rand(1000, 2, 1, generator=g), 6.3 * torch.rand(1000, 2, 1, generator=g)
    signal = torch.sin(freq * t + phase).sum(1)
    blanked = signal.clone()
    for row, start in zip(blanked, torch.randint(10, 21, (1000,), generator=g).tolist()):
        row[start:start + 6] = 0
    assert "target_leak" not in codes(fit(blanked, signal, 64))


def test_a_leak_among_targets_of_the_inputs_width_is_still_named():
    """Four targets of four features, the third target an affine map of the third feature: the other targets have
    nothing to do with the features at their places, so the copy is a leak."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1000, 4, generator=g)
    y = torch.stack([x[:, 0] * x[:, 1], x[:, 3].sin(), 2 * x[:, 2] + 1, x[:, 0] ** 2], 1)
    leak = [f for f in fit(x, y, 32).findings if f.code == "target_leak"]
    assert leak and leak[0].evidence["column"] == 2
