"""A thirteenth fresh set for the doctor (`doctor_scenarios.py --fresh13`): mistakes practitioners hit on setups the
other lists rarely use (small transformer encoders with attention and LayerNorm, a VAE under a reconstruction + KL
loss, an EmbeddingBag recommender, a Gaussian negative log-likelihood head, Poisson counts under a log link, lagged
windows of a time series, residual MLPs, weight normalization, high-rate dropout, ordinal regression by cumulative
logits, SGD with Nesterov momentum, schedules, tiny batches), each with a healthy twin that differs only in the
mistake. Written blind: before the doctor's rules or the other lists' scenarios were read (only the finding names in
`ds.doctor.CODES`, DESIGN.md and the harness in doctor_scenarios.py); the doctor's first answers are in RESULTS.md
("The doctor on a thirteenth fresh set").

Failures (14): a transformer encoder with no positional information on an order-dependent task, a warmup whose end
is written as an lr (1e-3) although schedules multiply the lr, a VAE whose loss sums over the batch's rows under SGD
with Nesterov momentum, an EmbeddingBag fed item ids that were min-max scaled with the features, a Gaussian NLL head
on prices in dollars, a Poisson head that applies exp although the loss takes log rates, forecasting windows that
hold the step being forecast, a residual MLP whose every Linear was zero-initialized, weight normalization applied
after the optimizer was built, dropout of 0.8, an ordinal model with one column left in raw units among twelve, a
(batch, 1) forecast against a (batch,) target under the user's mse, a cosine schedule whose length was given as 30
steps, and BatchNorm trained on batches of 4.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits, make_friedman1
from torch import nn
from torch.nn import functional as F

from benchmarks.doctor_scenarios import S, Data, _split
from descend import schedules

CE = "cross_entropy"


def _fixed(factory):
    """A model builder that ignores the harness's (inputs, outputs, ...) and calls `factory`."""
    return lambda *_, **__: factory()


def _zscore(y: np.ndarray) -> np.ndarray:
    return (y - y.mean()) / y.std()


# ---- data -----------------------------------------------------------------------------------------------------
def ordered_sequences(n: int = 1500, steps: int = 12, features: int = 4, seed: int = 0) -> Data:
    """Sequences (rows, steps, features) whose class says whether the first half's first feature sums above the
    second half's: a question about positions, which a model blind to order cannot answer."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, steps, features))
    half = steps // 2
    label = (x[:, :half, 0].sum(1) > x[:, half:, 0].sum(1)).astype(np.int64)
    return _split(x, label, y_dtype=torch.long)


def digit_pixels() -> Data:
    """The 8x8 digits as 64 pixels in [0, 1], the target being the pixels themselves (to reconstruct)."""
    x = load_digits().data / 16.0
    xt, _, xv, _ = _split(x, np.zeros(len(x)))
    return xt, xt.clone(), xv, xv.clone()


def item_bags(n: int = 3000, items: int = 200, bag: int = 5, min_max: bool = False, seed: int = 1) -> Data:
    """Users as bags of 5 item ids they viewed; the target (standardized) is the mean of the items' hidden appeal
    plus noise; `min_max` scales the id columns to [0, 1] with the other features, as a preprocessing step would."""
    g = np.random.default_rng(seed)
    ids = g.integers(0, items, (n, bag)).astype(np.float64)
    appeal = g.normal(size=items)
    y = _zscore(appeal[ids.astype(int)].mean(1) + 0.2 * g.normal(size=n))
    if min_max:
        ids = (ids - ids.min(0)) / (ids.max(0) - ids.min(0))
    return _split(ids, y)


def house_prices(dollars: bool = True, n: int = 2000, seed: int = 2) -> Data:
    """Eight standardized features and a price whose noise grows with the first one; in dollars or standardized."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 8))
    mean = 250_000 + 60_000 * (x[:, :4] @ np.array([1.0, 0.6, -0.4, 0.3]))
    price = mean + 20_000 * np.exp(0.5 * x[:, 0]) * g.normal(size=n)
    return _split(x, price if dollars else _zscore(price))


def counts(n: int = 2000, seed: int = 3) -> Data:
    """Six standardized features and a Poisson count whose log rate is linear in them."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6))
    rate = np.exp(0.8 + x @ np.array([0.5, -0.3, 0.2, 0.0, 0.4, -0.2]))
    return _split(x, g.poisson(rate).astype(np.float32))


def _series(length: int = 2600, seed: int = 4) -> np.ndarray:
    """A standardized series: two seasonal cycles, an AR(1) wander and noise."""
    g = np.random.default_rng(seed)
    t = np.arange(length)
    wander = np.zeros(length)
    for i in range(1, length):
        wander[i] = 0.9 * wander[i - 1] + 0.3 * g.normal()
    seasons = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 168)
    return _zscore(seasons + wander + 0.3 * g.normal(size=length))


def lagged_windows(lags: int = 24, include_now: bool = False) -> Data:
    """Windows of the last `lags` values to forecast the next one, split by time (the last quarter validates);
    `include_now` shifts the window by one so it ends at the very value it forecasts."""
    y = _series()
    shift = 1 if include_now else 0
    x = np.stack([y[t - lags + shift:t + shift] for t in range(lags, len(y))]).astype(np.float32)
    target = y[lags:].astype(np.float32)
    cut = int(len(target) * 0.75)
    xt, yt = torch.tensor(x), torch.tensor(target)
    return xt[:cut], yt[:cut], xt[cut:], yt[cut:]


def friedman_rows(n: int = 2000, seed: int = 5) -> Data:
    x, y = make_friedman1(n_samples=n, n_features=10, noise=0.5, random_state=seed)
    return _split((x - 0.5) / 0.29, _zscore(y))


def wine_grades(raw_column: bool = True, n: int = 2500, seed: int = 6) -> Data:
    """Twelve measured columns and a grade 0-4 cut from a latent score; the targets are the cumulative 0/1 columns
    (grade > 0, > 1, > 2, > 3) an ordinal model with cumulative logits fits. `raw_column` leaves column 5 (a
    sulfur dioxide in mg/l) in its own units while the other eleven are standardized."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 12))
    score = x @ g.normal(scale=0.6, size=12) + 0.3 * g.normal(size=n)
    grade = np.digitize(score, np.quantile(score, [0.15, 0.4, 0.7, 0.9]))
    if raw_column:
        x[:, 5] = 150.0 + 50.0 * x[:, 5]
    cumulative = (grade[:, None] > np.arange(4)[None, :]).astype(np.float32)
    return _split(x, cumulative)


def blob_classes(n: int = 1600, seed: int = 7) -> Data:
    g = np.random.default_rng(seed)
    centres = g.normal(scale=1.5, size=(4, 10))
    label = g.integers(0, 4, n)
    return _split(centres[label] + g.normal(size=(n, 10)), label, y_dtype=torch.long)


# ---- models ---------------------------------------------------------------------------------------------------
class Encoder(nn.Module):
    """One post-LN transformer encoder layer over projected steps, mean-pooled into class scores; `positions` adds
    a learned embedding per step (without it, attention and the pooling ignore the steps' order)."""

    def __init__(self, positions: bool, features: int = 4, steps: int = 12, width: int = 32, classes: int = 2):
        super().__init__()
        self.project = nn.Linear(features, width)
        self.position = nn.Parameter(0.1 * torch.randn(steps, width)) if positions else None
        self.layer = nn.TransformerEncoderLayer(width, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        h = self.project(x)
        if self.position is not None:
            h = h + self.position
        return self.head(self.layer(h).mean(1))


class VAE(nn.Module):
    """64 -> 32 -> (mean, log variance) of a 4-d code -> 32 -> 64; outputs the reconstruction, the mean and the log
    variance side by side (the code is sampled in training, its mean in eval mode)."""

    def __init__(self, code: int = 4):
        super().__init__()
        self.encode = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2 * code))
        self.decode = nn.Sequential(nn.Linear(code, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())
        self.code = code

    def forward(self, x):
        mean, log_var = self.encode(x).split(self.code, 1)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if self.training else mean
        return torch.cat([self.decode(z), mean, log_var], 1)


def vae_loss(per_row: bool):
    """Squared reconstruction error plus the code's KL divergence from N(0, 1), summed over pixels and code
    dimensions; over the batch's rows summed (PyTorch's VAE example) or, `per_row`, averaged."""
    def loss(output, target):
        recon, mean, log_var = output[:, :64], output[:, 64:68], output[:, 68:]
        total = ((recon - target) ** 2).sum() - 0.5 * (1 + log_var - mean ** 2 - log_var.exp()).sum()
        return total / len(target) if per_row else total
    return loss


class Recommender(nn.Module):
    """An EmbeddingBag averaging the bag's item vectors, then a linear read-out."""

    def __init__(self, items: int = 200, dim: int = 16):
        super().__init__()
        self.bag = nn.EmbeddingBag(items, dim, mode="mean")
        self.out = nn.Linear(dim, 1)

    def forward(self, ids):
        return self.out(self.bag(ids.long()))


def gaussian_head() -> nn.Sequential:
    """An MLP giving a mean and a log variance per row."""
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))


def gaussian_nll(output, target):
    return F.gaussian_nll_loss(output[:, 0], target, output[:, 1].exp())


class Exp(nn.Module):
    def forward(self, x):
        return x.exp()


def poisson_net(exp_output: bool) -> nn.Sequential:
    """An MLP giving one value per row: the log rate, or (`exp_output`) the rate through a final exp."""
    layers = [nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 1)]
    return nn.Sequential(*layers, *([Exp()] if exp_output else []))


def poisson_loss(output, target):
    """Poisson negative log-likelihood of log rates (torch's default log_input=True)."""
    return F.poisson_nll_loss(output[:, 0], target)


def forecaster(lags: int = 24) -> nn.Sequential:
    return nn.Sequential(nn.Linear(lags, 64), nn.ReLU(), nn.Linear(64, 1))


class Residual(nn.Module):
    """Input projection, three residual blocks (Linear-ReLU-Linear plus the skip), a linear head."""

    def __init__(self, inputs: int = 10, width: int = 64, blocks: int = 3):
        super().__init__()
        self.project = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
                                    for _ in range(blocks))
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        h = self.project(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(torch.relu(h))


def zero_init(every_linear: bool):
    """Zero each residual block's last Linear (so each block starts as the identity) or, as the mistake, every Linear
    of the model."""
    def prepare(model: nn.Module) -> None:
        chosen = [m for m in model.modules() if isinstance(m, nn.Linear)] if every_linear \
            else [block[-1] for block in model.blocks]
        with torch.no_grad():
            for layer in chosen:
                layer.weight.zero_()
                layer.bias.zero_()
    return prepare


def _linears_with_weight_norm(model: nn.Sequential) -> nn.Sequential:
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.utils.parametrizations.weight_norm(layer)
    return model


def weight_norm_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


_BUILT_BEFORE: list[torch.optim.Optimizer] = []   # the optimizer a model builder made before re-parametrizing


def weight_norm_after_optimizer() -> nn.Sequential:
    """The mistake: Adam built over the plain Linear weights, then weight_norm re-parametrizes them (new g and v
    parameters the optimizer never holds)."""
    model = weight_norm_mlp()
    _BUILT_BEFORE.append(torch.optim.Adam(model.parameters(), lr=3e-3))
    return _linears_with_weight_norm(model)


def dropout_mlp(rate: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Dropout(rate), nn.Linear(128, 128), nn.ReLU(),
                         nn.Dropout(rate), nn.Linear(128, 1))


class Cumulative(nn.Module):
    """Ordinal regression by cumulative logits: one score per row less four ordered thresholds."""

    def __init__(self, inputs: int = 12, grades: int = 5):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, 1))
        self.cuts = nn.Parameter(torch.linspace(-1.5, 1.5, grades - 1))

    def forward(self, x):
        return self.score(x) - self.cuts


def squared_error(squeeze: bool):
    """The user's mse; without `squeeze` a (batch, 1) forecast meets a (batch,) target and broadcasts."""
    return lambda output, target: F.mse_loss(output.squeeze(1) if squeeze else output, target)


def batch_norm_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64),
                         nn.ReLU(), nn.Linear(64, 4))


def nesterov(lr: float):
    return lambda parameters: torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True)


def adam(parameters):
    return torch.optim.Adam(parameters, lr=3e-3)


SEQUENCES = dict(loss=CE, optimizer="adam", lr=1e-3, max_epochs=12)
WARMUP = dict(loss=CE, optimizer="adamw", lr=1e-3, max_epochs=12)
VAE_FIT = dict(max_epochs=15)
BAGS = dict(max_epochs=15)
PRICES = dict(loss=gaussian_nll, optimizer="adam", lr=3e-3, max_epochs=20)
COUNTS = dict(loss=poisson_loss, max_epochs=20)
WINDOWS = dict(max_epochs=15)
ROWS = dict(max_epochs=15)
GRADES = dict(loss="bce", max_epochs=15)
COSINE = dict(max_epochs=15)
BLOBS = dict(loss=CE, optimizer="adam", lr=1e-3, max_epochs=6)

FRESH13 = [
    S("fresh13: transformer encoder without positions, order task", "order_blind", ordered_sequences,
      _fixed(lambda: Encoder(positions=False)), SEQUENCES),
    S("fresh13: transformer warmup ending at 1e-3 (a factor)", "lr_too_low", ordered_sequences,
      _fixed(lambda: Encoder(positions=True)), dict(WARMUP, schedule=schedules.warmup(0.1, end=1e-3))),
    S("fresh13: VAE loss summed over the batch, SGD Nesterov", "lr_too_high", digit_pixels, _fixed(VAE),
      dict(VAE_FIT, loss=vae_loss(per_row=False)), optimizer=nesterov(0.01)),
    S("fresh13: EmbeddingBag on min-max scaled item ids", "embedding_ids", lambda: item_bags(min_max=True),
      _fixed(Recommender), BAGS),
    S("fresh13: Gaussian NLL head on prices in dollars", "unscaled_target", house_prices,
      _fixed(gaussian_head), PRICES),
    S("fresh13: Poisson head ending in exp under log-rate loss", "loss_target_mismatch", counts,
      _fixed(lambda: poisson_net(exp_output=True)), COUNTS),
    S("fresh13: forecast windows holding the forecast step", "target_leak",
      lambda: lagged_windows(include_now=True), _fixed(forecaster), WINDOWS),
    S("fresh13: residual MLP with every Linear zeroed", "bad_start", friedman_rows, _fixed(Residual), ROWS,
      prepare=zero_init(every_linear=True)),
    S("fresh13: weight_norm applied after the optimizer", "optimizer_misses_weights", friedman_rows,
      _fixed(weight_norm_after_optimizer), ROWS, optimizer=lambda _: _BUILT_BEFORE.pop()),
    S("fresh13: MLP with dropout 0.8", "dropout_too_strong", friedman_rows, _fixed(lambda: dropout_mlp(0.8)),
      ROWS),
    S("fresh13: ordinal logits, one column in mg/l among twelve", "unscaled_inputs", wine_grades,
      _fixed(Cumulative), GRADES, outputs=4),
    S("fresh13: (batch, 1) forecast against (batch,) target", "loss_unpaired", lagged_windows, _fixed(forecaster),
      dict(WINDOWS, loss=squared_error(squeeze=False))),
    S("fresh13: cosine schedule 30 steps long, SGD Nesterov", "lr_decayed_early", friedman_rows, _fixed(Residual),
      dict(COSINE, schedule=schedules.cosine(30)), optimizer=nesterov(0.01), prepare=zero_init(every_linear=False)),
    S("fresh13: BatchNorm MLP on batches of 4", "batch_norm_small_batches", blob_classes, _fixed(batch_norm_mlp),
      dict(BLOBS, batch_size=4)),
]
HEALTHY13 = [
    S("fresh13: transformer encoder with learned positions", None, ordered_sequences,
      _fixed(lambda: Encoder(positions=True)), SEQUENCES),
    S("fresh13: transformer warmup ending at 1 (a factor)", None, ordered_sequences,
      _fixed(lambda: Encoder(positions=True)), dict(WARMUP, schedule=schedules.warmup(0.1, end=1.0))),
    S("fresh13: VAE loss averaged over rows, SGD Nesterov", None, digit_pixels, _fixed(VAE),
      dict(VAE_FIT, loss=vae_loss(per_row=True)), optimizer=nesterov(0.01)),
    S("fresh13: EmbeddingBag on raw item ids", None, item_bags, _fixed(Recommender), BAGS),
    S("fresh13: Gaussian NLL head on standardized prices", None, lambda: house_prices(dollars=False),
      _fixed(gaussian_head), PRICES),
    S("fresh13: Poisson head giving log rates", None, counts, _fixed(lambda: poisson_net(exp_output=False)),
      COUNTS),
    S("fresh13: forecast windows ending before the forecast step", None, lagged_windows, _fixed(forecaster),
      WINDOWS),
    S("fresh13: residual MLP with each block's last Linear zeroed", None, friedman_rows, _fixed(Residual), ROWS,
      prepare=zero_init(every_linear=False)),
    S("fresh13: weight_norm applied before the optimizer", None, friedman_rows,
      _fixed(lambda: _linears_with_weight_norm(weight_norm_mlp())), ROWS, optimizer=adam),
    S("fresh13: MLP with dropout 0.1", None, friedman_rows, _fixed(lambda: dropout_mlp(0.1)), ROWS),
    S("fresh13: ordinal logits, all twelve columns standardized", None, lambda: wine_grades(raw_column=False),
      _fixed(Cumulative), GRADES, outputs=4),
    S("fresh13: (batch,) forecast against (batch,) target", None, lagged_windows, _fixed(forecaster),
      dict(WINDOWS, loss=squared_error(squeeze=True))),
    S("fresh13: cosine schedule over the run, SGD Nesterov", None, friedman_rows, _fixed(Residual),
      dict(COSINE, schedule=schedules.cosine()), optimizer=nesterov(0.01), prepare=zero_init(every_linear=False)),
    S("fresh13: BatchNorm MLP on batches of 64", None, blob_classes, _fixed(batch_norm_mlp),
      dict(BLOBS, batch_size=64)),
]
