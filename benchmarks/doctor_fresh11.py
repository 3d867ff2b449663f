"""An eleventh fresh set for the doctor (`doctor_scenarios.py --fresh11`): mistakes practitioners hit on model kinds
the other lists rarely use (an autoencoder, a mixture density net, attention pooling over sets, ordinal regression
with cumulative logits, discrete-time and log-time survival models, a tiny 1-D U-Net, a two-tower recommender, a
residual MLP with layer norm), each with a healthy twin that differs only in the mistake. Written blind: before the
doctor's rules or the other lists' scenarios were read (only the finding names in `ds.doctor.CODES` and the harness
in doctor_scenarios.py); the doctor's first answers are in RESULTS.md ("The doctor on an eleventh fresh set").

Failures (14): a digit autoencoder under Adam at lr 2, a mixture density net fed one income column in dollars, a
mixture density net whose rows are sorted by the target and served unshuffled, attention pooling whose softmax runs
over the batch instead of the set, ordinal grades coded in reverse in the validation file, ordinal regression with
Monte-Carlo dropout left on at evaluation, a one-year event model given the days each patient stayed in the study,
a one-year event model under a positive weight of 8 copied from an imbalanced study, a log survival time fitted by a
hand-written mse that broadcasts a (batch, 1) output against a (batch,) target, a 1-D U-Net with BatchNorm trained
on batches of 4, a two-tower recommender whose id columns were min-max scaled with the features, a two-tower
recommender whose optimizer was given the user tower only, a residual MLP with layer norm under SGD at lr 1e-5, and
sixteen sigmoid blocks stacked without their skip connections and norms.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_friedman1
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.doctor_scenarios import S, Data, _split, digit_images


# ---- data -----------------------------------------------------------------------------------------------------
def digit_pixels() -> Data:
    """The 8x8 digits as 64 pixels in [0, 1], each row its own target (an autoencoder's data)."""
    xt, _, xv, _ = digit_images()
    xt, xv = xt.reshape(len(xt), 64), xv.reshape(len(xv), 64)
    return xt, xt.clone(), xv, xv.clone()


def _standardize(x: np.ndarray, keep: tuple[int, ...] = ()) -> np.ndarray:
    """Each column of `x` centred and scaled, except the columns in `keep`."""
    z = (x - x.mean(0)) / x.std(0)
    z[:, list(keep)] = x[:, list(keep)]
    return z


def two_branch(raw_income: bool = False, sort_by_target: bool = False, n: int = 2000, seed: int = 300) -> Data:
    """A target with two branches (a coin picks the sign of a sine) and a spread that grows with the second column,
    plus an income column that shifts it; `raw_income` leaves income in dollars (about 52,000 +- 15,000), and
    `sort_by_target` stores the training rows in target order (a file sorted by outcome)."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 3))
    income = 52_000 + 15_000 * x[:, 2]
    branch = np.where(g.random(n) < 0.5, 1.0, -1.0)
    y = branch * np.sin(1.5 * x[:, 0]) + 0.4 * x[:, 2] + (0.1 + 0.2 * np.abs(x[:, 1])) * g.normal(size=n)
    columns = np.column_stack([x[:, 0], x[:, 1], income])
    columns = _standardize(columns, keep=(2,) if raw_income else ())
    xt, yt, xv, yv = _split(columns, (y - y.mean()) / y.std())
    if sort_by_target:
        order = yt.argsort()
        xt, yt = xt[order], yt[order]
    return xt, yt, xv, yv


def point_sets(n: int = 2000, size: int = 10, seed: int = 301) -> Data:
    """Sets of `size` points (x, y, mark) labelled 1 when four or more of them lie inside the unit circle."""
    g = np.random.default_rng(seed)
    points = g.normal(size=(n, size, 3))
    inside = (points[..., 0] ** 2 + points[..., 1] ** 2 < 1).sum(1)
    return _split(points, (inside >= 4).astype(np.int64), y_dtype=torch.long)


GRADES = 5


def grades(reverse_validation: bool = False, n: int = 2000, seed: int = 302) -> Data:
    """Five ordered grades cut from a latent linear score of eight columns; `reverse_validation` codes the validation
    file's grades the other way round (4 = worst), as its source system did."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 8))
    latent = x @ g.normal(size=8) + 0.7 * g.normal(size=n)
    grade = np.digitize(latent, np.quantile(latent, [0.2, 0.4, 0.6, 0.8]))
    xt, yt, xv, yv = _split(x, grade, y_dtype=torch.long)
    return xt, yt, xv, (GRADES - 1 - yv) if reverse_validation else yv


def patients(n: int = 2000, seed: int = 303) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six standardized covariates, a survival time in days from a proportional hazard on them, and a censoring
    time between 400 and 1500 days (every patient is followed for at least a year)."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6))
    risk = x @ np.array([0.8, -0.6, 0.5, 0.0, 0.3, 0.0])
    days = g.exponential(500.0 * np.exp(-risk))
    return x, days, g.uniform(400, 1500, size=n)


def one_year_events(follow_up: bool = False) -> Data:
    """Whether each patient's event came within 365 days (about balanced); `follow_up` appends the days the patient
    stayed in the study (the event or censoring time: it says the label), otherwise the days from diagnosis to
    enrolment (an honest column)."""
    x, days, censor = patients()
    g = np.random.default_rng(304)
    extra = np.minimum(days, censor) if follow_up else g.uniform(0, 700, size=len(days))
    columns = np.column_stack([x, (extra - extra.mean()) / extra.std()])
    return _split(columns, (days < 365).astype(np.float32))


def log_times() -> Data:
    """The standardized log survival time of each patient (every event observed: a log-time regression)."""
    x, days, _ = patients()
    y = np.log(days)
    return _split(x, (y - y.mean()) / y.std())


def noisy_waves(n: int = 800, length: int = 64, seed: int = 305) -> Data:
    """Two-tone waves with white noise added, as (n, 1, length); the target is the clean wave (denoising)."""
    g = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    freq, phase = g.uniform(1, 6, size=(n, 2, 1)), g.uniform(0, 2 * np.pi, size=(n, 2, 1))
    clean = np.sin(2 * np.pi * freq * t + phase).sum(1) / 1.4
    noisy = clean + 0.5 * g.normal(size=clean.shape)
    xt, _, xv, _ = _split(np.stack([noisy, clean], 1), np.arange(n))   # one split for both channels
    return xt[:, :1], xt[:, 1:], xv[:, :1], xv[:, 1:]


USERS, ITEMS = 200, 300


def ratings(scaled_ids: bool = False, n: int = 6000, seed: int = 306) -> Data:
    """(user id, item id, user age, item price) rows and a rating from four latent tastes plus both numbers;
    `scaled_ids` min-max scales every column, the ids with the features, as a whole-frame scaler does."""
    g = np.random.default_rng(seed)
    taste, trait = g.normal(size=(USERS, 4)), g.normal(size=(ITEMS, 4))
    age, price = g.normal(size=USERS), g.normal(size=ITEMS)
    user, item = g.integers(0, USERS, n), g.integers(0, ITEMS, n)
    y = (taste[user] * trait[item]).sum(1) + 0.5 * age[user] - 0.5 * price[item] + 0.5 * g.normal(size=n)
    x = np.column_stack([user, item, age[user], price[item]]).astype(np.float64)
    if scaled_ids:
        x = (x - x.min(0)) / (x.max(0) - x.min(0))
    return _split(x, (y - y.mean()) / y.std())


def friedman_rows(n: int = 2000, seed: int = 307) -> Data:
    """Friedman's first function of ten columns, standardized on both sides."""
    x, y = make_friedman1(n_samples=n, noise=0.5, random_state=seed)
    return _split(_standardize(x), (y - y.mean()) / y.std())


# ---- models ---------------------------------------------------------------------------------------------------
def autoencoder(*_, **__) -> nn.Sequential:
    """64 pixels through an 8-wide code and back."""
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 32), nn.ReLU(),
                         nn.Linear(32, 64))


COMPONENTS = 3


def mdn(*_, **__) -> nn.Sequential:
    """A tanh MLP giving, per row, three mixture weights' logits, three means and three log spreads."""
    return nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3 * COMPONENTS))


def mixture_nll(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The negative log-likelihood of `target` under each row's Gaussian mixture."""
    logits, mean, log_spread = output.split(COMPONENTS, 1)
    log_spread = log_spread.clamp(-5, 5)
    z = (target.reshape(-1, 1) - mean) / log_spread.exp()
    log_density = -0.5 * z ** 2 - log_spread - 0.5 * np.log(2 * np.pi)
    return -torch.logsumexp(F.log_softmax(logits, 1) + log_density, 1).mean()


class AttentionPool(nn.Module):
    """Each point embedded, scored, and the set summed under a softmax of the scores over `dim` (1: the set's points;
    0: the batch, a slip), then a two-class head."""

    def __init__(self, dim: int = 1, width: int = 32):
        super().__init__()
        self.dim = dim
        self.embed = nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.score = nn.Linear(width, 1)
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        weights = torch.softmax(self.score(h), self.dim)
        return self.head((weights * h).sum(1) * x.shape[1])


class Ordinal(nn.Module):
    """A score from an MLP less ordered cut points: one logit of "grade above k" for each k; `mc_dropout` keeps its
    dropout on in eval mode (Monte-Carlo dropout left in the served model)."""

    def __init__(self, mc_dropout: bool = False, width: int = 64):
        super().__init__()
        self.mc_dropout = mc_dropout
        self.hidden = nn.Sequential(nn.Linear(8, width), nn.ReLU())
        self.out = nn.Linear(width, 1)
        self.gaps = nn.Parameter(torch.zeros(GRADES - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(self.hidden(x), 0.3, training=self.training or self.mc_dropout)
        cuts = torch.cumsum(F.softplus(self.gaps), 0) - 2.0
        return self.out(h) - cuts


def cumulative_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each "grade above k" logit against the grade."""
    above = (target.reshape(-1, 1) > torch.arange(GRADES - 1, device=target.device)).float()
    return F.binary_cross_entropy_with_logits(output, above)


def hazard_mlp(*_, **__) -> nn.Sequential:
    return nn.Sequential(nn.Linear(7, 32), nn.ReLU(), nn.Linear(32, 1))


def weighted_bce(pos_weight: float):
    """bce on one logit per row, each positive row counted `pos_weight` times."""
    weight = torch.tensor(pos_weight)

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output.reshape(-1), target.reshape(-1), pos_weight=weight)
    return loss


def squared_error(paired: bool):
    """A hand-written mse; unpaired, it subtracts a (batch,) target from the (batch, 1) output as they come."""
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((output.reshape(target.shape) if paired else output) - target).pow(2).mean()
    return loss


def time_mlp(*_, **__) -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))


def _conv_block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(inputs, outputs, 5, padding=2), nn.BatchNorm1d(outputs), nn.ReLU())


class UNet1d(nn.Module):
    """One level down and up with a skip connection: 1 -> 8 channels, pooled to 16, upsampled and joined."""

    def __init__(self):
        super().__init__()
        self.down, self.bottom = _conv_block(1, 8), _conv_block(8, 16)
        self.up, self.out = _conv_block(24, 8), nn.Conv1d(8, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.down(x)
        deep = F.interpolate(self.bottom(F.max_pool1d(skip, 2)), scale_factor=2)
        return self.out(self.up(torch.cat([skip, deep], 1)))


class Tower(nn.Module):
    """An id embedding beside one numeric column, mapped to a 16-wide vector."""

    def __init__(self, ids: int):
        super().__init__()
        self.table = nn.Embedding(ids, 16)
        self.mix = nn.Linear(17, 16)

    def forward(self, ids: torch.Tensor, number: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([self.table(ids.long()), number[:, None]], 1))


class TwoTower(nn.Module):
    """A user tower and an item tower whose dot product is the rating."""

    def __init__(self):
        super().__init__()
        self.users, self.items = Tower(USERS), Tower(ITEMS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.users(x[:, 0], x[:, 2]) * self.items(x[:, 1], x[:, 3])).sum(1, keepdim=True)


USER_TOWER_TENSORS = len(list(Tower(USERS).parameters()))


def adam_over(first_tensors: int | None):
    """Adam at lr 1e-2 over the model's parameters, or only over its first `first_tensors` (the user tower)."""
    return lambda parameters: torch.optim.Adam(list(parameters)[:first_tensors], lr=1e-2)


class ResidualMLP(nn.Module):
    """`depth` blocks of Linear + activation; with `residual`, each block reads a LayerNorm of h and is added to it
    (the recipe), else h is replaced by the block's output (the skips and norms left out)."""

    def __init__(self, depth: int = 4, width: int = 64, act: type[nn.Module] = nn.GELU, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.inp, self.head = nn.Linear(10, width), nn.Linear(width, 1)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), act()) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h)) if self.residual else block(h)
        return self.head(h)


def unshuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def shuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def _fixed(factory):
    """A model builder that ignores the harness's (inputs, outputs, ...) and calls `factory`."""
    return lambda *_, **__: factory()


CE = "cross_entropy"
AE, MDN, SETS = dict(max_epochs=15), dict(loss=mixture_nll, max_epochs=15), dict(loss=CE, max_epochs=12)
GRADED, EVENTS = dict(loss=cumulative_loss, max_epochs=15), dict(max_epochs=15)
WAVES, RATED = dict(max_steps=300), dict(max_epochs=10)
SIGMOID_STACK = dict(depth=16, act=nn.Sigmoid)
FRESH11 = [
    S("fresh11: digit autoencoder under Adam at lr 2", "lr_too_high", digit_pixels, autoencoder,
      dict(AE, optimizer="adam", lr=2.0)),
    S("fresh11: mixture density net fed income in dollars", "unscaled_inputs", lambda: two_branch(raw_income=True),
      mdn, MDN),
    S("fresh11: mixture density net, rows sorted by target, no shuffle", "unshuffled_data",
      lambda: two_branch(sort_by_target=True), mdn, dict(MDN, batch_size=64), loader=unshuffled),
    S("fresh11: attention pooling with its softmax over the batch", "batch_mixing", point_sets,
      _fixed(lambda: AttentionPool(dim=0)), SETS),
    S("fresh11: ordinal grades coded in reverse in the validation file", "validation_unlike_training",
      lambda: grades(reverse_validation=True), _fixed(Ordinal), GRADED, better="cause"),
    S("fresh11: ordinal regression with Monte-Carlo dropout left on", "random_evaluation", grades,
      _fixed(lambda: Ordinal(mc_dropout=True)), GRADED),
    S("fresh11: one-year events given the days each patient stayed", "target_leak",
      lambda: one_year_events(follow_up=True), hazard_mlp, dict(EVENTS, loss="bce"), better="cause"),
    S("fresh11: one-year events under pos_weight 8 on balanced events", "class_weighting", one_year_events,
      hazard_mlp, dict(EVENTS, loss=weighted_bce(8.0))),
    S("fresh11: log survival time, hand-written mse broadcast (batch, 1)", "loss_unpaired", log_times, time_mlp,
      dict(EVENTS, loss=squared_error(paired=False))),
    S("fresh11: 1-D U-Net with BatchNorm on batches of 4", "batch_norm_small_batches", noisy_waves,
      _fixed(UNet1d), dict(WAVES, batch_size=4)),
    S("fresh11: two-tower ids min-max scaled with the features", "embedding_ids", lambda: ratings(scaled_ids=True),
      _fixed(TwoTower), RATED),
    S("fresh11: two-tower optimizer given the user tower only", "optimizer_misses_weights", ratings,
      _fixed(TwoTower), RATED, optimizer=adam_over(USER_TOWER_TENSORS)),
    S("fresh11: residual MLP with layer norm under SGD at lr 1e-5", "lr_too_low", friedman_rows,
      _fixed(ResidualMLP), dict(optimizer="sgd", lr=1e-5, max_epochs=15)),
    S("fresh11: sixteen sigmoid blocks without skips or norms", "vanishing_gradients", friedman_rows,
      _fixed(lambda: ResidualMLP(**SIGMOID_STACK, residual=False)), dict(max_epochs=15)),
]
HEALTHY11 = [
    S("fresh11: digit autoencoder under Adam at lr 1e-3", None, digit_pixels, autoencoder,
      dict(AE, optimizer="adam", lr=1e-3)),
    S("fresh11: mixture density net fed income standardized", None, two_branch, mdn, MDN),
    S("fresh11: mixture density net, rows sorted by target, shuffled loader", None,
      lambda: two_branch(sort_by_target=True), mdn, dict(MDN, batch_size=64), loader=shuffled),
    S("fresh11: attention pooling with its softmax over the set", None, point_sets, _fixed(AttentionPool), SETS),
    S("fresh11: ordinal grades coded alike in both files", None, grades, _fixed(Ordinal), GRADED),
    S("fresh11: ordinal regression with dropout off in eval mode", None, grades, _fixed(Ordinal), GRADED),
    S("fresh11: one-year events given the days from diagnosis", None, one_year_events, hazard_mlp,
      dict(EVENTS, loss="bce")),
    S("fresh11: one-year events under pos_weight 1", None, one_year_events, hazard_mlp,
      dict(EVENTS, loss=weighted_bce(1.0))),
    S("fresh11: log survival time, hand-written mse paired row by row", None, log_times, time_mlp,
      dict(EVENTS, loss=squared_error(paired=True))),
    S("fresh11: 1-D U-Net with BatchNorm on batches of 64", None, noisy_waves, _fixed(UNet1d),
      dict(WAVES, batch_size=64)),
    S("fresh11: two-tower ids kept as ids", None, ratings, _fixed(TwoTower), RATED),
    S("fresh11: two-tower optimizer given both towers", None, ratings, _fixed(TwoTower), RATED,
      optimizer=adam_over(None)),
    S("fresh11: residual MLP with layer norm under SGD at lr 0.05", None, friedman_rows, _fixed(ResidualMLP),
      dict(optimizer="sgd", lr=0.05, max_epochs=15)),
    S("fresh11: sixteen sigmoid blocks with skips and norms", None, friedman_rows,
      _fixed(lambda: ResidualMLP(**SIGMOID_STACK)), dict(max_epochs=15)),
]
