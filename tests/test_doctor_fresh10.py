"""What the tenth fresh set (benchmarks/doctor_fresh10.py) taught the doctor, each on a variant no list stages, with
a healthy twin that must stay silent: a set model knocked onto a constant output under bce (a constant's bce loss
is known, and a model that ignores every input is not "order blind"), item ids numbered apart in the validation
file (references see ids as levels, as the embedding does), and a near-perfect model fed every class by a shuffled
loader over a table stored sorted (the sorted sample is no split that lacks classes)."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from descend.doctor.inputs import constant_baseline
from descend.doctor.probes import order_blind
from descend.doctor.reference import Sample, with_levels

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def point_sets(n: int = 1000, points: int = 8, seed: int = 0):
    """Sets of 8 points in 3-d (n, 8, 3), labelled 1 when their points lie more often right of the plane x = 0.3."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, points, 3, generator=g)
    return x, ((x[..., 0] > 0.3).sum(1) >= 3).float()


class SumPool(nn.Module):
    """A set model: one MLP per point, summed over the points (no order by design), then a head."""

    def __init__(self):
        super().__init__()
        self.point = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.point(x).sum(1))


def fit_sets(lr: float):
    x, y = point_sets()
    torch.manual_seed(0)
    return ds.fit(SumPool(), (x[:750], y[:750]), val=(x[750:], y[750:]), loss="bce", optimizer="adam", lr=lr,
                  max_epochs=10, progress=False, seed=0)


def test_a_set_model_knocked_onto_a_constant_under_bce_is_lr_too_high_not_order_blind():
    result = fit_sets(lr=3.0)
    assert warnings(result)[0] == "lr_too_high" and "order_blind" not in warnings(result)
    assert result.findings[0].change["lr"] < 3.0
    assert warnings(fit_sets(lr=3e-3)) == []


def test_a_constant_bce_prediction_loses_the_entropy_of_the_share_of_ones():
    y = torch.tensor([1.0, 0.0, 0.0, 0.0])   # a quarter ones: -(0.25 ln 0.25 + 0.75 ln 0.75) = 0.5623
    assert abs(constant_baseline("bce", y) - 0.5623) < 1e-4
    assert constant_baseline("bce", torch.tensor([0.2, 0.9])) is None   # probabilities, not labels


class MeanPool(nn.Module):
    """A linear map of each step, averaged over the steps: its outputs ignore their order."""

    def __init__(self):
        super().__init__()
        self.step = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x).mean(1)


def test_outputs_the_same_for_every_row_are_not_order_blindness():
    x = torch.randn(16, 5, 3)
    torch.manual_seed(0)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(15, 1))
    assert order_blind(flat, x) is False
    nn.init.zeros_(flat[1].weight)
    assert order_blind(flat, x) is False    # constant: it ignores every input, order included
    assert order_blind(MeanPool(), x) is True


ITEMS = 30


def item_sales(shift_validation: bool, n: int = 2400, seed: int = 3):
    """Rows of (item id, four numeric columns) and a standardized sale led by the item; `shift_validation` numbers
    the validation file's items from 1 instead of 0 (a 1-based export), wrapping the last to 0."""
    g = torch.Generator().manual_seed(seed)
    item = torch.randint(0, ITEMS, (n,), generator=g)
    numeric = torch.randn(n, 4, generator=g)
    effect = 1.5 * torch.randn(ITEMS, generator=g)
    y = effect[item] + 0.4 * numeric[:, 0] + 0.5 * torch.randn(n, generator=g)
    x = torch.cat([item[:, None].float(), numeric], 1)
    y = (y - y.mean()) / y.std()
    xt, yt, xv, yv = x[:1800], y[:1800], x[1800:].clone(), y[1800:]
    if shift_validation:
        xv[:, 0] = (xv[:, 0] + 1) % ITEMS
    return xt, yt, xv, yv


class ItemNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.item = nn.Embedding(ITEMS, 6)
        self.mlp = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.mlp(torch.cat([self.item(x[:, 0].long()), x[:, 1:]], 1))


def fit_items(shift_validation: bool):
    xt, yt, xv, yv = item_sales(shift_validation)
    torch.manual_seed(0)
    return ds.fit(ItemNet(), (xt, yt), val=(xv, yv), max_epochs=10, progress=False, seed=0)


def test_item_ids_numbered_apart_in_validation_are_validation_unlike_training():
    result = fit_items(shift_validation=True)
    assert warnings(result)[0] == "validation_unlike_training"
    assert result.findings[0].evidence["training_gain"] > 0.5   # the item levels explain most of the target
    assert warnings(fit_items(shift_validation=False)) == []


def test_id_columns_become_one_column_per_level_unless_rows_run_short():
    x = torch.tensor([[0.0, 5.0], [2.0, 6.0], [2.0, 7.0], [0.0, 8.0]]).repeat(10, 1)
    data = Sample(x, torch.zeros(40), x, torch.zeros(40), False, x, ids=(0,))
    levels = with_levels(data)
    assert levels.x.shape == (40, 3) and levels.x_eval is levels.x   # column 1, then ids 0 and 2 as 0/1 columns
    assert levels.x[:4, 1:].tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]
    assert with_levels(Sample(x[:12], torch.zeros(12), x, torch.zeros(40), True, x, ids=(0,))).x.shape == (12, 2)


def sorted_classes(n: int = 1200, seed: int = 4):
    """Four classes in 6 columns, each five spreads apart (a model tells them apart nearly perfectly), the training
    rows stored sorted by class: the first 256 rows the doctor reads hold classes 0 and 1 only."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, 6, generator=g) + 5 * nn.functional.one_hot(y, 6).float()
    order = torch.argsort(y[:900], stable=True)
    return x[:900][order], y[:900][order], x[900:], y[900:]


def fit_sorted(loader_shuffles: bool):
    xt, yt, xv, yv = sorted_classes()
    if not loader_shuffles:   # the sorted table cut again: validation's classes 2 and 3 are missing from training
        xt, yt, xv, yv = xt[:450], yt[:450], xt[450:], yt[450:]
    train = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 4))
    return ds.fit(model, train, val=(xv, yv), loss="cross_entropy", max_epochs=15, progress=False, seed=0)


def test_a_shuffled_loader_over_a_sorted_table_is_no_split_that_lacks_classes():
    assert "validation_unlike_training" not in warnings(fit_sorted(loader_shuffles=True))
    assert warnings(fit_sorted(loader_shuffles=False))[0] == "validation_unlike_training"


def customer_sequences(label_joined: bool, n: int = 900, steps: int = 12, seed: int = 5):
    """Twelve monthly steps of (spend, visits, a customer-level column joined onto every step) and next year's
    spend as the target; the joined column is that target itself (`label_joined`) or the customer's age band."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, 3, generator=g)
    y = x[:, -4:, 0].mean(1) + 0.3 * x[:, :, 1].mean(1) + 0.2 * torch.randn(n, generator=g)
    joined = 2 * y + 1 if label_joined else torch.randint(0, 5, (n,), generator=g).float()
    x[:, :, 2] = joined[:, None]
    return x, y


def fit_customers(label_joined: bool):
    x, y = customer_sequences(label_joined)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 32), nn.ReLU(), nn.Linear(32, 1))
    return ds.fit(model, (x[:700], y[:700]), val=(x[700:], y[700:]), max_epochs=8, progress=False, seed=0)


def test_the_target_joined_onto_every_step_is_a_leak_of_that_feature_not_of_the_last_step():
    result = fit_customers(label_joined=True)
    first = result.findings[0]
    assert warnings(result)[0] == "target_leak" and first.evidence["every_step"] and first.evidence["feature"] == 2
    assert "feature 2 out of every step" in first.fix and first.change == {}   # dropping the last step keeps it
    assert "target_leak" not in warnings(fit_customers(label_joined=False))
