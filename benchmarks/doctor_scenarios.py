"""The doctor's scenario suite: induced failures with a known cause and healthy runs, built as a user would build
them on data that ships with scikit-learn or is generated, with varied models (MLPs, linear models, a CNN,
embeddings), losses and batch sizes. Each runs on fit's defaults (optimizer="auto") and states only what its failure
needs: an optimizer and lr where that is the failure (or, for three healthy runs, the user's stated choice).

For each failure: is the true cause the first finding (recall), and does the first finding's fix (its `change`,
applied to the data, model or fit arguments) make the problem go away? For each healthy run: no warning. Over
all runs: the share of warnings and errors that are true (a finding is true when it names the scenario's cause or
one of the symptoms the scenario lists as genuinely present). HELD_OUT scenarios were written with the others but
not run until the rules were final.

    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py            # everything, with fixes checked
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --quick    # fast scenarios only
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh    # only the fresh set (doctor_fresh.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh2   # only the second fresh set (doctor_fresh2.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh3   # only the third fresh set (doctor_fresh3.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh4   # only the fourth fresh set (doctor_fresh4.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --families # failures x model families (doctor_families.py)

    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh5   # only the fifth fresh set (doctor_fresh5.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh6   # only the sixth fresh set (doctor_fresh6.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh7   # only the seventh fresh set (doctor_fresh7.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh8   # only the eighth fresh set (doctor_fresh8.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh9   # only the ninth fresh set (doctor_fresh9.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh10  # only the tenth fresh set (doctor_fresh10.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh11  # only the eleventh fresh set (doctor_fresh11.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh12  # only the twelfth fresh set (doctor_fresh12.py)
    PYTHONPATH=src:. python benchmarks/doctor_scenarios.py --fresh13  # only the thirteenth set (doctor_fresh13.py)
"""
from __future__ import annotations

import argparse
import importlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from sklearn import datasets
from torch import nn
from torch.utils.data import DataLoader

import descend as ds
from descend.doctor.findings import ACTIONS

WARN = ("warning", "error")
Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


# ---- data, as a user would load it ----------------------------------------------------------------------------
def _split(x, y, val: float = 0.25, seed: int = 0, y_dtype=torch.float32) -> Data:
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = np.asarray(x, dtype=np.float32)[order], np.asarray(y)[order]
    cut = int(len(y) * (1 - val))
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=y_dtype)
    return xt[:cut], yt[:cut], xt[cut:], yt[cut:]


def standardize(data: Data, columns: list[int] | None = None) -> Data:
    """Every input column (or only `columns`) less its training mean, over its training standard deviation."""
    xt, yt, xv, yv = data
    mean, std = xt.mean(0), xt.std(0).clamp_min(1e-8)
    if columns is not None:   # the others (ids) keep their values
        keep = torch.ones(xt.shape[1], dtype=torch.bool)
        keep[columns] = False
        mean, std = mean.masked_fill(keep, 0.0), std.masked_fill(keep, 1.0)
    return (xt - mean) / std, yt, None if xv is None else (xv - mean) / std, yv


def classes(loader, **kw) -> Data:
    x, y = loader(return_X_y=True) if callable(loader) else loader
    return _split(x, y, y_dtype=torch.long, **kw)


def regression_target(x, y) -> Data:
    y = np.asarray(y, dtype=np.float32)
    return _split(x, (y - y.mean()) / y.std())


def cancer() -> Data:
    return classes(datasets.load_breast_cancer)


def digits() -> Data:
    return classes(datasets.load_digits)


def diabetes() -> Data:
    return regression_target(*datasets.load_diabetes(return_X_y=True))


def friedman(noise=1.0, n=1500, seed=0) -> Data:
    return regression_target(*datasets.make_friedman1(n_samples=n, noise=noise, random_state=seed))


def moons(n=1000, noise=0.2) -> Data:
    return classes(datasets.make_moons(n_samples=n, noise=noise, random_state=0))


def circles(n=1000) -> Data:
    return classes(datasets.make_circles(n_samples=n, noise=0.1, factor=0.5, random_state=0))


def blobs(n=1200, features=10, informative=5, classes_=3, weights=None, sep=1.0, seed=0) -> Data:
    return classes(datasets.make_classification(n_samples=n, n_features=features, n_informative=informative,
                                                n_redundant=0, n_classes=classes_, weights=weights,
                                                class_sep=sep, random_state=seed))


def linear_regression(n=1500, features=8, noise=10.0, seed=0) -> Data:
    return regression_target(*datasets.make_regression(n_samples=n, n_features=features, noise=noise,
                                                       random_state=seed))


def binary_float(data: Data) -> Data:
    xt, yt, xv, yv = data
    return xt, yt.float(), xv, yv.float()


def one_hot(data: Data) -> Data:
    xt, yt, xv, yv = data
    k = int(yt.max()) + 1
    return xt, nn.functional.one_hot(yt, k).float(), xv, nn.functional.one_hot(yv, k).float()


# ---- models ---------------------------------------------------------------------------------------------------
def mlp(inputs: int, outputs: int, hidden=(64,), act: str = "relu", head: nn.Module | None = None,
        larger: bool = False) -> nn.Sequential:
    """An MLP with `act` between `hidden` layers (4x wider when `larger`) and an optional output `head`."""
    hidden = [4 * h for h in hidden] if larger else hidden
    activation = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}[act]
    layers, width = [], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        width = h
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers, *([head] if head is not None else []))


def digit_images() -> Data:
    """The 8x8 digits as one-channel images with pixels scaled to [0, 1] (same-unit pixels: no standardizing)."""
    xt, yt, xv, yv = digits()
    return xt.reshape(-1, 1, 8, 8) / 16, yt, xv.reshape(-1, 1, 8, 8) / 16, yv


def cnn(channels: int, outputs: int, act: str = "relu", **_) -> nn.Sequential:
    """Two 3x3 convolutions and a linear head, for 8x8 images."""
    activation = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}[act]
    return nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), activation(), nn.Conv2d(16, 16, 3, padding=1),
                         activation(), nn.Flatten(), nn.Linear(16 * 64, outputs))


def ratings(users: int = 200, items: int = 100, rows: int = 6000, seed: int = 0) -> Data:
    """(user, item) id pairs and a rating that is the dot product of hidden 4-dimensional tastes, plus noise."""
    g = torch.Generator().manual_seed(seed)
    taste, trait = torch.randn(users, 4, generator=g), torch.randn(items, 4, generator=g)
    pairs = torch.stack([torch.randint(0, users, (rows,), generator=g),
                         torch.randint(0, items, (rows,), generator=g)], 1)
    y = (taste[pairs[:, 0]] * trait[pairs[:, 1]]).sum(1) / 2 + 0.3 * torch.randn(rows, generator=g)
    cut = rows * 3 // 4
    return pairs[:cut], y[:cut], pairs[cut:], y[cut:]


class Factorization(nn.Module):
    """A rating as the dot product of a user's and an item's learnt embeddings, plus their biases."""

    def __init__(self, users: int = 200, items: int = 100, dim: int = 8):
        super().__init__()
        self.user, self.item = nn.Embedding(users, dim), nn.Embedding(items, dim)
        self.user_bias, self.item_bias = nn.Embedding(users, 1), nn.Embedding(items, 1)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        u, i = pairs[:, 0], pairs[:, 1]
        return (self.user(u) * self.item(i)).sum(1) + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0]


# ---- scenarios ------------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """One run: `data()` gives (x_train, y_train, x_val, y_val); `model(inputs, outputs, activation, larger)` builds
    the model (seeded); `fit` holds fit's arguments. `cause` is the true cause (None: healthy) and `expect` the
    finding codes that name it; `present` lists other findings that are true here (genuine symptoms). `better`
    says whether the fixed run is better ("score": lower validation loss or higher metric; "cause": the cause's
    finding is gone, for fixes that trade score for honesty such as dropping a leaking column)."""

    name: str
    cause: str | None
    data: Callable[[], Data]
    model: Callable[..., nn.Module]
    fit: dict
    expect: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    outputs: int = 1
    better: str = "score"
    score: str = "val_loss"
    slow: bool = False
    prepare: Callable[[nn.Module], None] | None = None
    seed: int = 0
    rows: bool = False    # training data as a DataLoader over a list of rows (fit cannot scan it beforehand)
    loader: Callable | None = None   # loader(x, y, batch_size): the user's own training loader
    optimizer: Callable | None = None   # optimizer(parameters): the user's own Optimizer instance

    def __post_init__(self):
        self.expect = self.expect or ((self.cause,) if self.cause else ())


def bias(value: float, layer: int = 0) -> Callable[[nn.Module], None]:
    def set_bias(model):
        with torch.no_grad():
            model[layer].bias.fill_(value)
    return set_bias


def scale_weights(factor: float) -> Callable[[nn.Module], None]:
    def scale(model):
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(factor)
    return scale


def with_leak(data: Data, affine=(1.0, 0.0)) -> Data:
    xt, yt, xv, yv = data
    a, b = affine
    return (torch.cat([xt, a * yt.float()[:, None] + b], 1), yt, torch.cat([xv, a * yv.float()[:, None] + b], 1), yv)


def shuffled_labels(data: Data) -> Data:
    xt, yt, xv, yv = data
    g = torch.Generator().manual_seed(1)
    return xt, yt[torch.randperm(len(yt), generator=g)], xv, yv[torch.randperm(len(yv), generator=g)]


def with_columns_scaled(data: Data, factor: float, columns: int) -> Data:
    xt, yt, xv, yv = data
    scale = torch.ones(xt.shape[1])
    scale[:columns] = factor
    return xt * scale, yt, xv * scale, yv


def with_outlier_target(data: Data, value=300.0) -> Data:
    xt, yt, xv, yv = data
    yt = yt.clone()
    yt[len(yt) // 3] = value
    return xt, yt, xv, yv


def with_nan(data: Data) -> Data:
    xt = data[0].clone()
    xt[300, 2] = float("nan")
    return (xt, *data[1:])


def noise_target(data: Data) -> Data:
    xt, yt, xv, yv = data
    g = torch.Generator().manual_seed(2)
    return xt, torch.randn(len(yt), generator=g), xv, torch.randn(len(yv), generator=g)


def few_rows(data: Data, rows: int) -> Data:
    xt, yt, xv, yv = data
    return xt[:rows], yt[:rows], xv, yv


def nan_loss(output, target):
    """A hand-written binary log-loss on raw scores: log of a negative number is NaN at the first batch."""
    out = output.squeeze(-1)
    return -(target * torch.log(out) + (1 - target) * torch.log(1 - out)).mean()


def row_accuracy(output, target) -> float:
    """Accuracy for one-hot target rows."""
    return (output.argmax(1) == target.argmax(1)).float().mean().item()


def early():
    return [ds.stop.Patience(5, restore_best=True)]


def S(*args, **kw) -> Scenario:
    return Scenario(*args, **kw)


def std(f):
    return lambda: standardize(f())


FAILURES = [
    S("adamw lr 0.5 on breast cancer mlp", "lr_too_high", std(cancer), mlp,
      dict(loss="cross_entropy", optimizer="adamw", lr=0.5, max_epochs=15, metrics=["accuracy"]), outputs=2),
    S("sgd lr 2 on diabetes linear", "lr_too_high", std(diabetes), lambda i, o, **_: nn.Linear(i, o),
      dict(optimizer="sgd", lr=2.0, max_epochs=30, batch_size=32), expect=("lr_too_high", "non_finite")),
    S("sgd momentum lr 3 on wine mlp", "lr_too_high", std(lambda: classes(datasets.load_wine)), mlp,
      dict(loss="cross_entropy", optimizer="sgd", lr=3.0, max_epochs=40, batch_size=16), outputs=3,
      expect=("lr_too_high", "non_finite")),
    S("adam lr 0.3 on digits mlp", "lr_too_high", std(digits), mlp,
      dict(loss="cross_entropy", optimizer="adam", lr=0.3, max_epochs=8), outputs=10),
    S("adamw lr 50 on friedman mlp, full batch", "lr_too_high", std(friedman), mlp,
      dict(optimizer="adamw", lr=50.0, max_steps=100, batch_size=2000), expect=("lr_too_high", "non_finite")),
    S("sgd lr 1e-6 on wine mlp", "lr_too_low", std(lambda: classes(datasets.load_wine)), mlp,
      dict(loss="cross_entropy", optimizer="sgd", lr=1e-6, max_epochs=30, batch_size=16), outputs=3),
    S("adamw lr 1e-7 on moons", "lr_too_low", moons, lambda i, o, **k: mlp(i, o, (32, 32), **k),
      dict(loss="cross_entropy", optimizer="adamw", lr=1e-7, max_epochs=20, batch_size=32), outputs=2),
    S("raw breast cancer features", "unscaled_inputs", cancer, mlp,
      dict(loss="cross_entropy", max_epochs=15, metrics=["accuracy"]), outputs=2, score="val_accuracy"),
    S("regression with 5 columns in 1e4 units, sgd", "unscaled_inputs",
      lambda: with_columns_scaled(linear_regression(), 1e4, 5), lambda i, o, **_: nn.Linear(i, o),
      dict(optimizer="sgd", lr=1e-3, max_epochs=10), expect=("unscaled_inputs",)),
    S("10-layer sigmoid on moons", "vanishing_gradients", moons,
      lambda i, o, act="sigmoid", **_: mlp(i, o, (32,) * 10, act=act), dict(loss="cross_entropy", max_epochs=15),
      outputs=2),
    S("8-layer sigmoid on digits", "vanishing_gradients", std(digits),
      lambda i, o, act="sigmoid", **_: mlp(i, o, (64,) * 8, act=act), dict(loss="cross_entropy", max_epochs=8),
      outputs=10),
    S("first-layer bias -20 on breast cancer", "dead_units", std(cancer), mlp,
      dict(loss="cross_entropy", max_epochs=10), outputs=2, prepare=bias(-20.0),
      expect=("dead_units", "vanishing_gradients")),
    S("first-layer bias -8 on friedman", "dead_units", std(friedman), lambda i, o, **k: mlp(i, o, (32,), **k),
      dict(max_epochs=10, batch_size=32), prepare=bias(-8.0), expect=("dead_units", "vanishing_gradients")),
    S("10-layer relu with 3x init (diabetes)", "bad_start", std(diabetes),
      lambda i, o, **k: mlp(i, o, (64,) * 10, **k), dict(max_epochs=20, batch_size=32), prepare=scale_weights(3.0)),
    S("big-init sgd on regression", "bad_start", std(linear_regression),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(optimizer="sgd", lr=1e-2, max_epochs=10),
      prepare=scale_weights(8.0), expect=("bad_start",)),
    S("NaN row in the training features, read as a list of rows", "non_finite", lambda: with_nan(std(cancer)()),
      mlp, dict(loss="cross_entropy", max_epochs=5, batch_size=32), outputs=2, rows=True),
    S("hand-written log loss on raw scores", "non_finite", std(lambda: binary_float(cancer())), mlp,
      dict(loss=nan_loss, max_epochs=5)),
    S("40 rows for a 512-wide net (digits)", "overfitting", lambda: few_rows(std(digits)(), 40),
      lambda i, o, **k: mlp(i, o, (512,), **k), dict(loss="cross_entropy", max_epochs=300, batch_size=40,
                                                     eval_every=10), outputs=10, slow=True),
    S("wine, 30 rows, deep wide net, 400 epochs", "overfitting",
      lambda: few_rows(std(lambda: classes(datasets.load_wine))(), 30), lambda i, o, **k: mlp(i, o, (256, 256), **k),
      dict(loss="cross_entropy", max_epochs=400, batch_size=30, eval_every=10), outputs=3, slow=True),
    S("breast cancer mlp, bce, 30 epochs", "overfitting", std(lambda: binary_float(cancer())), mlp,
      dict(loss="bce", max_epochs=30, metrics=["accuracy"])),   # auto's lr: validation loss doubles from epoch 6
    S("friedman, 60 rows, big mlp", "overfitting", lambda: few_rows(std(friedman)(), 60),
      lambda i, o, **k: mlp(i, o, (256, 256), **k), dict(max_epochs=400, batch_size=60, eval_every=10), slow=True),
    S("linear model on circles", "underfitting", circles, lambda i, o, larger=False, **k:
      mlp(i, o, (64,)) if larger else nn.Linear(i, o), dict(loss="cross_entropy", max_epochs=30),
      outputs=2),
    S("linear model on friedman", "underfitting", std(friedman), lambda i, o, larger=False, **k:
      mlp(i, o, (64,)) if larger else nn.Linear(i, o), dict(max_epochs=40)),
    S("width-1 bottleneck on digits", "underfitting", std(digits), lambda i, o, larger=False, **k:
      mlp(i, o, (64,) if larger else (1,)), dict(loss="cross_entropy", max_epochs=40), outputs=10, slow=True),
    S("shuffled labels, breast cancer mlp", "no_signal", lambda: shuffled_labels(std(cancer)()), mlp,
      dict(loss="cross_entropy", max_epochs=20, metrics=["accuracy"]), outputs=2, present=("overfitting",)),
    S("target independent of features (regression)", "no_signal", lambda: noise_target(std(diabetes)()),
      lambda i, o, **k: mlp(i, o, (32,), **k), dict(max_epochs=30, batch_size=32), present=("overfitting",)),
    S("target appended as a column (breast cancer)", "target_leak", lambda: with_leak(std(cancer)()), mlp,
      dict(loss="cross_entropy", max_epochs=10), outputs=2, better="cause"),
    S("3y+1 as a feature (diabetes)", "target_leak", lambda: with_leak(std(diabetes)(), (3.0, 1.0)),
      lambda i, o, **_: nn.Linear(i, o), dict(max_epochs=20), better="cause"),
    S("95/5 classes, weak signal, mlp with weight decay", "class_imbalance",
      lambda: standardize(blobs(n=3000, classes_=2, weights=[0.95], sep=1.5, features=6, informative=3)),
      mlp, dict(loss="cross_entropy", max_epochs=10, weight_decay=2.0, metrics=["accuracy"]), outputs=2,
      score="balanced", present=("weight_decay_too_strong",)),   # the decay that makes it collapse is strong too
    S("linear regression, sgd lr 1e-3, 5 epochs (diabetes)", "not_converged", std(diabetes),
      lambda i, o, **_: nn.Linear(i, o), dict(optimizer="sgd", lr=1e-3, max_epochs=5, batch_size=32)),
    S("digits mlp, 2 epochs of adamw at lr 1e-4", "not_converged", std(digits), mlp,
      dict(loss="cross_entropy", optimizer="adamw", lr=1e-4, max_epochs=2), outputs=10),
    S("mse on 0/1 labels with accuracy (breast cancer)", "loss_target_mismatch",
      std(lambda: binary_float(cancer())), lambda i, o, **k: mlp(i, o, (32,), **k),
      dict(loss="mse", metrics=["accuracy"], max_epochs=20), score="val_accuracy"),
    S("softmax + mse on one-hot iris", "loss_target_mismatch", std(lambda: one_hot(classes(datasets.load_iris))),
      lambda i, o, **k: mlp(i, o, (16,), head=nn.Softmax(-1), **k),
      dict(loss="mse", max_epochs=30, batch_size=16, metrics=[row_accuracy]), outputs=3, score="val_row_accuracy",
      present=("overfitting",)),   # at auto's lr the validation loss rises a fifth while training's halves
    S("lbfgs named on mini-batches of 256 (digits mlp)", "line_search_on_batches", std(digits), mlp,
      dict(loss="cross_entropy", optimizer="lbfgs", batch_size=256, max_epochs=10), outputs=10),
    S("cnn on digit images, first conv bias -20", "dead_units", digit_images, cnn,
      dict(loss="cross_entropy", max_epochs=5), outputs=10, prepare=bias(-20.0),
      expect=("dead_units", "vanishing_gradients")),
    S("cnn on digit images, sgd lr 1e-5", "lr_too_low", digit_images, cnn,
      dict(loss="cross_entropy", optimizer="sgd", lr=1e-5, max_epochs=5), outputs=10),
    S("rating embeddings, sgd lr 100", "lr_too_high", ratings, lambda i, o, **_: Factorization(),
      dict(optimizer="sgd", lr=100.0, max_epochs=5), expect=("lr_too_high", "non_finite")),
    S("missing target coded as 9999 in regression", "exploding_gradients",
      lambda: with_outlier_target(std(friedman)(), 9999.0),
      lambda i, o, **k: mlp(i, o, (16,), **k), dict(batch_size=32, max_steps=200), better="cause"),
]

HEALTHY = [
    S("digits mlp", None, std(digits), mlp, dict(loss="cross_entropy", max_epochs=20, metrics=["accuracy"]),
      outputs=10),
    S("iris softmax regression", None, std(lambda: classes(datasets.load_iris)), lambda i, o, **_: nn.Linear(i, o),
      dict(loss="cross_entropy", batch_size=16, max_epochs=60, metrics=["accuracy"]), outputs=3),
    S("wine mlp, patience", None, std(lambda: classes(datasets.load_wine)), mlp,
      dict(loss="cross_entropy", batch_size=16, max_epochs=60, stop=early()), outputs=3),
    S("breast cancer mlp, bce, patience", None, std(lambda: binary_float(cancer())), mlp,
      dict(loss="bce", max_epochs=30, metrics=["accuracy"], stop=early())),
    S("diabetes linear regression", None, std(diabetes), lambda i, o, **_: nn.Linear(i, o),
      dict(max_epochs=100, batch_size=32)),
    S("friedman mlp", None, std(friedman), lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(max_epochs=60, batch_size=64, stop=early())),
    S("very noisy friedman mlp", None, lambda: standardize(friedman(noise=5.0)), mlp,
      dict(max_epochs=30, batch_size=64, stop=early())),
    S("moons mlp", None, moons, lambda i, o, **k: mlp(i, o, (32, 32), **k),
      dict(loss="cross_entropy", max_epochs=40, batch_size=32), outputs=2),
    S("circles mlp, gelu", None, circles, lambda i, o, act="gelu", **k: mlp(i, o, (32, 32), act=act),
      dict(loss="cross_entropy", max_epochs=40, batch_size=32), outputs=2),
    S("linear regression data, linear model", None, std(linear_regression), lambda i, o, **_: nn.Linear(i, o),
      dict(max_epochs=30)),
    S("classification blobs, batch 16, patience", None, lambda: standardize(blobs()), mlp,
      dict(loss="cross_entropy", batch_size=16, max_epochs=80, stop=[ds.stop.Patience(5, restore_best=True)]),
      outputs=3),
    S("digits mlp, batch 32, 30 epochs", None, std(digits), mlp,
      dict(loss="cross_entropy", max_epochs=30, batch_size=32), outputs=10),
    S("diabetes mlp with huber loss", None, std(diabetes), lambda i, o, **k: mlp(i, o, (32,), **k),
      dict(loss="huber", max_epochs=60, batch_size=32, stop=early())),
    S("imbalanced 90/10, learnable", None, lambda: standardize(blobs(n=3000, classes_=2, weights=[0.9], sep=2.0)),
      mlp, dict(loss="cross_entropy", max_epochs=20, metrics=["accuracy"]), outputs=2),
    S("breast cancer logistic regression", None, std(cancer), lambda i, o, **_: nn.Linear(i, o),
      dict(loss="cross_entropy", max_epochs=40, metrics=["accuracy"]), outputs=2),
    S("cnn on digit images", None, digit_images, cnn, dict(loss="cross_entropy", max_epochs=10,
                                                           metrics=["accuracy"]), outputs=10),
    S("rating embeddings (matrix factorization)", None, ratings, lambda i, o, **_: Factorization(),
      dict(max_epochs=10)),
    # healthy runs under an optimizer the user named (a choice, not a failure)
    S("wine mlp, sgd momentum", None, std(lambda: classes(datasets.load_wine)), mlp,
      dict(loss="cross_entropy", optimizer="sgd", lr=0.05, batch_size=16, max_epochs=60, stop=early()), outputs=3),
    S("digits, sgd momentum, full epochs", None, std(digits), mlp,
      dict(loss="cross_entropy", optimizer="sgd", lr=0.05, max_epochs=30, batch_size=32), outputs=10),
    S("linear regression data, linear model, adam", None, std(linear_regression), lambda i, o, **_: nn.Linear(i, o),
      dict(optimizer="adam", lr=0.05, max_epochs=30)),
]

# written with the others, run only once the rules were final
HELD_OUT = [
    S("held out: adamw lr 1.0 on iris mlp", "lr_too_high", std(lambda: classes(datasets.load_iris)),
      lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(loss="cross_entropy", optimizer="adamw", lr=1.0, max_epochs=40, batch_size=16), outputs=3,
      expect=("lr_too_high", "non_finite")),
    S("held out: linear model on moons", "underfitting", lambda: moons(noise=0.1), lambda i, o, larger=False, **k:
      mlp(i, o, (64,)) if larger else nn.Linear(i, o), dict(loss="cross_entropy", max_epochs=40),
      outputs=2),
    S("held out: shuffled digits labels", "no_signal", lambda: shuffled_labels(std(digits)()),
      lambda i, o, **k: mlp(i, o, (128,), **k), dict(loss="cross_entropy", max_epochs=15), outputs=10,
      present=("overfitting",)),
    S("held out: wine mlp, batch 8", None, std(lambda: classes(datasets.load_wine)), mlp,
      dict(loss="cross_entropy", batch_size=8, max_epochs=40, metrics=["accuracy"]), outputs=3),
    S("held out: make_regression mlp, sgd", None, std(lambda: linear_regression(features=20, noise=30.0)),
      lambda i, o, **k: mlp(i, o, (32,), **k), dict(optimizer="sgd", lr=0.01, max_epochs=40, batch_size=32)),
    # a second held-out set, written once the rules for fit's default path (optimizer="auto") were final
    S("held out 2: rmsprop lr 1.0 on diabetes mlp", "lr_too_high", std(diabetes), mlp,
      dict(optimizer="rmsprop", lr=1.0, max_epochs=20, batch_size=32), expect=("lr_too_high", "non_finite")),
    S("held out 2: first-layer bias -15 on wine mlp", "dead_units", std(lambda: classes(datasets.load_wine)), mlp,
      dict(loss="cross_entropy", max_epochs=30, batch_size=16), outputs=3, prepare=bias(-15.0),
      expect=("dead_units", "vanishing_gradients")),
    S("held out 2: shuffled moons labels", "no_signal", lambda: shuffled_labels(moons()),
      lambda i, o, **k: mlp(i, o, (32, 32), **k), dict(loss="cross_entropy", max_epochs=20), outputs=2,
      present=("overfitting",)),
    S("held out 2: lbfgs named, batch 32, friedman mlp", "line_search_on_batches", std(friedman), mlp,
      dict(optimizer="lbfgs", batch_size=32, max_epochs=3)),
    S("held out 2: diabetes with 3 columns in 1e5 units", "unscaled_inputs",
      lambda: with_columns_scaled(std(diabetes)(), 1e5, 3), mlp, dict(max_epochs=20)),
    S("held out 2: wine softmax regression", None, std(lambda: classes(datasets.load_wine)),
      lambda i, o, **_: nn.Linear(i, o), dict(loss="cross_entropy", max_epochs=30, metrics=["accuracy"]), outputs=3),
    S("held out 2: make_regression 30 features, mlp", None, std(lambda: linear_regression(features=30, noise=20.0)),
      lambda i, o, **k: mlp(i, o, (64,), **k), dict(max_epochs=30, stop=early())),
    S("held out 2: cnn on digit images, batch 32", None, digit_images, cnn,
      dict(loss="cross_entropy", max_epochs=8, batch_size=32, metrics=["accuracy"]), outputs=10),
]


# ---- running one scenario, applying a fix -----------------------------------------------------------------------
def _apply_data(data: Data, change: dict) -> Data:
    if change.get("standardize_inputs"):
        columns = change["standardize_inputs"]
        data = standardize(data, None if columns is True else columns)
    if change.get("standardize_target"):
        xt, yt, xv, yv = data
        mean, spread = yt.mean(0), yt.std(0).clamp_min(1e-8)
        data = (xt, (yt - mean) / spread, xv, None if yv is None else (yv - mean) / spread)
    if "drop_columns" in change:
        keep = [i for i in range(data[0].shape[1]) if i not in set(change["drop_columns"])]
        data = (data[0][:, keep], data[1], None if data[2] is None else data[2][:, keep], data[3])
    if "target_divisor" in change:   # targets in other units than the loss takes (a 0/255 mask)
        data = (data[0], data[1] / change["target_divisor"], data[2],
                None if data[3] is None else data[3] / change["target_divisor"])
    if "class_outputs" in change:   # the numbers are class ids: integer targets for cross_entropy
        data = (data[0], data[1].long(), data[2], None if data[3] is None else data[3].long())
    if "missing_code" in change:   # the value is a missing-value code: median-impute it and flag the rows
        data = _impute(data, change["missing_code"]["column"], change["missing_code"]["value"])
    if change.get("resample") == "balanced":
        xt, yt = data[0], data[1]
        counts = torch.bincount(yt.long())
        g = torch.Generator().manual_seed(3)
        rows = torch.multinomial((1.0 / counts.double())[yt.long()], len(yt), replacement=True, generator=g)
        data = (xt[rows], yt[rows], data[2], data[3])
    return data


def _impute(data: Data, column: int, value: float) -> Data:
    """`value` in input `column` replaced by the median of the column's other training values, with a 0/1 column
    appended that marks the rows that held it."""
    xt = data[0]
    median = xt[xt[:, column] != value, column].median()

    def fill(x: torch.Tensor) -> torch.Tensor:
        coded = x[:, column] == value
        x = x.clone()
        x[coded, column] = median
        return torch.cat([x, coded[:, None].to(x.dtype)], 1)
    return fill(xt), data[1], None if data[2] is None else fill(data[2]), data[3]


def run(s: Scenario, change: dict | None = None) -> tuple:
    """Fit scenario `s` with `change` (a finding's fix) applied: (result, model, validation data); the result
    remembers the fit arguments it ran with."""
    change = dict(change or {})
    xt, yt, xv, yv = _apply_data(s.data(), change)
    torch.manual_seed(s.seed)
    options = {k: v for k, v in (("act", change.get("activation")), ("larger", change.get("capacity") == "larger"))
               if v}
    try:
        model = s.model(xt.shape[1], change.get("class_outputs", s.outputs), **options)
    except TypeError:
        model = s.model(xt.shape[1], change.get("class_outputs", s.outputs))
    if s.prepare is not None:
        s.prepare(model)
    if change.get("unfreeze"):
        model.requires_grad_(True)
    if change.get("drop_output_activation") and isinstance(model, nn.Sequential) \
            and type(model[-1]).__module__ == "torch.nn.modules.activation":
        model = model[:-1]
    # fit's defaults (optimizer="auto") unless the scenario's failure is itself an optimizer setting
    settings = {**s.fit,
                **{k: v for k, v in change.items() if k not in ACTIONS and k != "patience"}}
    if "patience" in change:
        settings["stop"] = [ds.stop.Patience(change["patience"], restore_best=True)]
    if "dropout" in change:
        for module in model.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.p = change["dropout"]
    if "batch_norm_momentum" in change:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = change["batch_norm_momentum"]
    if s.optimizer is not None and "optimizer" not in change:   # the user's own instance: a fix edits its call
        settings["optimizer"] = s.optimizer(model.parameters())
        for group in settings["optimizer"].param_groups:
            group.update({k: change[k] for k in ("lr", "weight_decay") if k in change})
            group.update({"eps": change["optimizer_eps"]} if "optimizer_eps" in change else {})
        settings = {k: v for k, v in settings.items() if k not in ("lr", "weight_decay")}
    if "max_epochs" in settings and "max_steps" in settings:
        settings.pop("max_epochs" if "max_steps" in change else "max_steps")
    val = (xv, yv) if xv is not None else None
    train = (xt, yt)
    if s.rows or s.loader:
        batch_size = settings.pop("batch_size", 64)
        train = s.loader(xt, yt, batch_size) if s.loader else DataLoader(list(zip(xt, yt)), batch_size=batch_size)
        if change.get("shuffle"):   # the fix names the loader's shuffle: the same rows, shuffled every epoch
            train = DataLoader(train.dataset, batch_size=batch_size, shuffle=True,
                               generator=torch.Generator().manual_seed(s.seed))
    result = ds.fit(model, train, val=val, progress=False, seed=s.seed, **settings)
    result.settings = settings
    return result, model, val


def score(s: Scenario, result, model, val) -> float:
    """Lower is better: the scenario's validation loss, minus its accuracy, minus balanced accuracy, or ("relative")
    the validation loss over the validation target's variance (comparable across a change of the target's units)."""
    if not result.history or not math.isfinite(result.history[-1]["loss"]):
        return math.inf
    if s.score == "relative":
        return result.history[-1].get("val_loss", math.inf) / float(val[1].double().var())
    if s.score == "balanced":
        with torch.no_grad():
            predicted = model(val[0]).argmax(1)
        recalls = [(predicted[val[1] == c] == c).float().mean().item() for c in torch.unique(val[1])]
        return -float(np.mean(recalls))
    restored = any(getattr(rule, "restore_best", False) for rule in result.settings.get("stop", ()))
    last = result.best if restored and result.best else result.history[-1]   # the returned model's record
    value = last.get(s.score, math.inf)
    return -value if s.score.endswith("accuracy") else value


def class_accuracy(model, val) -> float:
    """The share of validation rows whose class the model gives: its argmax over several outputs, or its one
    output rounded to the nearest class id."""
    with torch.no_grad():
        out = model(val[0])
    predicted = out.argmax(1) if out.dim() == 2 and out.shape[1] > 1 else out.reshape(-1).round()
    return float((predicted.long() == val[1].long()).float().mean())


@dataclass
class Outcome:
    name: str
    cause: str | None
    codes: list[str]
    first: str | None
    named_first: bool
    true_findings: int
    false_findings: int
    fix: str = "none"          # "works", "fails", "none" (no change offered)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def check_fix_of(s: Scenario, finding, result, model, val) -> tuple[str, str]:
    """Rerun `s` with `finding`'s change: "works" when the finding is gone and the score improved (or the scenario
    judges the cause alone), else "fails" (a fix the model cannot take fails too); and a note saying so."""
    change = finding.change
    try:
        fixed, fixed_model, fixed_val = run(s, change)
    except (RuntimeError, IndexError, ValueError) as err:   # the fix leaves data the model cannot take
        return "fails", f"change {change}: the fixed run failed: {str(err).splitlines()[0][:120]}"
    # a run that turns numbers into classes changes the loss: both are judged on accuracy instead
    judge = (lambda s, _, m, v: -class_accuracy(m, v)) if "class_outputs" in change else score
    before = judge(s, result, model, val)
    after = judge(s, fixed, fixed_model, fixed_val)   # the fixed run's validation data (a change may rescale it)
    after_codes = [f.code for f in fixed.findings if f.severity in WARN]
    gone = finding.code not in after_codes
    improved = after < before or s.better == "cause"
    return ("works" if gone and improved else "fails"), f"change {change}: score {before:.4g} -> {after:.4g}, " \
        f"after: {after_codes}"


def evaluate(s: Scenario, check_fix: bool = True) -> Outcome:
    start = time.perf_counter()
    result, model, val = run(s)
    warned = [f for f in result.findings if f.severity in WARN]
    codes = [f.code for f in warned]
    allowed = set(s.expect) | set(s.present)
    true = sum(c in allowed for c in codes)
    first = codes[0] if codes else None
    out = Outcome(s.name, s.cause, codes, first, first in s.expect if s.cause else not codes, true,
                  len(codes) - true)
    if s.cause and check_fix and warned and warned[0].change:
        out.fix, note = check_fix_of(s, warned[0], result, model, val)
        out.notes.append(note)
    out.seconds = time.perf_counter() - start
    return out


def table(outcomes: list[Outcome]) -> str:
    lines = [f"{'scenario':58} {'cause':22} {'first finding':22} ok   fix    others", "-" * 130]
    for o in outcomes:
        lines.append(f"{o.name[:58]:58} {str(o.cause or 'healthy'):22} {str(o.first or '-'):22} "
                     f"{'yes' if o.named_first else 'NO ':4} {o.fix:6} {' '.join(o.codes[1:])}")
    return "\n".join(lines + ["", summary(outcomes)])


def summary(outcomes: list[Outcome]) -> str:
    """The bar's four numbers over `outcomes`."""
    failures = [o for o in outcomes if o.cause]
    healthy = [o for o in outcomes if not o.cause]
    findings = sum(o.true_findings + o.false_findings for o in outcomes)
    true = sum(o.true_findings for o in outcomes)
    with_fix = [o for o in failures if o.fix != "none"]
    lines = [f"cause named first: {sum(o.named_first for o in failures)}/{len(failures)} "
              f"({sum(o.named_first for o in failures) / max(len(failures), 1):.0%})",
              f"findings true: {true}/{findings} ({true / max(findings, 1):.0%})",
              f"healthy runs with a warning: {sum(bool(o.codes) for o in healthy)}/{len(healthy)}",
              f"first fix works: {sum(o.fix == 'works' for o in with_fix)}/{len(with_fix)} "
              f"({sum(o.fix == 'works' for o in with_fix) / max(len(with_fix), 1):.0%})"]
    return "\n".join(lines)


LISTS = {   # flag: (module in benchmarks/, what it holds, its scenario lists)
    "fresh": ("doctor_fresh", "the fresh held-out set", ("FRESH", "AFTER")),
    "fresh2": ("doctor_fresh2", "the second fresh set", ("FRESH2", "AFTER2")),
    "fresh3": ("doctor_fresh3", "the third fresh set", ("FRESH3", "AFTER3")),
    "fresh4": ("doctor_fresh4", "the fourth fresh set", ("FRESH4", "HEALTHY4", "AFTER4")),
    "fresh5": ("doctor_fresh5", "the fifth fresh set", ("FRESH5", "HEALTHY5", "AFTER5")),
    "fresh6": ("doctor_fresh6", "the sixth fresh set", ("FRESH6", "HEALTHY6", "AFTER6")),
    "fresh7": ("doctor_fresh7", "the seventh fresh set", ("FRESH7", "HEALTHY7")),
    "fresh8": ("doctor_fresh8", "the eighth fresh set", ("FRESH8", "HEALTHY8")),
    "fresh9": ("doctor_fresh9", "the ninth fresh set", ("FRESH9", "HEALTHY9")),
    "fresh10": ("doctor_fresh10", "the tenth fresh set", ("FRESH10", "HEALTHY10")),
    "fresh11": ("doctor_fresh11", "the eleventh fresh set", ("FRESH11", "HEALTHY11")),
    "fresh12": ("doctor_fresh12", "the twelfth fresh set", ("FRESH12", "HEALTHY12")),
    "fresh13": ("doctor_fresh13", "the thirteenth fresh set", ("FRESH13", "HEALTHY13")),
    "families": ("doctor_families", "the canonical failures across model families", ("FAMILIES",)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fast scenarios only")
    parser.add_argument("--held-out", action="store_true", help="also run the held-out scenarios")
    for flag, (module, words, _) in LISTS.items():
        parser.add_argument(f"--{flag}", action="store_true", help=f"only {words} (benchmarks/{module}.py)")
    parser.add_argument("--verbose", action="store_true", help="print each fix's effect")
    parser.add_argument("--only", default="", help="scenarios whose name contains this text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    chosen_list = next((flag for flag in LISTS if getattr(args, flag)), None)
    if chosen_list:
        module, _, names = LISTS[chosen_list]
        scenarios = importlib.import_module(f"benchmarks.{module}")
        pool = [s for name in names for s in getattr(scenarios, name)]
    else:
        pool = FAILURES + HEALTHY + (HELD_OUT if args.held_out else [])
    chosen = [s for s in pool
              if not (args.quick and s.slow) and args.only in s.name]
    outcomes = []
    for s in chosen:
        outcomes.append(evaluate(s))
        if args.verbose:
            o = outcomes[-1]
            print(f"{o.name}: {o.codes} fix {o.fix} {o.notes} ({o.seconds:.1f} s)", flush=True)
    print(table(outcomes))
    if chosen_list and chosen_list.startswith("fresh"):
        print("\nfresh set:\n" + summary([o for o in outcomes if o.name.startswith("fresh")]))
        print("\nwritten after the changes:\n" + summary([o for o in outcomes if o.name.startswith("after")]))
    if args.families:
        from benchmarks.doctor_families import grid
        print("\nby failure and family (cause named first; healthy: nothing warned):\n" + grid(outcomes))
    if args.held_out:
        held = {s.name for s in HELD_OUT}
        print("\nown suite:\n" + summary([o for o in outcomes if o.name not in held]))
        print("\nheld out:\n" + summary([o for o in outcomes if o.name in held]))


if __name__ == "__main__":
    main()
