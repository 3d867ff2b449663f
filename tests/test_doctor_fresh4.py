"""What the fourth fresh set (benchmarks/doctor_fresh4.py) taught the doctor, each on a small real fit with a
healthy twin that must stay silent: weights the loss never reaches (a .detach() in forward), rows mixed within a
batch (a GRU without batch_first), a hand-written loss that broadcasts instead of pairing rows, dropout that
drowns the signal, Adam's eps swamping the gradient, Patience(1) stopped by a fluctuation of training, and gross values
in the training target that validation lacks."""
import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from torch import nn

import descend as ds
from descend.doctor.probes import batch_mixing, unpaired_loss
from test_doctor_fresh2 import WARN, classes, regression, warnings
from test_doctor_fresh3 import fit_rows, mlp


def first_warning(result):
    return next(f for f in result.findings if f.severity in WARN)


class Detached(nn.Module):
    """A two-layer body and a linear head, with the graph cut between them when `cut` (only the head trains)."""

    def __init__(self, inputs, width=64, cut=True):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.head, self.cut = nn.Linear(width, 1), cut

    def forward(self, x):
        h = self.body(x)
        return self.head(h.detach() if self.cut else h)


def test_weights_behind_a_detach_are_named_and_the_same_model_without_it_stays_silent():
    x, y = regression()
    cut = fit_rows(Detached(6), x, y, max_epochs=15)
    first = first_warning(cut)
    assert first.code == "detached_parameters" and first.evidence["weights"] == ["body.0.weight", "body.2.weight"]
    assert first.change == {} and ".detach()" in first.fix
    whole = fit_rows(Detached(6, cut=False), x, y, max_epochs=15)
    assert "detached_parameters" not in warnings(whole)
    assert whole.history[-1]["val_loss"] < 0.5 * cut.history[-1]["val_loss"]


class SequenceGRU(nn.Module):
    def __init__(self, batch_first):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.GRU(1, 16, batch_first=batch_first), nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def sequences(n=900, steps=12, seed=0):
    """Sequences whose class is the sign of a recent-weighted sum of their values."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, 1, generator=g)
    return x, ((x[:, :, 0] * 0.8 ** torch.arange(steps - 1, -1, -1)).sum(1) > 0).long()


def test_a_gru_without_batch_first_mixes_rows_and_is_named_while_batch_first_stays_silent():
    x, y = sequences()
    mixed = fit_rows(SequenceGRU(batch_first=False), x, y, loss="cross_entropy", max_epochs=10)
    first = first_warning(mixed)
    assert first.code == "batch_mixing" and "batch_first=True" in first.fix and first.evidence["change"] > 0.01
    right = fit_rows(SequenceGRU(batch_first=True), x, y, loss="cross_entropy", max_epochs=10)
    assert "batch_mixing" not in warnings(right)
    assert right.history[-1]["val_loss"] < 0.5 * mixed.history[-1]["val_loss"]


def test_the_batch_mixing_probe_sees_a_softmax_over_rows_and_not_a_row_wise_model():
    rows = torch.randn(32, 5)
    torch.manual_seed(0)
    assert batch_mixing(nn.Sequential(nn.Linear(5, 3), nn.Softmax(dim=0)), rows) > 0.01
    assert batch_mixing(nn.Sequential(nn.Linear(5, 3), nn.Softmax(dim=1)), rows) is None
    assert batch_mixing(nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)), rows) is None


def broadcast_mse(output, target):
    return ((output - target) ** 2).mean()


def test_a_loss_that_broadcasts_instead_of_pairing_rows_is_named_and_the_named_loss_fixes_the_run():
    x, y = regression()
    unpaired = fit_rows(mlp(6, 1), x, y, loss=broadcast_mse, max_epochs=15)
    first = first_warning(unpaired)
    assert first.code == "loss_unpaired" and first.change == {"loss": "mse"}
    assert first.evidence["output"][1:] == [1] and len(first.evidence["target"]) == 1
    fixed = fit_rows(mlp(6, 1), x, y, max_epochs=15, **first.change)
    assert warnings(fixed) == [] and fixed.history[-1]["val_loss"] < 0.3 * unpaired.history[-1]["val_loss"]
    paired = fit_rows(mlp(6, 1), x, y, loss=lambda out, t: ((out.squeeze(-1) - t) ** 2).mean(), max_epochs=15)
    assert "loss_unpaired" not in warnings(paired)


def test_the_unpaired_probe_names_mae_and_leaves_losses_that_pair_rows_alone():
    target = torch.randn(32, generator=torch.Generator().manual_seed(7))
    absolute = lambda out, t: (out - t).abs().mean()   # noqa: E731 - the loss as a user writes it
    assert unpaired_loss(absolute, torch.zeros(32, 1), target)["same_as"] == "mae"
    assert unpaired_loss(lambda out, t: (out - t).abs().mean(), torch.zeros(32), target) is None
    assert unpaired_loss("mse", torch.zeros(32, 1), target) is None   # named losses align shapes themselves


def dropout_mlp(p, classes_=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 128), nn.ReLU(), nn.Dropout(p), nn.Linear(128, 128), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(128, classes_))


def test_dropout_of_0_9_is_named_and_its_suggested_p_fixes_the_run_while_0_2_stays_silent():
    x, y = classes(n=1200, k=4)
    heavy = fit_rows(dropout_mlp(0.95), x, y, cut=900, loss="cross_entropy", max_epochs=10)
    first = first_warning(heavy)
    assert first.code == "dropout_too_strong" and first.change == {"dropout": 0.1}
    assert first.evidence["dropout"] == pytest.approx(0.95)
    light = fit_rows(dropout_mlp(first.change["dropout"]), x, y, cut=900, loss="cross_entropy", max_epochs=10)
    assert light.history[-1]["val_loss"] < 0.7 * heavy.history[-1]["val_loss"]
    assert "dropout_too_strong" not in warnings(fit_rows(dropout_mlp(0.2), x, y, cut=900, loss="cross_entropy",
                                                         max_epochs=10))


def test_adams_eps_of_1_is_named_and_the_default_eps_fixes_the_run():
    x, y = regression()
    model = mlp(6, 1)
    swamped = fit_rows(model, x, y, optimizer=torch.optim.Adam(model.parameters(), eps=1.0), max_epochs=15)
    first = first_warning(swamped)
    assert first.code == "optimizer_eps" and first.evidence["eps"] == 1.0 and first.change == {"optimizer_eps": 1e-8}
    assert first.evidence["gradient_per_weight"] < 0.1
    model = mlp(6, 1)
    plain = fit_rows(model, x, y, optimizer=torch.optim.Adam(model.parameters(), eps=1e-8), max_epochs=15)
    assert "optimizer_eps" not in warnings(plain)
    assert plain.history[-1]["val_loss"] < 0.6 * swamped.history[-1]["val_loss"]


def gross_errors(y, share=0.08, size=15.0):
    g = torch.Generator().manual_seed(1)
    hit = torch.rand(len(y), generator=g) < share
    return torch.where(hit, size * torch.where(torch.rand(len(y), generator=g) < 0.5, -1.0, 1.0), y)


def test_gross_values_only_in_the_training_target_are_named_and_huber_fixes_the_run():
    x, y = regression(n=1200)
    train = (x[:900], gross_errors(y[:900]))
    val = (x[900:], y[900:])
    pulled = ds.fit(mlp(6, 1), train, val=val, max_epochs=15, metrics=["mse"], progress=False)
    first = first_warning(pulled)
    assert first.code == "target_errors" and first.change == {"loss": "huber"}
    assert 0.04 < first.evidence["share"] < 0.12 and first.evidence["val_share"] < 0.02
    robust = ds.fit(mlp(6, 1), train, val=val, max_epochs=15, metrics=["mse"], progress=False, **first.change)
    assert "target_errors" not in warnings(robust)
    assert robust.history[-1]["val_mse"] < 0.75 * pulled.history[-1]["val_mse"]
    # a heavy tail that validation shares is the data itself: silent
    shared = ds.fit(mlp(6, 1), train, val=(x[900:], gross_errors(y[900:])), max_epochs=15, progress=False)
    assert "target_errors" not in warnings(shared)
    # 60 clean validation rows would hold about 5 such values at training's share: none there may be chance
    small = ds.fit(mlp(6, 1), train, val=(x[900:960], y[900:960]), max_epochs=15, progress=False)
    assert "target_errors" not in warnings(small)


def blobs(seed=45):
    """Four classes in 12 columns (8 informative), standardized, in a random order."""
    x, y = make_classification(n_samples=1500, n_features=12, n_informative=8, n_redundant=0, n_classes=4,
                               random_state=seed)
    order = np.random.default_rng(0).permutation(len(y))
    x = torch.tensor(x[order], dtype=torch.float32)
    return (x - x.mean(0)) / x.std(0), torch.tensor(y[order])


def wide(inputs, outputs):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(inputs, 128), nn.ReLU(), nn.Linear(128, outputs))


def test_patience_1_stopped_by_a_fluctuation_of_training_is_named_and_patience_10_trains_on():
    x, y = blobs()
    short = fit_rows(wide(12, 4), x, y, cut=1125, loss="cross_entropy", batch_size=16, max_epochs=60,
                     stop=[ds.stop.Patience(1)], metrics=["accuracy"], seed=0)
    first = first_warning(short)
    assert first.code == "stopped_too_early" and first.change == {"patience": 10}
    assert first.evidence["steps"] < first.evidence["planned_steps"] / 4 and "training loss" in first.message
    patient = fit_rows(wide(12, 4), x, y, cut=1125, loss="cross_entropy", batch_size=16, max_epochs=60,
                       stop=[ds.stop.Patience(10, restore_best=True)], metrics=["accuracy"], seed=0)
    assert "stopped_too_early" not in warnings(patient)
    assert patient.best["val_accuracy"] > short.history[-1]["val_accuracy"] + 0.02


def weighted_bce(pos_weight):
    loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    return lambda output, target: loss(output.reshape(target.shape), target)


def test_a_class_weight_on_balanced_classes_is_named_and_the_plain_loss_fixes_the_run():
    x, k = classes(n=1600, k=2, seed=2)
    x = x + 1.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(6))   # classes that overlap a little
    y = k.float()
    heavy = fit_rows(mlp(6, 1), x, y, cut=1000, loss=weighted_bce(50.0), max_epochs=10, metrics=["accuracy"])
    first = first_warning(heavy)
    assert first.code == "class_weighting" and first.change == {"loss": "bce"}
    assert first.evidence["predicted"] > first.evidence["actual"] + 0.05
    plain = fit_rows(mlp(6, 1), x, y, cut=1000, max_epochs=10, metrics=["accuracy"], **first.change)
    assert "class_weighting" not in warnings(plain)
    assert plain.history[-1]["val_accuracy"] > heavy.history[-1]["val_accuracy"] + 0.02
    even = fit_rows(mlp(6, 1), x, y, cut=1000, loss=weighted_bce(1.0), max_epochs=10)
    assert "class_weighting" not in warnings(even)


def test_a_pinball_loss_that_pairs_rows_is_not_called_unpaired_on_targets_in_their_own_units():
    target = 500 + 100 * torch.randn(32, generator=torch.Generator().manual_seed(3))   # all far above 0

    def pinball(out, t, q=0.9):
        d = t - out.squeeze(-1)
        return torch.maximum(q * d, (q - 1) * d).mean()
    assert unpaired_loss(pinball, torch.zeros(32, 1), target) is None
    assert unpaired_loss(lambda out, t: (out - t).abs().mean(), torch.zeros(32), target) is None
    broadcast = unpaired_loss(lambda out, t: (out - t).abs().mean(), torch.zeros(32, 1), target)
    assert broadcast == {"output": [32, 1], "target": [32], "same_as": "mae"}
