"""fit's defaults on a second list of models nobody here tuned for, of kinds no other list has.

The protocol is fit_held_out.py's (its machinery is reused): each model trains with
`descend.fit(model, train, loss=..., val=...)` and nothing else, against an AdamW + cosine grid at 9 lrs
1e-4 .. 1 on the same steps and batches (the best lr's mean held-out score over the seeds; fit's seconds over the
whole grid's) and the hand loop a user writes (torch's AdamW at lr 1e-3, constant). Scores are on test rows neither
fit nor the grid saw (lower is better); the data are generated or ship with scikit-learn and are the same for every
seed, the seed draws the initialization and the batch order. The list was written before anything in fit changed.

    PYTHONPATH=src:. python benchmarks/fit_held_out2.py [--models vit,siamese] [--seeds 3] [--save rows.json |
        --load rows.json]
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits, make_multilabel_classification
from torch import nn

from benchmarks.fit_held_out import Case, _splits, _standardize
from benchmarks.fit_held_out import main as held_out_main


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1,797 images, pixel values 0..16), in a fixed shuffled order."""
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    return digits.data[order], digits.target[order]


class PatchTransformer(nn.Module):
    """A ViT-style classifier: 2x2 patches of an 8x8 image embedded linearly, a learned position per patch and a
    class token, a pre-LayerNorm encoder layer, and a linear head on the class token."""

    def __init__(self, classes: int = 10, width: int = 32, patch: int = 2):
        super().__init__()
        self.patch, patches = patch, (8 // patch) ** 2
        self.embed = nn.Linear(patch * patch, width)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.positions = nn.Parameter(torch.zeros(1, patches + 1, width))
        layer = nn.TransformerEncoderLayer(width, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, classes)

    def forward(self, x):
        p = self.patch
        tiles = x.view(-1, 8 // p, p, 8 // p, p).permute(0, 1, 3, 2, 4).reshape(len(x), -1, p * p)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), self.embed(tiles)], 1) + self.positions
        return self.head(self.norm(self.encoder(tokens)[:, 0]))


def vit_digits(seed: int) -> Case:
    """A small patch transformer on scikit-learn's 8x8 digits, pixels scaled to 0..1."""
    x, label = _digits()
    torch.manual_seed(seed)
    return Case(PatchTransformer(), *_splits(x / 16, label, 1000, 300, y_dtype=torch.long), "cross_entropy",
                F.cross_entropy, "test cross-entropy")


class GRUClassifier(nn.Module):
    """A GRU over a 1-D signal, its last output through a linear layer."""

    def __init__(self, classes: int, hidden: int = 24):
        super().__init__()
        self.rnn, self.head = nn.GRU(1, hidden, batch_first=True), nn.Linear(hidden, classes)

    def forward(self, x):
        return self.head(self.rnn(x.unsqueeze(-1))[0][:, -1])


def gru_spikes(seed: int) -> Case:
    """A GRU counting the sharp spikes (0 to 3) hidden in 40 steps of a random walk plus noise."""
    rng = np.random.default_rng(0)
    n, length = 2400, 40
    count = rng.integers(0, 4, n)
    x = np.cumsum(rng.normal(0, 0.15, (n, length)), axis=1) + rng.normal(0, 0.3, (n, length))
    for row, k in zip(x, count):
        row[rng.choice(length, k, replace=False)] += rng.choice([-1, 1], k) * rng.uniform(2.0, 3.0, k)
    torch.manual_seed(seed)
    return Case(GRUClassifier(4), *_splits(x, count, 1400, 400, y_dtype=torch.long), "cross_entropy",
                F.cross_entropy, "test cross-entropy")


class EmbeddingTable(nn.Module):
    """A tabular regressor: three categorical columns (codes in the first three input columns) through embeddings,
    concatenated with the numeric columns, into an MLP."""

    def __init__(self, cardinalities: tuple[int, ...], numeric: int, width: int = 8):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, width) for c in cardinalities)
        self.mlp = nn.Sequential(nn.Linear(width * len(cardinalities) + numeric, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        codes, numeric = x[:, :len(self.embeddings)].long(), x[:, len(self.embeddings):]
        parts = [e(codes[:, i]) for i, e in enumerate(self.embeddings)] + [numeric]
        return self.mlp(torch.cat(parts, 1)).squeeze(-1)


def tabular_embeddings(seed: int) -> Case:
    """Sales of a product by store (60), item (25) and weekday (7) with 3 numeric columns: category effects, one
    store-by-weekday interaction and a nonlinear price effect, standardized."""
    rng = np.random.default_rng(0)
    n, cards = 3000, (60, 25, 7)
    codes = np.stack([rng.integers(0, c, n) for c in cards], 1)
    numeric = rng.normal(size=(n, 3))
    effects = [rng.normal(0, s, c) for c, s in zip(cards, (1.0, 0.7, 0.4))]
    y = sum(e[codes[:, i]] for i, e in enumerate(effects)) - np.tanh(2 * numeric[:, 0]) + 0.3 * numeric[:, 1]
    y += 0.5 * (codes[:, 0] % 3 == 0) * (codes[:, 2] >= 5) + rng.normal(0, 0.3, n)
    torch.manual_seed(seed)
    return Case(EmbeddingTable(cards, 3), *_splits(np.hstack([codes, numeric]), _standardize(y, 1800), 1800, 400),
                "mse", F.mse_loss, "test MSE")


class ResidualMLP(nn.Module):
    """An MLP of residual blocks x + Linear(GELU(Linear(LayerNorm(x)))), a final LayerNorm and a linear head."""

    def __init__(self, features: int, classes: int, width: int = 64, blocks: int = 4):
        super().__init__()
        self.stem = nn.Linear(features, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(),
                                                  nn.Linear(2 * width, width)) for _ in range(blocks))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, classes))

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


def resmlp_spirals(seed: int) -> Case:
    """A residual MLP with LayerNorm telling three noisy interleaved spiral arms apart (2 coordinates, 8 more of
    noise)."""
    rng = np.random.default_rng(0)
    n = 3000
    arm, t = rng.integers(0, 3, n), rng.uniform(0.2, 1, n)
    angle = 3 * np.pi * t + 2 * np.pi * arm / 3
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], 1) + rng.normal(0, 0.04, (n, 2))
    x = np.hstack([points / points[:1800].std(0), rng.normal(size=(n, 8))])
    torch.manual_seed(seed)
    return Case(ResidualMLP(10, 3), *_splits(x, arm, 1800, 400, y_dtype=torch.long), "cross_entropy",
                F.cross_entropy, "test cross-entropy")


class UNet1d(nn.Module):
    """A two-level 1-D U-Net: convolutions down, a transposed convolution up, the skip concatenated, a 1x1 output."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.down = nn.Sequential(nn.Conv1d(1, width, 5, padding=2), nn.ReLU())
        self.low = nn.Sequential(nn.MaxPool1d(2), nn.Conv1d(width, 2 * width, 5, padding=2), nn.ReLU(),
                                 nn.ConvTranspose1d(2 * width, width, 2, stride=2))
        self.out = nn.Sequential(nn.Conv1d(2 * width, width, 3, padding=1), nn.ReLU(), nn.Conv1d(width, 1, 1))

    def forward(self, x):
        skip = self.down(x.unsqueeze(1))
        return self.out(torch.cat([skip, self.low(skip)], 1)).squeeze(1)


def unet_denoise(seed: int) -> Case:
    """A 1-D U-Net removing noise from piecewise-constant signals with smooth bumps (64 samples), scored by the
    MSE to the clean signal."""
    rng = np.random.default_rng(0)
    n, length = 2400, 64
    clean = np.zeros((n, length))
    t = np.arange(length)
    for row in clean:
        for start in np.sort(rng.choice(length, 3, replace=False)):
            row[start:] += rng.normal(0, 1)
        row += rng.normal(0, 1) * np.exp(-0.5 * ((t - rng.uniform(0, length)) / rng.uniform(2, 6)) ** 2)
    noisy = clean + rng.normal(0, 0.5, (n, length))
    torch.manual_seed(seed)
    return Case(UNet1d(), *_splits(noisy, clean, 1400, 400), "mse", F.mse_loss, "test MSE to the clean signal")


class TwoHeads(nn.Module):
    """A shared trunk with a regression head and a 3-class head; the output holds both, side by side."""

    def __init__(self, features: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.value, self.kind = nn.Linear(64, 1), nn.Linear(64, 3)

    def forward(self, x):
        h = self.trunk(x)
        return torch.cat([self.value(h), self.kind(h)], 1)


def two_losses(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The multi-task loss a user writes: the regression head's MSE plus the class head's cross-entropy."""
    return F.mse_loss(output[:, 0], target[:, 0]) + F.cross_entropy(output[:, 1:], target[:, 1].long())


def multitask(seed: int) -> Case:
    """One network, two tasks on the same 10 features: a smooth regression target and a 3-class label that
    share structure, trained with the two losses summed (a callable)."""
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 10))
    latent = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3]
    value = latent + 0.3 * x[:, 4] ** 2 + rng.normal(0, 0.2, n)
    kind = np.digitize(latent + rng.normal(0, 0.3, n), np.quantile(latent, [1 / 3, 2 / 3]))
    y = np.stack([_standardize(value, 1800), kind], 1)
    torch.manual_seed(seed)
    return Case(TwoHeads(10), *_splits(x, y, 1800, 400), two_losses, two_losses, "test MSE + cross-entropy")


class Siamese(nn.Module):
    """A pair model: one encoder for both images, the logit of "same digit" from |a - b| and a * b of the codes."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, width))
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x):
        a, b = self.encoder(x[:, 0]), self.encoder(x[:, 1])
        return self.head(torch.cat([(a - b).abs(), a * b], 1)).squeeze(-1)


def siamese_digits(seed: int) -> Case:
    """Pairs of 8x8 digits, half of them the same digit: train pairs from the first 1,000 images, validation and
    test pairs from images the training pairs never show."""
    x, label = _digits()
    x = x / 16
    rng = np.random.default_rng(0)

    def pairs(lo: int, hi: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        first = rng.integers(lo, hi, n)
        same = rng.random(n) < 0.5
        second = np.array([rng.choice(np.flatnonzero((label[lo:hi] == label[i]) == s)) + lo
                           for i, s in zip(first, same)])
        return np.stack([x[first], x[second]], 1), (label[first] == label[second]).astype(np.float32)

    (xt, yt), (xv, yv), (xs, ys) = pairs(0, 1000, 2000), pairs(1000, 1300, 400), pairs(1300, 1797, 1000)
    torch.manual_seed(seed)
    return Case(Siamese(), *_splits(np.concatenate([xt, xv, xs]), np.concatenate([yt, yv, ys]), 2000, 400),
                "bce", F.binary_cross_entropy_with_logits, "test log-loss")


def multilabel_words(seed: int) -> Case:
    """A multi-label logistic model (5 labels) on bag-of-words counts from scikit-learn's document generator
    (500 words, log(1 + count))."""
    x, y = make_multilabel_classification(3000, n_features=500, n_classes=5, n_labels=2, length=60,
                                          allow_unlabeled=True, random_state=0)
    torch.manual_seed(seed)
    return Case(nn.Linear(500, 5), *_splits(np.log1p(x), y, 1800, 400), "bce", F.binary_cross_entropy_with_logits,
                "test log-loss")


class TiedNextToken(nn.Module):
    """A next-token model whose output layer is its input embedding (weight tying): the last tokens embedded,
    concatenated, mixed by an MLP back to the embedding's width, then scored against every token's embedding."""

    def __init__(self, vocab: int, context: int, width: int = 32):
        super().__init__()
        self.embedding = nn.Embedding(vocab, width)
        self.mix = nn.Sequential(nn.Linear(context * width, 64), nn.Tanh(), nn.Linear(64, width))
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, x):
        h = self.mix(self.embedding(x.long()).flatten(1))
        return h @ self.embedding.weight.T + self.bias


def tied_next_token(seed: int) -> Case:
    """Next-token prediction over 16 tokens from a second-order Markov source with sparse transitions, with the
    output layer tied to the input embedding."""
    rng = np.random.default_rng(0)
    vocab, context, n = 16, 2, 3000
    table = rng.dirichlet(np.full(vocab, 0.2), (vocab, vocab))
    stream = [0, 1]
    for _ in range(n + context):
        stream.append(rng.choice(vocab, p=table[stream[-2], stream[-1]]))
    stream = np.array(stream[2:])
    x = np.stack([stream[i:i + context] for i in range(n)])
    torch.manual_seed(seed)
    return Case(TiedNextToken(vocab, context), *_splits(x, stream[context:context + n], 1800, 400,
                                                        y_dtype=torch.long), "cross_entropy", F.cross_entropy,
                "test cross-entropy")


def int_pixels(seed: int) -> Case:
    """An MLP on 8x8 digits handed over as a sensor writes them: 8-bit integers 0..255, not rescaled."""
    x, label = _digits()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return Case(model, *_splits(np.minimum(np.round(x * 16), 255), label, 1000, 300, y_dtype=torch.long),
                "cross_entropy", F.cross_entropy, "test cross-entropy")


MODELS = {"vit_digits": vit_digits, "gru_spikes": gru_spikes, "tabular_embeddings": tabular_embeddings,
          "resmlp_spirals": resmlp_spirals, "unet_denoise": unet_denoise, "multitask": multitask,
          "siamese_digits": siamese_digits, "multilabel_words": multilabel_words, "tied_next_token": tied_next_token,
          "int_pixels": int_pixels}


def main() -> None:
    held_out_main(MODELS, __doc__, seeds=3)


if __name__ == "__main__":
    main()
