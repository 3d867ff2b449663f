"""A ninth fresh set for the doctor (`doctor_scenarios.py --fresh9`): mistakes practitioners hit on model kinds the
other lists rarely use (a pairwise ranker, a convolutional autoencoder, a bag of token embeddings, a multi-output
regressor, a deep 1-D convolution, a plain RNN, a CNN, GRUs, attention, a recommender with side features), each
with a healthy twin that differs only in the mistake. Written blind: before the doctor's rules or the other lists'
scenarios were read (only the finding names in `ds.doctor.CODES` and the harness in doctor_scenarios.py); the
doctor's first answers are in RESULTS.md ("The doctor on a ninth fresh set").

Failures (14): a pairwise ranker under Adam at lr 1, a convolutional autoencoder under SGD at lr 1e-5, a bag of
token embeddings trained 150 epochs on 300 rows with no stopping rule, a three-target regressor with one target in
dollars, ten sigmoid 1-D convolutions, a plain RNN over 50 steps under SGD at lr 0.2 unclipped, a stamp pixel
whose brightness is the class, sequences sorted by length while their labels were not, validation images stored
transposed, a transformer encoder frozen at its random start, a denoising autoencoder's code noise left on in eval
mode, attention pooling with its softmax over the batch, sequences loaded class by class with no shuffle, and a
recommender fed price and age in raw units beside its ids.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from benchmarks.doctor_scenarios import S, Data, _split, digit_images, mlp


# ---- data -----------------------------------------------------------------------------------------------------
def pairs(n: int = 3000, features: int = 10, seed: int = 100) -> Data:
    """Pairs of documents (n, 2, features) and whether the first is preferred: a hidden score plus noise decides."""
    g = np.random.default_rng(seed)
    docs = g.normal(size=(n, 2, features))
    w = g.normal(size=features)
    score = docs @ w + np.sin(2 * docs[..., 0]) + 0.5 * g.normal(size=(n, 2))
    return _split(docs, (score[:, 0] > score[:, 1]).astype(np.float32))


def images_as_targets() -> Data:
    """The 8x8 digit images as both input and target (an autoencoder)."""
    xt, _, xv, _ = digit_images()
    return xt, xt.clone(), xv, xv.clone()


def token_bags(n: int = 600, vocab: int = 2000, length: int = 20, seed: int = 101) -> Data:
    """Documents of 20 token ids (Zipf-like frequencies) labelled by which of two 30-token lists they draw more from,
    with 20% of labels flipped: half the rows train, half validate."""
    g = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab + 1)
    tokens = g.choice(vocab, size=(n, length), p=weights / weights.sum())
    first, second = g.choice(np.arange(10, vocab), size=(2, 30), replace=False)
    label = (np.isin(tokens, first).sum(1) >= np.isin(tokens, second).sum(1)).astype(int)
    flip = g.random(n) < 0.2
    label[flip] = 1 - label[flip]
    x, y = torch.tensor(tokens), torch.tensor(label)
    return x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:]


def three_targets(dollars: bool, n: int = 2500, seed: int = 102) -> Data:
    """Ten standardized inputs and three targets; the third a price (mean 250,000 dollars) unless standardized."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 10))
    y = np.column_stack([x[:, 0] * x[:, 1] + 0.3 * g.normal(size=n), np.sin(x[:, 2]) + x[:, 3] + 0.3 * g.normal(size=n),
                         250_000 + 60_000 * (x[:, 4] + 0.5 * x[:, 5] ** 2) + 20_000 * g.normal(size=n)])
    if not dollars:
        y = (y - y.mean(0)) / y.std(0)
    else:
        y[:, :2] = (y[:, :2] - y[:, :2].mean(0)) / y[:, :2].std(0)
    return _split(x, y)


def bumps(n: int = 2000, steps: int = 32, seed: int = 103) -> Data:
    """Noisy 1-channel signals (n, 1, 32); the class says whether a bump sits in the first or second half."""
    g = np.random.default_rng(seed)
    label = g.integers(0, 2, n)
    x = 0.5 * g.normal(size=(n, 1, steps))
    centre = np.where(label == 1, g.integers(18, 30, n), g.integers(2, 14, n))
    grid = np.arange(steps)
    x[:, 0] += np.exp(-0.5 * ((grid[None] - centre[:, None]) / 1.5) ** 2)
    return _split(x, label, y_dtype=torch.long)


def recent_mean(n: int = 2000, steps: int = 50, seed: int = 104) -> Data:
    """Noise sequences (n, 50, 1) whose target is the mean of the last ten steps, plus a little noise."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, steps, 1))
    y = 3 * x[:, -10:, 0].mean(1) + 0.1 * g.normal(size=n)
    return _split(x, (y - y.mean()) / y.std())


def stamped(marked: bool) -> Data:
    """Digit images; `marked` sets the top-left pixel to (class + 1) / 10 (a scanner stamp that differs by source,
    and each digit came from its own source) in training and validation alike."""
    xt, yt, xv, yv = digit_images()
    if marked:
        xt, xv = xt.clone(), xv.clone()
        xt[:, 0, 0, 0] = (yt.float() + 1) / 10
        xv[:, 0, 0, 0] = (yv.float() + 1) / 10
    return xt, yt, xv, yv


def _padded_sequences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequences of 8-30 steps padded with zeros to 30: (x, label, length); the label says whether the sequence's
    values sum above zero."""
    g = np.random.default_rng(seed)
    length = g.integers(8, 31, n)
    x = g.normal(size=(n, 30, 1)) + 0.15 * g.normal(size=(n, 1, 1))
    x[np.arange(30)[None, :] >= length[:, None]] = 0.0
    return x, (x[:, :, 0].sum(1) > 0).astype(int), length


def by_length(labels_follow: bool, n: int = 2000, seed: int = 105) -> Data:
    """The padded sequences sorted by length (for packing) in one preprocessing step for both splits; unless
    `labels_follow`, the labels stay in their stored order."""
    x, label, length = _padded_sequences(n, seed)
    cut = n * 3 // 4

    def sort(rows: slice):
        order = np.argsort(length[rows], kind="stable")
        return x[rows][order], (label[rows][order] if labels_follow else label[rows])
    xt, yt = sort(slice(0, cut))
    xv, yv = sort(slice(cut, n))
    return (torch.tensor(xt, dtype=torch.float32), torch.tensor(yt), torch.tensor(xv, dtype=torch.float32),
            torch.tensor(yv))


def token_sequences(n: int = 2000, steps: int = 12, vocab: int = 30, seed: int = 106) -> Data:
    """Sequences of 12 token ids; the class says whether token 3 appears more often than token 4."""
    g = np.random.default_rng(seed)
    x = g.integers(0, vocab, size=(n, steps))
    x[g.random((n, steps)) < 0.15] = 3
    x[g.random((n, steps)) < 0.15] = 4
    y = ((x == 3).sum(1) > (x == 4).sum(1)).astype(int)
    xt, yt, xv, yv = _split(x, y, y_dtype=torch.long)
    return xt.long(), yt, xv.long(), yv


def multichannel_sequences(n: int = 2000, steps: int = 20, seed: int = 107) -> Data:
    """Sequences (n, 20, 4) whose target is the value of channel 1 at the step where channel 0 peaks, plus noise."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, steps, 4))
    peak = x[:, :, 0].argmax(1)
    y = x[np.arange(n), peak, 1] + 0.1 * g.normal(size=n)
    return _split(x, (y - y.mean()) / y.std())


def class_files(n: int = 1800, steps: int = 24, seed: int = 108) -> Data:
    """Noisy sines of three frequencies (one per class), stored class after class as read from three files; the
    validation rows are a random quarter of each file."""
    g = np.random.default_rng(seed)
    label = np.repeat(np.arange(3), n // 3)
    t = np.arange(steps)
    phase = g.uniform(0, 2 * np.pi, n)
    x = np.sin((0.3 + 0.25 * label[:, None]) * t[None] + phase[:, None]) + 0.6 * g.normal(size=(n, steps))
    validation = g.random(n) < 0.25
    x, y = torch.tensor(x[:, :, None], dtype=torch.float32), torch.tensor(label)
    return x[~validation], y[~validation], x[validation], y[validation]


def shop_ratings(raw: bool, users: int = 150, items: int = 80, rows: int = 5000, seed: int = 109) -> Data:
    """(user id, item id, price, age in days) and a rating: a user's leniency, minus a price effect, plus an age
    effect and noise. Unless `raw`, price and age are standardized with the training rows' statistics."""
    g = np.random.default_rng(seed)
    leniency = 0.5 * g.normal(size=users)
    price, age = np.exp(g.normal(5.0, 1.0, rows)), g.uniform(0, 3000, rows)
    u, i = g.integers(0, users, rows), g.integers(0, items, rows)
    y = leniency[u] - np.log(price) + np.cos(age / 500) + 0.3 * g.normal(size=rows)
    side = np.column_stack([price, age])
    cut = rows * 3 // 4
    if not raw:
        side = (side - side[:cut].mean(0)) / side[:cut].std(0)
    x = np.column_stack([u, i, side]).astype(np.float32)
    y = ((y - y[:cut].mean()) / y[:cut].std()).astype(np.float32)
    return torch.tensor(x[:cut]), torch.tensor(y[:cut]), torch.tensor(x[cut:]), torch.tensor(y[cut:])


# ---- models ---------------------------------------------------------------------------------------------------
class PairRanker(nn.Module):
    """One MLP scores each document of a pair; the output is the first score minus the second (a logit)."""

    def __init__(self, features: int = 10):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return (self.score(x[:, 0]) - self.score(x[:, 1]))[:, 0]


def conv_autoencoder(*_, **__) -> nn.Sequential:
    """8x8 images through two strided convolutions to a 4-channel 2x2 code and back."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2, padding=1),
                         nn.ReLU(), nn.ConvTranspose2d(4, 8, 4, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))


class TokenBag(nn.Module):
    """The mean of a document's token embeddings, then a linear head over two classes."""

    def __init__(self, vocab: int = 2000, dim: int = 64):
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.head = nn.Linear(dim, 2)

    def forward(self, tokens):
        return self.head(self.bag(tokens))


def deep_conv(activation: str):
    """Ten 1-D convolutions of 16 channels with `activation` between them (or the `act` a fix names), then a linear
    head over two classes."""
    def build(*_, act: str | None = None, **__) -> nn.Sequential:
        chosen = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}[act or activation]
        layers, width = [], 1
        for _ in range(10):
            layers += [nn.Conv1d(width, 16, 3, padding=1), chosen()]
            width = 16
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * 32, 2))
    return build


class ElmanRNN(nn.Module):
    """A plain tanh RNN of 64 units over (batch, steps, 1) with a linear head on the last hidden state."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 64, batch_first=True)
        self.head = nn.Linear(64, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])[:, 0]


def small_cnn(*_, **__) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10))


class SequenceGRU(nn.Module):
    """A GRU over (batch, steps, 1) with a linear head on the last hidden state."""

    def __init__(self, outputs: int = 2, hidden: int = 32):
        super().__init__()
        self.rnn = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class TokenEncoder(nn.Module):
    """Token and position embeddings, one transformer encoder layer, mean pooling and a head over two classes;
    `frozen` stops gradients to the embeddings and the encoder (a freeze meant for loaded weights that never were)."""

    def __init__(self, frozen: bool, vocab: int = 30, steps: int = 12, dim: int = 32):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Parameter(0.02 * torch.randn(steps, dim))
        self.encoder = nn.TransformerEncoderLayer(dim, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, 2)
        if frozen:
            for part in (self.tokens, self.encoder):
                part.requires_grad_(False)
            self.positions.requires_grad_(False)

    def forward(self, x):
        return self.head(self.encoder(self.tokens(x) + self.positions).mean(1))


class NoisyCode(nn.Module):
    """A denoising autoencoder over 64 pixels: Gaussian noise of spread 0.5 on its 8-number code, written by hand,
    added in training and, unless `train_only`, in eval mode too (the `if self.training` left out)."""

    def __init__(self, train_only: bool):
        super().__init__()
        self.encode = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
        self.decode = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64))
        self.train_only = train_only

    def forward(self, x):
        code = self.encode(x)
        if self.training or not self.train_only:
            code = code + 0.5 * torch.randn_like(code)
        return self.decode(code).reshape(x.shape)


class AttentionPool(nn.Module):
    """Per-step values and scores over (batch, steps, 4); a softmax over `dim` of the scores weighs the values, and a
    head reads the pooled vector (dim 1 is the steps; dim 0 is the batch)."""

    def __init__(self, dim: int):
        super().__init__()
        self.value, self.score = nn.Linear(4, 32), nn.Linear(4, 1)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(32, 1))
        self.dim = dim

    def forward(self, x):
        weights = torch.softmax(self.score(x), dim=self.dim)
        return self.head((weights * self.value(x)).sum(1))[:, 0]


class SideRecommender(nn.Module):
    """User and item embeddings beside the side columns (price, age), into an MLP: columns 0-1 are ids."""

    def __init__(self, users: int = 150, items: int = 80, dim: int = 8):
        super().__init__()
        self.user, self.item = nn.Embedding(users, dim), nn.Embedding(items, dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim + 2, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        ids = x[:, :2].long()
        return self.mlp(torch.cat([self.user(ids[:, 0]), self.item(ids[:, 1]), x[:, 2:]], 1))[:, 0]


def unshuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def shuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def transposed_validation(transposed: bool) -> Data:
    """Digit images; `transposed` stores the validation images with height and width swapped (their own export
    wrote them column by column)."""
    xt, yt, xv, yv = digit_images()
    return xt, yt, (xv.transpose(2, 3).contiguous() if transposed else xv), yv


def late_stop():
    return [ds.stop.Patience(5, restore_best=True)]


CE = "cross_entropy"
FRESH9 = [
    S("fresh9: pairwise ranker under Adam at lr 1", "lr_too_high", pairs, lambda *_, **__: PairRanker(),
      dict(loss="bce", optimizer="adam", lr=1.0, max_epochs=15)),
    S("fresh9: convolutional autoencoder under SGD at lr 1e-5", "lr_too_low", images_as_targets, conv_autoencoder,
      dict(optimizer="sgd", lr=1e-5, max_epochs=20)),
    S("fresh9: token embeddings, 300 rows, 150 epochs, no stopping rule", "overfitting", token_bags,
      lambda *_, **__: TokenBag(), dict(loss=CE, optimizer="adam", lr=3e-3, max_epochs=150), outputs=2),
    S("fresh9: three-target regressor, the third target in dollars", "unscaled_target", lambda: three_targets(True),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20), outputs=3, score="relative"),
    S("fresh9: ten sigmoid 1-D convolutions", "vanishing_gradients", bumps, deep_conv("sigmoid"),
      dict(loss=CE, max_epochs=10), outputs=2),
    S("fresh9: plain RNN over 50 steps under SGD at lr 0.2, no clipping", "exploding_gradients", recent_mean,
      lambda *_, **__: ElmanRNN(), dict(optimizer="sgd", lr=0.2, max_epochs=15), present=("non_finite",)),
    S("fresh9: stamp pixel whose brightness is the class (digits CNN)", "target_leak", lambda: stamped(True),
      small_cnn, dict(loss=CE, max_epochs=10), outputs=10, better="cause"),
    S("fresh9: sequences sorted by length, labels left in stored order", "no_signal", lambda: by_length(False),
      lambda *_, **__: SequenceGRU(), dict(loss=CE, max_epochs=8), outputs=2),
    S("fresh9: validation images stored transposed (digits CNN)", "validation_unlike_training",
      lambda: transposed_validation(True), small_cnn, dict(loss=CE, max_epochs=10), outputs=10),
    S("fresh9: transformer encoder frozen at its random start", "frozen_parameters", token_sequences,
      lambda *_, **__: TokenEncoder(frozen=True), dict(loss=CE, max_epochs=10), outputs=2),
    S("fresh9: denoising autoencoder whose code noise stays on in eval mode", "random_evaluation",
      images_as_targets, lambda *_, **__: NoisyCode(train_only=False), dict(max_epochs=20)),
    S("fresh9: attention pooling with its softmax over the batch (dim 0)", "batch_mixing", multichannel_sequences,
      lambda *_, **__: AttentionPool(dim=0), dict(max_epochs=15)),
    S("fresh9: sequences read class after class, loader without shuffle", "unshuffled_data", class_files,
      lambda *_, **__: SequenceGRU(3), dict(loss=CE, max_epochs=8), outputs=3, loader=unshuffled),
    S("fresh9: recommender fed price and age in raw units beside its ids", "unscaled_inputs",
      lambda: shop_ratings(raw=True), lambda *_, **__: SideRecommender(), dict(max_epochs=15)),
]

HEALTHY9 = [
    S("fresh9: pairwise ranker under Adam at lr 1e-3", None, pairs, lambda *_, **__: PairRanker(),
      dict(loss="bce", optimizer="adam", lr=1e-3, max_epochs=15)),
    S("fresh9: convolutional autoencoder under SGD at lr 0.3", None, images_as_targets, conv_autoencoder,
      dict(optimizer="sgd", lr=0.3, max_epochs=20)),
    S("fresh9: token embeddings, 300 rows, Patience(5) restoring the best", None, token_bags,
      lambda *_, **__: TokenBag(), dict(loss=CE, optimizer="adam", lr=3e-3, max_epochs=150, stop=late_stop()),
      outputs=2),
    S("fresh9: three-target regressor, all targets standardized", None, lambda: three_targets(False),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20), outputs=3),
    S("fresh9: ten ReLU 1-D convolutions", None, bumps, deep_conv("relu"), dict(loss=CE, max_epochs=10),
      outputs=2),
    S("fresh9: plain RNN over 50 steps under SGD at lr 0.2, gradients clipped at 1", None, recent_mean,
      lambda *_, **__: ElmanRNN(), dict(optimizer="sgd", lr=0.2, grad_clip=1.0, max_epochs=15)),
    S("fresh9: digits CNN without a stamp", None, lambda: stamped(False), small_cnn, dict(loss=CE, max_epochs=10),
      outputs=10),
    S("fresh9: sequences sorted by length with their labels", None, lambda: by_length(True),
      lambda *_, **__: SequenceGRU(), dict(loss=CE, max_epochs=8), outputs=2),
    S("fresh9: validation images stored as the training ones (digits CNN)", None,
      lambda: transposed_validation(False), small_cnn, dict(loss=CE, max_epochs=10), outputs=10),
    S("fresh9: transformer encoder trained whole", None, token_sequences,
      lambda *_, **__: TokenEncoder(frozen=False), dict(loss=CE, max_epochs=10), outputs=2),
    S("fresh9: denoising autoencoder whose code noise is for training only", None, images_as_targets,
      lambda *_, **__: NoisyCode(train_only=True), dict(max_epochs=20)),
    S("fresh9: attention pooling with its softmax over the steps (dim 1)", None, multichannel_sequences,
      lambda *_, **__: AttentionPool(dim=1), dict(max_epochs=15)),
    S("fresh9: sequences read class after class, loader shuffled", None, class_files,
      lambda *_, **__: SequenceGRU(3), dict(loss=CE, max_epochs=8), outputs=3, loader=shuffled),
    S("fresh9: recommender fed standardized price and age beside its ids", None,
      lambda: shop_ratings(raw=False), lambda *_, **__: SideRecommender(), dict(max_epochs=15)),
]
