"""What the thirteenth fresh set (benchmarks/doctor_fresh13.py) taught the doctor, each on a variant no list stages,
with a healthy twin that must stay silent: a set model stuck at a constant on a question about order (order_blind,
where references reading each sequence as a set find nothing either), a loss summed over rows under SGD whose steps
knocked a ReLU layer out, an embedding fed min-max scaled ids (which explains a no_signal the references share),
and a head giving several outputs per target value on a target in dollars."""
import torch
from sklearn.datasets import make_friedman1
from torch import nn
from torch.nn import functional as F

import descend as ds
from descend.doctor.reference import Sample, order_free_gain
from descend.doctor.watch import _center

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def sequences(order: bool, n: int = 1200, steps: int = 10):
    """Sequences (n, 10, 2); with `order`, labelled 1 when the last three steps' second feature averages above the
    first three's (a question about positions), else when the second feature averages above 0 (a set question)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, steps, 2, generator=g)
    y = x[:, -3:, 1].mean(1) > x[:, :3, 1].mean(1) if order else x[:, :, 1].mean(1) > 0
    return x, y.long()


class Pooled(nn.Module):
    """Each step through a small ReLU network, averaged over the steps: a set model, blind to order."""

    def __init__(self):
        super().__init__()
        self.step = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.step(x).mean(1))


def fit_pooled(order: bool):
    x, y = sequences(order)
    torch.manual_seed(0)
    return ds.fit(Pooled(), (x[:900], y[:900]), val=(x[900:], y[900:]), loss="cross_entropy", optimizer="adam",
                  lr=1e-2, max_epochs=8, progress=False, seed=0)


def test_a_set_model_stuck_at_a_constant_on_an_order_question_is_order_blind():
    result = fit_pooled(order=True)
    assert warnings(result) == ["order_blind"]
    assert result.history[-1]["loss"] > 0.98 * torch.log(torch.tensor(2.0)).item()   # it learnt nothing
    assert "plateau" in result.findings[0].evidence["explains"]


def test_the_same_set_model_on_a_set_question_is_quiet():
    assert warnings(fit_pooled(order=False)) == []


def test_set_references_find_the_set_question_and_not_the_order_one():
    def gain(order: bool):
        x, y = sequences(order)
        table, rows = x.reshape(len(x), -1).double(), slice(0, 900)
        held = slice(900, None)
        return order_free_gain("cross_entropy", Sample(table[rows], y[rows], table[held], y[held], True, x[held]))
    assert gain(order=True) is False
    assert gain(order=False) is True


def friedman():
    xs, ys = make_friedman1(1500, noise=0.5, random_state=0)
    x = torch.tensor((xs - 0.5) / 0.29, dtype=torch.float32)
    return x, torch.tensor((ys - ys.mean()) / ys.std(), dtype=torch.float32)


def fit_under_sgd(summed: bool):
    x, y = friedman()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    reduce = torch.sum if summed else torch.mean
    optimizer = torch.optim.SGD(model.parameters(), lr=0.004, momentum=0.9)
    return ds.fit(model, (x[:1100], y[:1100]), val=(x[1100:], y[1100:]), loss=lambda o, t: reduce((o[:, 0] - t) ** 2),
                  optimizer=optimizer, max_epochs=10, progress=False, seed=0)


def test_a_loss_summed_over_rows_whose_sgd_steps_knocked_units_out_is_lr_too_high():
    result = fit_under_sgd(summed=True)
    assert warnings(result)[0] == "lr_too_high"
    assert result.findings[0].evidence["summed_over_rows"] is True
    assert "knocked out" in result.findings[0].message
    assert result.findings[0].change["lr"] == 0.004 / 64


def test_the_same_loss_averaged_over_rows_is_quiet():
    assert warnings(fit_under_sgd(summed=False)) == []


class Shops(nn.Module):
    """An embedding of column 0 (a shop id) beside the three other columns."""

    def __init__(self):
        super().__init__()
        self.shop = nn.Embedding(50, 8)
        self.out = nn.Sequential(nn.Linear(11, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.shop(x[:, 0].long()), x[:, 1:]], 1))


def fit_shops(min_max: bool):
    """Sales led by the shop alone (an appeal per shop, random in its id), three columns of noise; `min_max`
    scales every column into [0, 1], the id with them."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (2000,), generator=g)
    y = torch.randn(50, generator=g)[ids] + 0.3 * torch.randn(2000, generator=g)
    x = torch.cat([ids[:, None].float(), torch.randn(2000, 3, generator=g)], 1)
    if min_max:
        x = (x - x.min(0).values) / (x.max(0).values - x.min(0).values)
    torch.manual_seed(0)
    return ds.fit(Shops(), (x[:1500], y[:1500]), val=(x[1500:], y[1500:]), max_epochs=10, progress=False, seed=0)


def test_ids_scaled_into_zero_and_one_are_named_before_the_no_signal_they_explain():
    result = fit_shops(min_max=True)
    assert warnings(result) == ["embedding_ids"]
    assert result.findings[0].evidence["explains"] == ["no_signal"]


def test_raw_shop_ids_are_quiet():
    assert warnings(fit_shops(min_max=False)) == []


def test_the_centre_of_several_outputs_per_target_value_is_the_column_nearest_the_target():
    out = torch.stack([torch.full((5,), 3.0), torch.full((5,), -1.0), torch.arange(5.0) + 100], 1)
    y = torch.tensor([90.0, 100.0, 101.0, 102.0, 120.0])
    assert _center(out, y) == 102.0                      # the third column's median, nearest y's 101
    assert _center(out[:, :1], y) == 3.0                 # one output per target value: its own median
    assert _center(out, y.long()) is None                # class ids: no units to set against


def pinball(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The pinball loss of three quantiles (0.1, 0.5, 0.9), one output column each."""
    error = t[:, None] - o
    q = torch.tensor([0.1, 0.5, 0.9])
    return torch.maximum(q * error, (q - 1) * error).mean()


def fit_rents(dollars: bool):
    """Three quantiles of a monthly rent in dollars (about 2,400) or standardized, from six columns."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1600, 6, generator=g)
    rent = 2400 + 500 * x[:, 0] - 300 * x[:, 1] + 200 * torch.randn(1600, generator=g)
    y = rent if dollars else (rent - rent.mean()) / rent.std()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    return ds.fit(model, (x[:1200], y[:1200]), val=(x[1200:], y[1200:]), loss=pinball, optimizer="adam", lr=3e-3,
                  max_epochs=15, progress=False, seed=0)


def test_three_quantiles_of_a_rent_in_dollars_are_unscaled_target():
    result = fit_rents(dollars=True)
    assert warnings(result)[0] == "unscaled_target"
    assert result.findings[0].evidence["output_median"] < 1000


def test_three_quantiles_of_a_standardized_rent_are_quiet():
    assert warnings(fit_rents(dollars=False)) == []
