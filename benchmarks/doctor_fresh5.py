"""A fifth fresh set for the doctor (`doctor_scenarios.py --fresh5`): mistakes users make in practice, and healthy
runs of many kinds and sizes beside them. Written before this round's rules were read or changed (only the other
lists' scenario names and the finding codes' names were read); the doctor's first answers are in RESULTS.md ("The
doctor on a fifth fresh set").

Failures (13): BatchNorm given Keras's momentum 0.99 (PyTorch reads it as "keep 1% of the old running statistics"),
a CNN that returns softmax probabilities under cross_entropy, a pixel mask of 0/255 under an nn.BCEWithLogitsLoss()
instance, a price in millions with adam lr 1e-3 from a tutorial, a transformer at adamw lr 0.1 (100x the usual), a
4-unit MLP on a rich target, a 2x512 MLP on 200 rows for 300 epochs, cross_entropy summed over batches of 512 with
an SGD instance tuned for a mean, a two-target loss that reads only the first column, an id column min-max scaled
with the features before `.long()` picks its embedding, a ReLU RNN with recurrent weights started above 1 and no
clipping, a 30-layer sigmoid MLP, a tanh MLP started saturated (weights x8). Each runs on fit's defaults unless the
failure is the user's stated choice. Two scenarios written as failures were refused by fit before any step, a good
answer that is not the doctor's, and were replaced before the first measurement: classes numbered 1..K with K
outputs ("cross_entropy targets must be class indices in [0, 2] ...") and a 0/255 mask under loss="bce" ("bce
needs train targets between 0 and 1 ...").
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import descend as ds
from benchmarks.doctor_fresh import sequences
from benchmarks.doctor_fresh3 import SetTransformer, halves
from benchmarks.doctor_fresh4 import LastStepLSTM
from benchmarks.doctor_scenarios import (S, Data, _split, blobs, digit_images, digits, friedman, mlp,
                                         scale_weights, standardize)


# ---- data -----------------------------------------------------------------------------------------------------
def raw_pixel_images() -> Data:
    """The 8x8 digits as one-channel images in 0-255, as read from an image file."""
    xt, yt, xv, yv = digit_images()
    return xt * 255, yt, xv * 255, yv


def noisy_digit_masks(scale: float = 255.0) -> Data:
    """A denoising task: a digit image with noise in, the clean digit's ink mask out (64 pixels, 1 where the pixel
    is over half its range). `scale` 255 is the mask as read from a PNG; 1 is the mask divided by 255."""
    xt, _, xv, _ = digits()
    g = torch.Generator().manual_seed(5)
    clean_t, clean_v = xt / 16, xv / 16
    noisy_t = clean_t + 0.4 * torch.randn(clean_t.shape, generator=g)
    noisy_v = clean_v + 0.4 * torch.randn(clean_v.shape, generator=g)
    return noisy_t, (clean_t > 0.5).float() * scale, noisy_v, (clean_v > 0.5).float() * scale


def house_prices(n: int = 3000, log: bool = False, seed: int = 11) -> Data:
    """Standardized house features and a price in dollars (mean about 1.2 million), nonlinear in them; `log` gives
    the log price instead, as a user who read about skewed targets would."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 8))
    price = 1.2e6 * np.exp(0.35 * x[:, 0] + 0.2 * np.tanh(x[:, 1] * x[:, 2]) - 0.15 * x[:, 3] ** 2
                           + 0.1 * g.normal(size=n))
    return _split(x, np.log(price) if log else price)


def rich_target(n: int = 3000, noise: float = 0.05, seed: int = 12) -> Data:
    """Four inputs and a target with several bumps and interactions (standardized): a few units cannot draw it."""
    g = np.random.default_rng(seed)
    x = g.uniform(-2, 2, size=(n, 4))
    y = (np.sin(2 * x[:, 0]) * np.cos(2 * x[:, 1]) + np.sin(3 * x[:, 2]) + 0.5 * x[:, 3] * x[:, 0]
         + np.abs(x[:, 1] - x[:, 3]))
    y = y + noise * y.std() * g.normal(size=n)
    return _split(x, (y - y.mean()) / y.std())


def small_friedman(rows: int = 200) -> Data:
    """Friedman's regression with only `rows` training rows (a pilot data set) and a 500-row validation set."""
    xt, yt, xv, yv = standardize(friedman(noise=1.0, n=rows + 500, seed=13))
    x, y = torch.cat([xt, xv]), torch.cat([yt, yv])
    return x[:rows], y[:rows], x[rows:], y[rows:]


def two_targets(n: int = 2500, seed: int = 14) -> Data:
    """Two regression targets from the same 10 inputs (standardized): a price and a demand, say."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 10))
    y = np.stack([x[:, 0] + np.sin(x[:, 1]) + 0.5 * x[:, 2] * x[:, 3],
                  np.cos(x[:, 4]) - x[:, 5] + 0.5 * x[:, 6] ** 2], 1) + 0.1 * g.normal(size=(n, 2))
    return _split(x, (y - y.mean(0)) / y.std(0))


def customer_ids(n: int = 4000, customers: int = 300, scaled_ids: bool = True, seed: int = 15) -> Data:
    """A customer id (0..299) and three measured columns; the target is the customer's own level plus a linear
    effect of the columns. With `scaled_ids` the user's pipeline min-max scaled every column, the id included
    (ids become 0..1, so `.long()` reads them all as customer 0 but the last); otherwise only the measured columns
    are scaled."""
    g = np.random.default_rng(seed)
    level = g.normal(size=customers)
    ids = g.integers(0, customers, n)
    x = g.normal(size=(n, 3))
    y = level[ids] + 0.6 * x[:, 0] - 0.4 * x[:, 1] + 0.3 * g.normal(size=n)
    table = np.column_stack([ids, x]).astype(np.float64)
    low, high = table.min(0), table.max(0)
    scaled = (table - low) / (high - low)
    if not scaled_ids:
        scaled[:, 0] = ids
    return _split(scaled, (y - y.mean()) / y.std())


def class_ids_from_one(data: Data) -> Data:
    """Classes numbered 1..K, as a file's label column often is."""
    xt, yt, xv, yv = data
    return xt, yt + 1, xv, yv + 1


def noisy_regression(n: int = 2500, seed: int = 16) -> Data:
    """A target that is mostly noise: the signal explains a fifth of its variance, so the loss stays near 0.8."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6))
    signal = x[:, 0] - 0.5 * x[:, 1] * x[:, 2]
    y = signal + 2.0 * signal.std() * g.normal(size=n)
    return _split(x, (y - y.mean()) / y.std())


def rare_binary(seed: int = 17) -> Data:
    """95/5 classes with a clear signal, standardized."""
    return standardize(blobs(n=3000, classes_=2, features=10, informative=6, weights=[0.95], sep=1.2, seed=seed))


def tiny_linear(rows: int = 40, seed: int = 18) -> Data:
    """A linear target with a little noise, 40 training rows and 200 for validation."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(rows + 200, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + 0.2 * g.normal(size=rows + 200)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    return x[:rows], y[:rows], x[rows:], y[rows:]


# ---- models ---------------------------------------------------------------------------------------------------
def bn_mlp(inputs: int, outputs: int, momentum: float = 0.99, **_) -> nn.Sequential:
    """An MLP with BatchNorm after each hidden layer; `momentum` 0.99 is Keras's default copied into PyTorch, where
    the running statistics then follow the last batch almost alone (PyTorch's default is 0.1)."""
    return nn.Sequential(nn.Linear(inputs, 128), nn.BatchNorm1d(128, momentum=momentum), nn.ReLU(),
                         nn.Linear(128, 128), nn.BatchNorm1d(128, momentum=momentum), nn.ReLU(),
                         nn.Linear(128, outputs))


def image_cnn(channels: int, outputs: int, softmax: bool = False, **_) -> nn.Sequential:
    """Two convolutions with pooling and a linear head for 8x8 images; `softmax` returns probabilities (a model
    written for inference, trained as is)."""
    layers = [nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
              nn.ReLU(), nn.Flatten(), nn.Linear(32 * 16, outputs)]
    return nn.Sequential(*layers, *([nn.Softmax(dim=1)] if softmax else []))


class IdEmbeddingModel(nn.Module):
    """A customer's learnt embedding (column 0 read as an integer id) beside the measured columns, then an MLP."""

    def __init__(self, inputs: int, outputs: int, customers: int = 300, **_):
        super().__init__()
        self.embed = nn.Embedding(customers, 8)
        self.net = mlp(8 + inputs - 1, outputs, (64,))

    def forward(self, x):
        h = torch.cat([self.embed(x[:, 0].long()), x[:, 1:]], 1)
        return self.net(h)[:, 0]


class ReluRNN(nn.Module):
    """A ReLU RNN regressor on its last output; `recurrent_gain` scales an identity start of the recurrent weights
    (Le et al.'s IRNN start is 1.0; a user who wants a longer memory raises it)."""

    def __init__(self, outputs: int = 1, recurrent_gain: float = 1.0, hidden: int = 32):
        super().__init__()
        self.rnn = nn.RNN(1, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, outputs)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(recurrent_gain * torch.eye(hidden))
            self.rnn.bias_hh_l0.zero_()

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])[:, 0]


class LastStepGRU(LastStepLSTM):
    """The fourth set's last-step regressor with a GRU in place of its LSTM."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(1, 32, batch_first=True)


def deep_sigmoid(i, o, act="sigmoid", **_):
    return mlp(i, o, (32,) * 30, act=act)


def saturated_tanh(i, o, act="tanh", **_):
    return mlp(i, o, (64, 64, 64), act=act)


# ---- losses and metrics, as a user would write them -------------------------------------------------------------
def summed_cross_entropy(output, target):
    """cross_entropy with reduction='sum' (copied from a per-example formula): the gradient grows with the batch."""
    return F.cross_entropy(output, target, reduction="sum")


def first_target_mse(output, target):
    """A two-target loss written from single-target code: it reads column 0 of each and ignores column 1."""
    return F.mse_loss(output[:, 0], target[:, 0])


def both_targets_mse(output, target) -> float:
    """The metric the user cares about: mse over both targets."""
    return F.mse_loss(output, target).item()


def ink_accuracy(output, target) -> float:
    """The share of pixels whose ink (a positive score) the model calls right, whatever the mask's scale."""
    return ((output > 0) == (target > 0)).float().mean().item()


def weighted_cross_entropy(weights):
    w = torch.tensor(weights)
    return lambda output, target: F.cross_entropy(output, target, weight=w)


def balanced_accuracy(output, target) -> float:
    predicted = output.argmax(1)
    return float(np.mean([(predicted[target == c] == c).float().mean().item() for c in torch.unique(target)]))


def sgd_momentum(lr: float = 0.01):
    return lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9)


def std_digits() -> Data:
    return standardize(digits())


FRESH5 = [
    S("fresh5: batchnorm with keras momentum 0.99 (digits mlp, batch 32)", "batch_norm_momentum", std_digits,
      bn_mlp, dict(loss="cross_entropy", batch_size=32, max_epochs=10, metrics=["accuracy"]), outputs=10,
      score="val_accuracy"),
    S("fresh5: cnn returns softmax probabilities under cross_entropy", "loss_target_mismatch", digit_images,
      lambda i, o, **_: image_cnn(1, o, softmax=True),
      dict(loss="cross_entropy", max_epochs=10, metrics=["accuracy"]), outputs=10, score="val_accuracy",
      present=("underfitting", "not_converged")),
    S("fresh5: nn.BCEWithLogitsLoss() on a pixel mask of 0/255 (denoising mlp)", "loss_target_mismatch",
      noisy_digit_masks, lambda i, o, **_: mlp(i, 64, (128,)),
      dict(loss=nn.BCEWithLogitsLoss(), max_epochs=10, metrics=[ink_accuracy]), outputs=64,
      score="val_ink_accuracy", expect=("loss_target_mismatch", "unscaled_target")),
    # "cnn on raw 0-255 pixels" was written as a failure (unscaled_inputs); on its first run the premise failed: fit's
    # default path trained it as well as on pixels in [0, 1] (validation loss 0.109 against 0.138), so it moved to
    # the healthy runs, before any rule was read
    S("fresh5: price in millions, adam lr 1e-3 from a tutorial", "unscaled_target", house_prices,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(optimizer="adam", lr=1e-3, max_epochs=30),
      score="relative", present=("underfitting", "not_converged", "lr_too_low")),
    S("fresh5: transformer at adamw lr 0.1 (100x the usual)", "lr_too_high", halves,
      lambda i, o, **_: SetTransformer(o, positions=True),
      dict(loss="cross_entropy", optimizer="adamw", lr=0.1, max_epochs=10, metrics=["accuracy"]), outputs=2,
      expect=("lr_too_high", "non_finite")),
    # a larger model is what a user tries next: (64, 64) reaches 0.013 where 4 units stay at 0.32 (16 units, the
    # first "larger" written, stayed at 0.33: set after the first run, before any rule was read)
    S("fresh5: 4-unit mlp on a rich target", "underfitting", rich_target,
      lambda i, o, larger=False, **_: mlp(i, o, (64, 64) if larger else (4,)), dict(max_epochs=30),
      present=("not_converged",)),
    S("fresh5: 2x512 mlp on 200 rows, 300 epochs, no stopping", "overfitting", small_friedman,
      lambda i, o, **_: mlp(i, o, (512, 512)), dict(max_epochs=300)),
    S("fresh5: cross_entropy summed over batches of 512, sgd instance tuned for a mean", "lr_too_high", std_digits,
      mlp, dict(loss=summed_cross_entropy, batch_size=512, max_epochs=20, metrics=["accuracy"]), outputs=10,
      optimizer=sgd_momentum(0.01), score="val_accuracy", expect=("lr_too_high", "non_finite")),
    S("fresh5: two-target loss reads only the first column", "unread_outputs", two_targets,
      lambda i, o, **_: mlp(i, 2, (64, 64)), dict(loss=first_target_mse, max_epochs=20, metrics=[both_targets_mse]),
      outputs=2, score="val_both_targets_mse"),
    S("fresh5: id column min-max scaled before .long() picks its embedding", "embedding_ids", customer_ids,
      IdEmbeddingModel, dict(max_epochs=20), present=("underfitting",)),
    S("fresh5: relu rnn, recurrent weights started at 1.3x identity, no clipping", "exploding_gradients",
      lambda: sequences(kind="value", steps=30), lambda i, o, **_: ReluRNN(recurrent_gain=1.3),
      dict(max_epochs=15), expect=("exploding_gradients", "non_finite", "bad_start")),
    S("fresh5: 30-layer sigmoid mlp (friedman)", "vanishing_gradients", lambda: standardize(friedman(noise=0.5)),
      deep_sigmoid, dict(max_epochs=20), present=("underfitting", "not_converged")),
    S("fresh5: tanh mlp started saturated (weights x8)", "bad_start", lambda: standardize(friedman(noise=0.5)),
      saturated_tanh, dict(max_epochs=20), prepare=scale_weights(8.0),
      present=("underfitting", "not_converged", "vanishing_gradients")),
]


HEALTHY5 = [
    S("fresh5: batchnorm with pytorch's momentum 0.1 (digits mlp, batch 32)", None, std_digits,
      lambda i, o, **_: bn_mlp(i, o, momentum=0.1),
      dict(loss="cross_entropy", batch_size=32, max_epochs=10, metrics=["accuracy"]), outputs=10),
    S("fresh5: cnn on raw 0-255 pixels, fit's defaults", None, raw_pixel_images, lambda i, o, **_: image_cnn(1, o),
      dict(loss="cross_entropy", max_epochs=10, metrics=["accuracy"]), outputs=10),
    S("fresh5: cnn on pixels scaled to [0, 1], logits", None, digit_images, lambda i, o, **_: image_cnn(1, o),
      dict(loss="cross_entropy", max_epochs=10, metrics=["accuracy"]), outputs=10),
    S("fresh5: nn.BCEWithLogitsLoss() on a 0/1 pixel mask (denoising mlp)", None, lambda: noisy_digit_masks(1.0),
      lambda i, o, **_: mlp(i, 64, (128,)), dict(loss=nn.BCEWithLogitsLoss(), max_epochs=10), outputs=64),
    S("fresh5: log price, fit's defaults", None, lambda: house_prices(log=True),
      lambda i, o, **_: mlp(i, o, (64, 64)), dict(max_epochs=30)),
    S("fresh5: transformer at adamw lr 1e-3", None, halves, lambda i, o, **_: SetTransformer(o, positions=True),
      dict(loss="cross_entropy", optimizer="adamw", lr=1e-3, max_epochs=10), outputs=2),
    S("fresh5: 2x512 mlp on 200 rows with patience 10", None, small_friedman, lambda i, o, **_: mlp(i, o, (512, 512)),
      dict(max_epochs=300, stop=[ds.stop.Patience(10, restore_best=True)])),
    S("fresh5: cross_entropy mean over batches of 512, the same sgd instance", None, std_digits, mlp,
      dict(loss="cross_entropy", batch_size=512, max_epochs=20), outputs=10, optimizer=sgd_momentum(0.1)),
    S("fresh5: two targets under mse", None, two_targets, lambda i, o, **_: mlp(i, 2, (64, 64)),
      dict(max_epochs=20), outputs=2),
    S("fresh5: raw integer ids to the embedding, measured columns scaled", None,
      lambda: customer_ids(scaled_ids=False), IdEmbeddingModel, dict(max_epochs=20)),
    S("fresh5: gru regression on 30-step sequences, grad_clip 1.0", None, lambda: sequences(kind="value", steps=30),
      lambda i, o, **_: LastStepGRU(), dict(max_epochs=15, grad_clip=1.0)),
    S("fresh5: noisy target, loss stays near 0.8 (mlp)", None, noisy_regression,
      lambda i, o, **_: mlp(i, o, (64,)), dict(max_epochs=20, stop=[ds.stop.Patience(5, restore_best=True)])),
    S("fresh5: linear model, 3 epochs on an easy linear target", None, lambda: tiny_linear(rows=2000),
      lambda i, o, **_: nn.Linear(i, o), dict(max_epochs=3)),
    S("fresh5: 40 rows, linear model", None, tiny_linear, lambda i, o, **_: nn.Linear(i, o), dict(max_epochs=100)),
    S("fresh5: 4x512 mlp on digits, 10 epochs", None, std_digits, lambda i, o, **_: mlp(i, o, (512,) * 4),
      dict(loss="cross_entropy", max_epochs=10, metrics=["accuracy"]), outputs=10),
    S("fresh5: 95/5 classes, class-weighted cross_entropy", None, rare_binary, lambda i, o, **_: mlp(i, o, (64,)),
      dict(loss=weighted_cross_entropy([1.0, 19.0]), max_epochs=15, metrics=[balanced_accuracy]), outputs=2),
    S("fresh5: classes numbered 1..3, model with 4 outputs (class 0 unused)", None,
      lambda: class_ids_from_one(standardize(blobs(n=1500, classes_=3, seed=19))), mlp,
      dict(loss="cross_entropy", max_epochs=15), outputs=4),
]


# ---- written after this round's rule changes, to look for false alarms of the new rules (reported apart) --------
def store_categories(n: int = 3000, levels: int = 30, seed: int = 20) -> Data:
    """A store's category (30 levels, as whole numbers) beside four standardized columns; the target is the
    category's own level plus a nonlinear effect of the columns (standardized)."""
    g = np.random.default_rng(seed)
    level = g.normal(size=levels)
    category = g.integers(0, levels, n)
    x = g.normal(size=(n, 4))
    y = level[category] + np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + 0.2 * g.normal(size=n)
    return _split(np.column_stack([category, x]), (y - y.mean()) / y.std())


class CategoryModel(nn.Module):
    """An embedding of column 0 (a category id, 30 levels) beside the other columns, then an MLP."""

    def __init__(self, inputs: int, outputs: int, **_):
        super().__init__()
        self.embed, self.net = nn.Embedding(30, 4), mlp(4 + inputs - 1, outputs, (64,))

    def forward(self, x):
        return self.net(torch.cat([self.embed(x[:, 0].long()), x[:, 1:]], 1))[:, 0]


def weighted_columns_mse(output, target):
    """mse per target column, the second weighed a tenth (a user who cares less about it)."""
    return ((output - target) ** 2 * torch.tensor([1.0, 0.1])).mean()


def soft_masks() -> Data:
    """The denoising masks with label smoothing: 0.05 and 0.95 instead of 0 and 1."""
    xt, yt, xv, yv = noisy_digit_masks(1.0)
    return xt, 0.05 + 0.9 * yt, xv, 0.05 + 0.9 * yv


def layernorm_tanh(inputs: int, outputs: int, **_) -> nn.Sequential:
    layers, width = [], inputs
    for _ in range(16):
        layers += [nn.Linear(width, 64), nn.LayerNorm(64), nn.Tanh()]
        width = 64
    return nn.Sequential(*layers, nn.Linear(width, outputs))


AFTER5 = [
    S("after5: batchnorm momentum 0.9 with batches of 512 (digits mlp)", None, std_digits,
      lambda i, o, **_: bn_mlp(i, o, momentum=0.9), dict(loss="cross_entropy", batch_size=512, max_epochs=30),
      outputs=10),
    S("after5: a 30-level category through its own embedding", None, store_categories,
      lambda i, o, **_: CategoryModel(i, o), dict(max_epochs=20)),
    S("after5: two targets, the second weighed a tenth", None, two_targets, lambda i, o, **_: mlp(i, 2, (64, 64)),
      dict(loss=weighted_columns_mse, max_epochs=20), outputs=2),
    S("after5: nn.BCEWithLogitsLoss() on smoothed 0.05/0.95 masks", None, soft_masks,
      lambda i, o, **_: mlp(i, 64, (128,)), dict(loss=nn.BCEWithLogitsLoss(), max_epochs=10), outputs=64),
    # the last two were written healthy; on their first run the premises failed, and the base doctor (before this
    # round's rules) said the same: at lr 1e-2 the transformer was still falling at its end (30 epochs: validation
    # 0.272 -> 0.165), and auto's lr 0.01 made the 16-layer tanh stack diverge (its loss rose 3x at step 22 and
    # stayed at a constant's, 0.985; lr 1e-3: 0.110). Relabelled failures, the runs unchanged
    S("after5: transformer at adamw lr 1e-2 (10x the usual)", "not_converged", halves,
      lambda i, o, **_: SetTransformer(o, positions=True),
      dict(loss="cross_entropy", optimizer="adamw", lr=1e-2, max_epochs=10), outputs=2),
    S("after5: 16-layer tanh mlp with layernorm (friedman)", "lr_too_high", lambda: standardize(friedman(noise=0.5)),
      layernorm_tanh, dict(max_epochs=20), present=("vanishing_gradients",)),
]
