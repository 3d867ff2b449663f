"""What staging the canonical failures on other model families (benchmarks/doctor_families.py) taught the doctor,
each on a small real fit with a healthy twin: an lr so high that one spike throws the model back to a constant
prediction, an early spike the run is still climbing back from at its end, a sigmoid CNN whose gradients underflow
to exactly zero (vanishing, not a cut graph), an lr too low whose first batch's loss sits apart from the rest, and
units dead from the start where the live weights hardly move either (the lr, not the units)."""
import torch
from sklearn.datasets import make_classification
from torch import nn

from test_doctor_fresh2 import warnings
from test_doctor_fresh3 import fit_rows, first_warning, mlp
from test_doctor_fresh4 import sequences


def table(seed=1):
    """Four classes in 20 standardized columns, 10 of them informative."""
    x, y = make_classification(n_samples=900, n_features=20, n_informative=10, n_redundant=0, n_classes=4,
                               random_state=seed)
    return torch.tensor((x - x.mean(0)) / x.std(0), dtype=torch.float32), torch.tensor(y)


def test_a_spike_that_leaves_the_model_at_a_constant_prediction_is_an_lr_too_high():
    x, y = table()
    thrown = fit_rows(mlp(20, 4, width=128), x, y, loss="cross_entropy", optimizer="adamw", lr=0.1, max_epochs=15,
                      batch_size=32)
    first = first_warning(thrown)
    assert first.code == "lr_too_high" and first.evidence["kind"] == "collapsed" and first.evidence["rise"] >= 2.5
    assert first.change == {"lr": 0.01} and "constant prediction" in first.message
    lower = fit_rows(mlp(20, 4, width=128), x, y, loss="cross_entropy", optimizer="adamw", lr=first.change["lr"],
                     max_epochs=15, batch_size=32)
    assert "lr_too_high" not in warnings(lower)   # it trains, and overfits: its training loss is no constant's
    fine = fit_rows(mlp(20, 4, width=128), x, y, loss="cross_entropy", optimizer="adamw", lr=1e-3, max_epochs=15,
                    batch_size=32)
    assert warnings(fine) == [] and fine.history[-1]["val_loss"] < 0.7 * thrown.history[-1]["val_loss"]


class Encoder(nn.Module):
    """A tiny pre-norm transformer encoder over (batch, steps, 1) sequences, with learnt positions."""

    def __init__(self, steps=12, dim=32):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.position = nn.Linear(1, dim), nn.Parameter(0.02 * torch.randn(steps, dim))
        layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.position).mean(1))


def test_an_early_spike_the_run_is_still_climbing_back_from_is_an_lr_too_high():
    x, y = sequences()
    high = fit_rows(Encoder(), x, y, loss="cross_entropy", optimizer="adamw", lr=0.1, max_epochs=8)
    first = first_warning(high)
    # the run at lr 0.1 is chaotic: whether its last tenth ends near a constant prediction's loss (collapsed) or
    # above it (diverged) turns on rounding, and AVX2 and AVX-512 kernels round differently; either is the lr
    assert first.code == "lr_too_high" and first.evidence["kind"] in ("diverged", "collapsed")
    assert first.change["lr"] <= 0.01
    fixed = fit_rows(Encoder(), x, y, loss="cross_entropy", optimizer="adamw", lr=first.change["lr"], max_epochs=8)
    assert "lr_too_high" not in warnings(fixed)
    assert fixed.history[-1]["val_loss"] < 0.7 * high.history[-1]["val_loss"]


def conv(act, depth=6, width=8):
    torch.manual_seed(0)
    layers, inputs = [], 1
    for _ in range(depth):
        layers += [nn.Conv2d(inputs, width, 3, padding=1), act()]
        inputs = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 64, 4))


def images(n=800, seed=0):
    """8x8 one-channel images of four classes: a bright quadrant, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.rand(n, 1, 8, 8, generator=g)
    for k in range(4):
        rows, cols = divmod(k, 2)
        x[y == k, :, 4 * rows:4 * rows + 4, 4 * cols:4 * cols + 4] += 0.7
    return x, y


def test_gradients_that_underflow_to_zero_in_a_sigmoid_cnn_are_vanishing_not_detached():
    x, y = images()
    deep = fit_rows(conv(nn.Sigmoid), x, y, loss="cross_entropy", max_epochs=6)
    first = first_warning(deep)
    assert first.code == "vanishing_gradients" and "detached_parameters" not in warnings(deep)
    assert first.change == {"activation": "relu", "init": "kaiming"}
    relu = fit_rows(conv(nn.ReLU), x, y, loss="cross_entropy", max_epochs=6)
    assert warnings(relu) == [] and relu.history[-1]["val_loss"] < 0.2 * deep.history[-1]["val_loss"]


class Factorization(nn.Module):
    def __init__(self, users=150, items=80, dim=8):
        super().__init__()
        torch.manual_seed(0)
        self.user, self.item = nn.Embedding(users, dim), nn.Embedding(items, dim)

    def forward(self, pairs):
        return (self.user(pairs[:, 0]) * self.item(pairs[:, 1])).sum(1)


def ratings(rows=4000, users=150, items=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    taste, trait = torch.randn(users, 3, generator=g), torch.randn(items, 3, generator=g)
    pairs = torch.stack([torch.randint(0, users, (rows,), generator=g), torch.randint(0, items, (rows,), generator=g)],
                        1)
    return pairs, (taste[pairs[:, 0]] * trait[pairs[:, 1]]).sum(1) / 2 + 0.3 * torch.randn(rows, generator=g)


def test_an_lr_too_low_is_named_when_the_first_batch_sits_apart_from_the_rest():
    pairs, y = ratings()
    slow = fit_rows(Factorization(), pairs, y, cut=3000, optimizer="adam", lr=3e-5, max_epochs=12, batch_size=256)
    first = first_warning(slow)
    assert first.code == "lr_too_low" and first.change["lr"] > 1e-3
    s = slow.history
    fine = fit_rows(Factorization(), pairs, y, cut=3000, optimizer="adam", lr=1e-2, max_epochs=12, batch_size=256)
    assert "lr_too_low" not in warnings(fine) and fine.history[-1]["val_loss"] < 0.5 * s[-1]["val_loss"]


def autoencoder():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 32), nn.ReLU(),
                         nn.Linear(32, 64))


def pictures(n=900, seed=0):
    """64-pixel pictures in [0, 1] made of 6 random strokes each: an autoencoder's data (targets are inputs)."""
    g = torch.Generator().manual_seed(seed)
    strokes = (torch.rand(12, 64, generator=g) < 0.2).float()
    weights = torch.rand(n, 12, generator=g) * (torch.rand(n, 12, generator=g) < 0.5)
    return (weights @ strokes).clamp(0, 1)


def test_units_dead_from_the_start_leave_a_too_small_lr_to_lr_too_low():
    x = pictures()
    slow = fit_rows(autoencoder(), x, x, optimizer="adamw", lr=3e-6, max_epochs=20, batch_size=128)
    assert first_warning(slow).code == "lr_too_low" and "dead_units" not in warnings(slow)
    fine = fit_rows(autoencoder(), x, x, optimizer="adamw", lr=3e-3, max_epochs=20, batch_size=128)
    assert warnings(fine) == [] and fine.history[-1]["val_loss"] < 0.5 * slow.history[-1]["val_loss"]


def test_a_model_that_fits_its_rows_before_the_first_evaluation_and_fails_new_ones_is_overfitting():
    pairs, y = ratings(rows=1400)
    few = fit_rows(Factorization(), pairs, y, cut=400, max_epochs=300, batch_size=400, eval_every=10)
    first = first_warning(few)
    assert first.code == "overfitting" and first.change == {"weight_decay": 0.1}
    assert first.evidence["val_best"] > 1.2 * first.evidence["constant_baseline"] > 10 * first.evidence["train_last"]
    pairs, y = ratings()
    many = fit_rows(Factorization(), pairs, y, cut=3000, max_epochs=12, batch_size=256)
    assert warnings(many) == []


def lstm_on_walks(lr):
    """An LSTM (benchmarks/doctor_families.py's) fitted by Adam at `lr` on doctor_fresh's random walks (20 steps, a
    class from a decaying sum of them; 900 training rows, 300 validation rows)."""
    import descend as ds
    from benchmarks.doctor_families import Recurrent
    from benchmarks.doctor_fresh import sequences as walks
    xt, yt, xv, yv = walks()
    torch.manual_seed(0)
    return ds.fit(Recurrent(2, "lstm"), (xt, yt), val=(xv, yv), loss="cross_entropy", optimizer="adam", lr=lr,
                  max_epochs=10, batch_size=32, progress=False)


def test_adam_at_a_coarse_lr_that_leaves_a_network_short_is_an_lr_too_high_never_a_call_for_more_lr():
    coarse = lstm_on_walks(0.1)
    first = first_warning(coarse)
    assert first.code == "lr_too_high" and first.evidence["kind"] == "coarse" and first.change["lr"] <= 0.01
    assert "underfitting" not in warnings(coarse)   # whose fix for a model this size was a 10x higher lr
    fixed = lstm_on_walks(first.change["lr"])
    assert "lr_too_high" not in warnings(fixed)
    assert fixed.history[-1]["val_loss"] < 0.7 * coarse.history[-1]["val_loss"]


def test_adam_at_a_coarse_lr_on_a_linear_model_is_no_finding():
    x, y = table()
    linear = fit_rows(nn.Linear(20, 4), x, y, loss="cross_entropy", optimizer="adam", lr=0.1, max_epochs=10,
                      batch_size=32)
    assert "lr_too_high" not in warnings(linear)
