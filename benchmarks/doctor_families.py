"""The doctor's canonical findings across model families (`doctor_scenarios.py --families`): the same canonical
failures staged on six families a user trains (a wide MLP on a table, a small CNN on digit images, a recurrent
net on sequences, a tiny transformer encoder on sequences, an embedding model on ratings, an autoencoder on digit
images), each failure as it arises for that family, and one healthy run per family.

Failures: an lr 100x the family's good one (40x for SGD), an lr 1/300 of it, few rows for a big model, exploding
gradients (an init too large for the depth or the recurrence, no clipping), vanishing gradients (deep sigmoid or
tanh stacks), a plateau (a tiny init at the saddle under plain SGD), unscaled inputs (raw pixels 0-255, raw sensor
readings, mixed-unit columns) and shuffled labels. A cell is left out where the failure has no natural form for the
family (no labels to shuffle for an autoencoder, no unscaled ids for an embedding model, no deep sigmoid stack in a
transformer). Written before the doctor's rules were read; the first answers are in RESULTS.md ("The doctor's
canonical findings across model families").
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

import numpy as np
import torch
from torch import nn

from benchmarks.doctor_fresh import memory_sequences, sequences
from benchmarks.doctor_scenarios import (S, Data, Factorization, Outcome, blobs, digit_images, early, mlp, ratings,
                                         scale_weights, shuffled_labels, standardize)

ACT = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


# ---- data -----------------------------------------------------------------------------------------------------
def table() -> Data:
    """Four classes in 20 standardized columns, 10 of them informative."""
    return standardize(blobs(n=2000, features=20, informative=10, classes_=4, seed=31))


def mixed_units() -> Data:
    """The same table as exported: six columns in their raw units (thousands, tens of thousands, a year)."""
    xt, yt, xv, yv = table()
    scale, shift = torch.ones(20), torch.zeros(20)
    scale[:6] = torch.tensor([2e3, 5e4, 300.0, 1e4, 800.0, 12.0])
    shift[:6] = torch.tensor([5e4, 2e5, 1990.0, 0.0, 3e3, 2020.0])
    return xt * scale + shift, yt, xv * scale + shift, yv


def raw_pixels() -> Data:
    """The digit images with pixels 0-255, as read from an 8-bit file and never divided by 255."""
    xt, yt, xv, yv = digit_images()
    return xt * 255, yt, xv * 255, yv


def raw_readings() -> Data:
    """The sequences as a sensor reports them: a level near 2,000 with swings of a few hundred."""
    xt, yt, xv, yv = sequences()
    return xt * 300 + 2000, yt, xv * 300 + 2000, yv


def pictures() -> Data:
    """Digit images flattened to 64 pixels in [0, 1], the target the image itself (an autoencoder's data)."""
    xt, _, xv, _ = digit_images()
    xt, xv = xt.reshape(len(xt), -1), xv.reshape(len(xv), -1)
    return xt, xt, xv, xv


def raw_pictures() -> Data:
    xt, _, xv, _ = pictures()
    return xt * 255, xt * 255, xv * 255, xv * 255


def first(rows: int, source) -> Callable:
    def cut():
        xt, yt, xv, yv = source()
        return xt[:rows], yt[:rows], xv, yv
    return cut


def shuffled(source) -> Callable:
    return lambda: shuffled_labels(source())


# ---- models ---------------------------------------------------------------------------------------------------
def wide_mlp(width: int = 128, depth: int = 2, act: str = "relu") -> Callable:
    return lambda i, o, act=act, larger=False, **_: mlp(i, o, (width,) * depth, act=act, larger=larger)


def conv_net(depth: int = 2, width: int = 16, act: str = "relu") -> Callable:
    """`depth` 3x3 convolutions of `width` channels on 8x8 images and a linear head."""
    def build(_i, o, act=act, larger=False, **_):
        channels = width * (2 if larger else 1)
        layers, inputs = [], 1
        for _ in range(depth):
            layers += [nn.Conv2d(inputs, channels, 3, padding=1), ACT[act]()]
            inputs = channels
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 64, o))
    return build


class Recurrent(nn.Module):
    """A recurrent net over (batch, steps, 1) sequences, read out from its last step."""

    def __init__(self, outputs: int, cell: str = "gru", hidden: int = 32, layers: int = 1, act: str = "tanh"):
        super().__init__()
        if cell == "rnn":
            self.rnn = nn.RNN(1, hidden, layers, nonlinearity=act, batch_first=True)
        else:
            self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def recurrent(cell: str = "gru", hidden: int = 32, layers: int = 1, act: str = "tanh") -> Callable:
    return lambda _i, o, larger=False, **_: Recurrent(o, cell, hidden * (2 if larger else 1), layers, act)


class Encoder(nn.Module):
    """A tiny transformer encoder on (batch, steps, 1) sequences: a linear embedding, learnt positions, pre-norm
    encoder layers, mean pooling and a linear head."""

    def __init__(self, outputs: int, steps: int = 20, dim: int = 32, layers: int = 2):
        super().__init__()
        self.embed = nn.Linear(1, dim)
        self.position = nn.Parameter(0.02 * torch.randn(steps, dim))
        layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, outputs)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.position).mean(1))


def encoder(dim: int = 32, layers: int = 2) -> Callable:
    return lambda _i, o, larger=False, **_: Encoder(o, dim=dim * (2 if larger else 1), layers=layers)


class Tower(nn.Module):
    """A neural recommender: user and item embeddings side by side, then an MLP tower to the rating."""

    def __init__(self, dim: int = 16, depth: int = 8, width: int = 32, act: str = "sigmoid"):
        super().__init__()
        self.user, self.item = nn.Embedding(200, dim), nn.Embedding(100, dim)
        self.tower = mlp(2 * dim, 1, (width,) * depth, act=act)

    def forward(self, pairs):
        return self.tower(torch.cat([self.user(pairs[:, 0]), self.item(pairs[:, 1])], 1))[:, 0]


def factorization(dim: int = 8) -> Callable:
    return lambda _i, _o, larger=False, **_: Factorization(dim=dim * (4 if larger else 1))


def autoencoder(widths=(32, 8), act: str = "relu") -> Callable:
    """A mirrored MLP 64 -> widths -> 64 (the last width is the bottleneck)."""
    def build(i, _o, act=act, larger=False, **_):
        sizes = [w * (2 if larger else 1) for w in widths]
        hidden = sizes + sizes[-2::-1]
        return mlp(i, i, tuple(hidden), act=act)
    return build


def scaled_recurrence(factor: float) -> Callable[[nn.Module], None]:
    """Recurrent weights scaled up: each step multiplies the state by more than one (no gating to tame it)."""
    def scale(model):
        with torch.no_grad():
            for name, p in model.rnn.named_parameters():
                if name.startswith("weight_hh"):
                    p.mul_(factor)
    return scale


# ---- the cross-product ----------------------------------------------------------------------------------------
def F(family: str, failure: str, detail: str, *args, **kw):
    """A scenario named `families: family: failure: detail`, so the tables can be read by family and failure."""
    return S(f"families: {family}: {failure}: {detail}", *args, **kw)


CE = dict(loss="cross_entropy")
PLATEAU = dict(expect=("plateau", "bad_start"), present=("vanishing_gradients", "not_converged", "underfitting"))
EXPLODE = dict(expect=("exploding_gradients", "bad_start", "non_finite"), present=("lr_too_high",))
HIGH = dict(expect=("lr_too_high", "non_finite"), present=("exploding_gradients",))
LOW = dict(present=("not_converged", "underfitting"))
NOISE = dict(present=("overfitting",))

MLP = [
    F("mlp", "healthy", "wide mlp, 4-class table, batch 32, patience", None, table, wide_mlp(),
      dict(**CE, max_epochs=15, batch_size=32, stop=early()), outputs=4),
    F("mlp", "lr too high", "adamw lr 0.1 (100x)", "lr_too_high", table, wide_mlp(),
      dict(**CE, optimizer="adamw", lr=0.1, max_epochs=15, batch_size=32), outputs=4, **HIGH),
    F("mlp", "lr too low", "adamw lr 3e-6 (1/300)", "lr_too_low", table, wide_mlp(),
      dict(**CE, optimizer="adamw", lr=3e-6, max_epochs=15, batch_size=32), outputs=4, **LOW),
    F("mlp", "overfitting", "40 rows, 512x2 mlp, 300 epochs", "overfitting", first(40, table),
      wide_mlp(512), dict(**CE, max_epochs=300, batch_size=40, eval_every=10), outputs=4),
    F("mlp", "exploding", "8-layer relu, init x3, sgd lr 0.01", "exploding_gradients", table,
      wide_mlp(64, 8), dict(**CE, optimizer="sgd", lr=0.01, max_epochs=10, batch_size=32), outputs=4,
      prepare=scale_weights(3.0), **EXPLODE),
    F("mlp", "vanishing", "10-layer sigmoid mlp", "vanishing_gradients", table, wide_mlp(64, 10, "sigmoid"),
      dict(**CE, max_epochs=15, batch_size=32), outputs=4),
    F("mlp", "plateau", "init x0.01, sgd lr 0.05", "plateau", table, wide_mlp(64, 3),
      dict(**CE, optimizer="sgd", lr=0.05, max_epochs=15, batch_size=32), outputs=4, prepare=scale_weights(0.01),
      **PLATEAU),
    F("mlp", "unscaled", "six columns in raw units", "unscaled_inputs", mixed_units, wide_mlp(),
      dict(**CE, max_epochs=15, batch_size=32), outputs=4),
    F("mlp", "shuffled labels", "labels shuffled against rows", "no_signal", shuffled(table), wide_mlp(),
      dict(**CE, max_epochs=15, batch_size=32), outputs=4, **NOISE),
]

CNN = [
    F("cnn", "healthy", "2-conv cnn on digit images", None, digit_images, conv_net(),
      dict(**CE, max_epochs=8, batch_size=64), outputs=10),
    F("cnn", "lr too high", "sgd lr 2 (40x)", "lr_too_high", digit_images, conv_net(),
      dict(**CE, optimizer="sgd", lr=2.0, max_epochs=8, batch_size=64), outputs=10, **HIGH),
    F("cnn", "lr too low", "sgd lr 1.7e-4 (1/300)", "lr_too_low", digit_images, conv_net(),
      dict(**CE, optimizer="sgd", lr=1.7e-4, max_epochs=8, batch_size=64), outputs=10, **LOW),
    F("cnn", "overfitting", "60 images, 64-channel cnn, 200 epochs", "overfitting", first(60, digit_images),
      conv_net(2, 64), dict(**CE, max_epochs=200, batch_size=60, eval_every=10), outputs=10),
    F("cnn", "exploding", "6-conv relu, init x3, sgd lr 0.01", "exploding_gradients", digit_images, conv_net(6),
      dict(**CE, optimizer="sgd", lr=0.01, max_epochs=8, batch_size=64), outputs=10, prepare=scale_weights(3.0),
      **EXPLODE),
    F("cnn", "vanishing", "6-conv sigmoid cnn", "vanishing_gradients", digit_images, conv_net(6, act="sigmoid"),
      dict(**CE, max_epochs=8, batch_size=64), outputs=10),
    F("cnn", "plateau", "init x0.01, sgd lr 0.05", "plateau", digit_images, conv_net(3),
      dict(**CE, optimizer="sgd", lr=0.05, max_epochs=8, batch_size=64), outputs=10, prepare=scale_weights(0.01),
      **PLATEAU),
    F("cnn", "unscaled", "pixels 0-255", "unscaled_inputs", raw_pixels, conv_net(),
      dict(**CE, max_epochs=8, batch_size=64), outputs=10),
    F("cnn", "shuffled labels", "digit labels shuffled", "no_signal", shuffled(digit_images), conv_net(),
      dict(**CE, max_epochs=8, batch_size=64), outputs=10, **NOISE),
]

RNN = [
    F("rnn", "healthy", "gru classifier on sequences, batch 32", None, sequences, recurrent(),
      dict(**CE, max_epochs=10, batch_size=32), outputs=2),
    F("rnn", "lr too high", "adam lr 0.1 (100x), lstm", "lr_too_high", sequences, recurrent("lstm"),
      dict(**CE, optimizer="adam", lr=0.1, max_epochs=10, batch_size=32), outputs=2, **HIGH),
    F("rnn", "lr too low", "adam lr 3e-6 (1/300), gru", "lr_too_low", sequences, recurrent(),
      dict(**CE, optimizer="adam", lr=3e-6, max_epochs=10, batch_size=32), outputs=2, **LOW),
    F("rnn", "overfitting", "60 sequences, gru 128, 200 epochs", "overfitting", first(60, sequences),
      recurrent(hidden=128), dict(**CE, max_epochs=200, batch_size=60, eval_every=10), outputs=2),
    F("rnn", "exploding", "relu rnn, recurrence x3, sgd lr 0.01, no clipping", "exploding_gradients", sequences,
      recurrent("rnn", 64, act="relu"), dict(**CE, optimizer="sgd", lr=0.01, max_epochs=5, batch_size=32),
      outputs=2, prepare=scaled_recurrence(3.0), **EXPLODE),
    F("rnn", "vanishing", "tanh rnn, 3 layers, 50-step memory", "vanishing_gradients",
      lambda: memory_sequences(n=1000), recurrent("rnn", 32, 3), dict(max_epochs=10, batch_size=32)),
    F("rnn", "plateau", "gru init x0.01, sgd lr 0.05", "plateau", sequences, recurrent(),
      dict(**CE, optimizer="sgd", lr=0.05, max_epochs=10, batch_size=32), outputs=2, prepare=scale_weights(0.01),
      **PLATEAU),
    F("rnn", "unscaled", "raw sensor readings (level 2000)", "unscaled_inputs", raw_readings, recurrent(),
      dict(**CE, max_epochs=10, batch_size=32), outputs=2),
    F("rnn", "shuffled labels", "sequence labels shuffled", "no_signal", shuffled(sequences), recurrent(),
      dict(**CE, max_epochs=10, batch_size=32), outputs=2, **NOISE),
]

TRANSFORMER = [
    F("transformer", "healthy", "2-layer encoder on sequences", None, sequences, encoder(),
      dict(**CE, max_epochs=10), outputs=2),
    F("transformer", "lr too high", "adamw lr 0.1 (100x)", "lr_too_high", sequences, encoder(),
      dict(**CE, optimizer="adamw", lr=0.1, max_epochs=10), outputs=2, **HIGH),
    F("transformer", "lr too low", "adamw lr 3e-6 (1/300)", "lr_too_low", sequences, encoder(),
      dict(**CE, optimizer="adamw", lr=3e-6, max_epochs=10), outputs=2, **LOW),
    F("transformer", "overfitting", "60 sequences, 150 epochs", "overfitting", first(60, sequences),
      encoder(64), dict(**CE, max_epochs=150, batch_size=60, eval_every=10), outputs=2),
    F("transformer", "plateau", "init x0.01, sgd lr 0.05", "plateau", sequences, encoder(),
      dict(**CE, optimizer="sgd", lr=0.05, max_epochs=10), outputs=2, prepare=scale_weights(0.01), **PLATEAU),
    F("transformer", "unscaled", "raw sensor readings (level 2000)", "unscaled_inputs", raw_readings, encoder(),
      dict(**CE, max_epochs=10), outputs=2),
    F("transformer", "shuffled labels", "sequence labels shuffled", "no_signal", shuffled(sequences), encoder(),
      dict(**CE, max_epochs=10), outputs=2, **NOISE),
]

EMBEDDING = [
    F("embedding", "healthy", "matrix factorization on ratings, batch 256", None, ratings, factorization(),
      dict(max_epochs=15, batch_size=256)),
    F("embedding", "lr too high", "adam lr 1 (100x)", "lr_too_high", ratings, factorization(),
      dict(optimizer="adam", lr=1.0, max_epochs=15, batch_size=256), **HIGH),
    F("embedding", "lr too low", "adam lr 3e-5 (1/300)", "lr_too_low", ratings, factorization(),
      dict(optimizer="adam", lr=3e-5, max_epochs=15, batch_size=256), **LOW),
    F("embedding", "overfitting", "400 ratings, 32 factors, 300 epochs", "overfitting", first(400, ratings),
      factorization(32), dict(max_epochs=300, batch_size=400, eval_every=10)),
    F("embedding", "exploding", "64 factors at N(0,1) init, sgd lr 0.05", "exploding_gradients", ratings,
      factorization(64), dict(optimizer="sgd", lr=0.05, max_epochs=5, batch_size=256), **EXPLODE),
    F("embedding", "vanishing", "8-layer sigmoid tower over embeddings", "vanishing_gradients", ratings,
      lambda _i, _o, act="sigmoid", **_: Tower(act=act), dict(max_epochs=15, batch_size=256)),
    F("embedding", "plateau", "embeddings at std 0.001, sgd lr 0.05", "plateau", ratings, factorization(),
      dict(optimizer="sgd", lr=0.05, max_epochs=15, batch_size=256), prepare=scale_weights(0.001), **PLATEAU),
    F("embedding", "shuffled labels", "ratings shuffled against pairs", "no_signal", shuffled(ratings),
      factorization(), dict(max_epochs=15, batch_size=256), **NOISE),
]

AUTOENCODER = [
    F("autoencoder", "healthy", "64-32-8-32-64 on digit images, batch 128", None, pictures, autoencoder(),
      dict(max_epochs=30, batch_size=128)),
    F("autoencoder", "lr too high", "adamw lr 0.1 (100x)", "lr_too_high", pictures, autoencoder(),
      dict(optimizer="adamw", lr=0.1, max_epochs=30, batch_size=128), **HIGH),
    F("autoencoder", "lr too low", "adamw lr 3e-6 (1/300)", "lr_too_low", pictures, autoencoder(),
      dict(optimizer="adamw", lr=3e-6, max_epochs=30, batch_size=128), **LOW),
    F("autoencoder", "overfitting", "30 images, 512-wide, 300 epochs", "overfitting", first(30, pictures),
      autoencoder((512, 8)), dict(max_epochs=300, batch_size=30, eval_every=10)),
    F("autoencoder", "exploding", "8-layer relu, init x3, sgd lr 0.01", "exploding_gradients", pictures,
      autoencoder((48, 40, 32, 16)), dict(optimizer="sgd", lr=0.01, max_epochs=10, batch_size=128),
      prepare=scale_weights(3.0), **EXPLODE),
    F("autoencoder", "vanishing", "12-layer sigmoid autoencoder", "vanishing_gradients", pictures,
      autoencoder((56, 48, 40, 32, 24, 16), "sigmoid"), dict(max_epochs=30, batch_size=128)),
    F("autoencoder", "plateau", "init x0.01, sgd lr 0.05", "plateau", pictures, autoencoder(),
      dict(optimizer="sgd", lr=0.05, max_epochs=30, batch_size=128), prepare=scale_weights(0.01), **PLATEAU),
    F("autoencoder", "unscaled", "pixels 0-255 in and out", "unscaled_inputs", raw_pictures, autoencoder(),
      dict(max_epochs=30, batch_size=128), expect=("unscaled_inputs", "unscaled_target"), score="relative"),
]

FAMILIES = MLP + CNN + RNN + TRANSFORMER + EMBEDDING + AUTOENCODER


# ---- reading the outcomes by family and by failure -------------------------------------------------------------
def _cell(name: str) -> tuple[str, str]:
    _, family, failure = name.split(": ")[:3]
    return family, failure


def grid(outcomes: list[Outcome]) -> str:
    """Cause named first per failure (rows) and family (columns): the first warning, `+` where it names the cause
    (for healthy runs: `+` where nothing warned), then each row's total and each family's over its failures."""
    families = list(dict.fromkeys(_cell(o.name)[0] for o in outcomes))
    failures = list(dict.fromkeys(_cell(o.name)[1] for o in outcomes))
    cells = {_cell(o.name): o for o in outcomes}
    by_family, by_failure = defaultdict(list), defaultdict(list)
    lines = [f"{'':16}" + "".join(f"{f:24}" for f in families) + "total"]
    for failure in failures:
        row = f"{failure:16}"
        for family in families:
            o = cells.get((family, failure))
            if o is None:
                row += f"{'':24}"
                continue
            if o.cause:   # the totals count failures; the healthy row shows its own
                by_family[family].append(o.named_first)
            by_failure[failure].append(o.named_first)
            row += f"{('+ ' if o.named_first else '- ') + str(o.first or 'nothing'):24}"[:24]
        lines.append(row + _share(by_failure[failure]))
    lines.append(f"{'total':16}" + "".join(f"{_share(by_family[f]):24}" for f in families)
                 + _share([v for f in families for v in by_family[f]]))
    return "\n".join(lines)


def _share(values: list[bool]) -> str:
    return f"{sum(values)}/{len(values)}"
