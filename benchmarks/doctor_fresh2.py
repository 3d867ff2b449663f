"""A second fresh set for the doctor (`doctor_scenarios.py --fresh2`): failures of kinds that neither the suite nor
the first fresh set (doctor_fresh.py) stage, and healthy runs that look like them. Written before this round's
rules were read or changed; the doctor's first answers are in RESULTS.md ("The doctor on a second fresh set").

Failures: a softmax head under cross_entropy, a regression target in dollars, a schedule that takes the lr to zero
within the first epochs, a random embedding frozen by mistake, labels shifted one row against their inputs (an
off-by-one join), a sampler that hands out the same batch every step, coupled L2 decay on 100 rows, validation
rows copied into training, a ReLU MLP under a large SGD step, validation labels encoded in another class order,
dropout that stays on at evaluation, a row id that ranks the target, and a linear target in thousands. Each runs on fit's defaults unless the failure is the user's stated choice.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn import datasets
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from benchmarks.doctor_fresh import categories, tokens
from benchmarks.doctor_scenarios import S, Data, _split, blobs, classes, digits, friedman, mlp, standardize


# ---- data -----------------------------------------------------------------------------------------------------
def salaries(n: int = 2000, seed: int = 0, dollars: bool = True) -> Data:
    """A salary from 6 standardized features, nonlinear in them; in dollars (mean about 60,000) unless
    `dollars=False` (then standardized, as a user who scaled it would have it)."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6))
    y = 60_000 + 15_000 * (np.tanh(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + 0.3 * x[:, 3] ** 2) + 4_000 * g.normal(size=n)
    if not dollars:
        y = (y - y.mean()) / y.std()
    return _split(x, y, seed=seed)


def shifted_labels(data: Data) -> Data:
    """An off-by-one join: each training row carries the next row's label (validation was joined right)."""
    xt, yt, xv, yv = data
    return xt, torch.roll(yt, 1, 0), xv, yv


def validation_in_training(data: Data, rows: int = 150) -> Data:
    """A split done twice: the validation rows are copies of training rows."""
    xt, yt, _, _ = data
    return xt, yt, xt[:rows].clone(), yt[:rows].clone()


def relabelled_validation(data: Data) -> Data:
    """A label encoder fitted on the validation file apart: its class ids follow another order (class c -> c+1)."""
    xt, yt, xv, yv = data
    return xt, yt, xv, (yv + 1) % int(yt.max() + 1)


def sorted_with_row_id(data: Data) -> Data:
    """A table exported sorted by its target, with the row number kept as a column (a rank of the target)."""
    xt, yt, xv, yv = data
    x = torch.cat([xt, xv])
    y = torch.cat([yt, yv])
    order = torch.argsort(y)
    x, y = x[order], y[order]
    rank = torch.arange(len(y), dtype=torch.float32)[:, None]
    x = torch.cat([x, (rank - rank.mean()) / rank.std()], 1)
    g = torch.Generator().manual_seed(6)
    shuffle = torch.randperm(len(y), generator=g)
    x, y = x[shuffle], y[shuffle]
    cut = len(xt)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def std_friedman() -> Data:
    return standardize(friedman(noise=0.5))


def few(data: Data, rows: int) -> Data:
    xt, yt, xv, yv = data
    return xt[:rows], yt[:rows], xv, yv


def counts(n: int = 2000, seed: int = 0) -> Data:
    """Event counts (0 to about 60) whose log-rate is nonlinear in 5 standardized features."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 5))
    rate = np.exp(1.5 + 0.6 * x[:, 0] - 0.4 * x[:, 1] ** 2 + 0.5 * np.sin(2 * x[:, 2]))
    return _split(x, g.poisson(rate).astype(np.float32), seed=seed)


def thousands(n: int = 1500, seed: int = 0) -> Data:
    """A linear target in its own units (mean 2,000, spread 500) from 8 standardized features."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 8))
    y = 2000 + x @ g.normal(size=8) * 150 + 50 * g.normal(size=n)
    return _split(x, y, seed=seed)


# ---- models ---------------------------------------------------------------------------------------------------
class TokenMLP(nn.Module):
    """Mean of token embeddings, then a hidden ReLU layer and a head."""

    def __init__(self, vocab: int = 500, dim: int = 16, outputs: int = 4):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.head = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, outputs))

    def forward(self, x):
        return self.head(self.embed(x))


class AlwaysDropout(nn.Module):
    """An MLP whose forward calls F.dropout(training=True): dropout stays on when the model is evaluated."""

    def __init__(self, inputs: int, outputs: int, p: float = 0.5):
        super().__init__()
        self.hidden, self.head, self.p = nn.Linear(inputs, 128), nn.Linear(128, outputs), p

    def forward(self, x):
        return self.head(nn.functional.dropout(torch.relu(self.hidden(x)), self.p, training=True))


def freeze_embedding(model: nn.Module) -> None:
    """Fine-tuning code run on a model whose embeddings were never trained: they stay at their random start."""
    model.embed.requires_grad_(False)


def same_batch_loader(x, y, batch_size):
    """A batch sampler built as a list holding one batch's indices once per batch of the epoch (a bug)."""
    batches = len(y) // batch_size
    return DataLoader(TensorDataset(x, y), batch_sampler=[list(range(batch_size))] * batches)


def fast_decay():
    """lr x 0.95 every step: below a thousandth of its start after 135 steps (about 6 epochs of 23 batches)."""
    return ds.schedules.exponential(0.95)


def slow_decay():
    """lr x 0.9995 every step: about three quarters of its start after the run's 460 steps."""
    return ds.schedules.exponential(0.9995)


FRESH2 = [
    # induced failures
    S("fresh2: softmax head under cross_entropy (wine-like blobs)", "loss_target_mismatch",
      lambda: standardize(blobs(n=1500, classes_=5, features=12, informative=8, seed=11)),
      lambda i, o, **k: mlp(i, o, (64,), head=nn.Softmax(-1), **k), dict(loss="cross_entropy", max_epochs=20,
                                                                         metrics=["accuracy"]), outputs=5),
    S("fresh2: regression target in dollars (mean 60,000)", "unscaled_target", salaries,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20), score="relative", present=("bad_start",)),
    S("fresh2: exponential schedule x0.95 a step (lr ~0 by epoch 6)", "lr_too_low", std_friedman, lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(schedule=fast_decay(), max_epochs=20), expect=("lr_too_low", "lr_decayed_early")),   # the second code
      # did not exist when this was written; it names the schedule rather than the lr
    S("fresh2: random embedding frozen by mistake (token mlp)", "frozen_parameters", tokens,
      lambda i, o, **_: TokenMLP(), dict(loss="cross_entropy", max_epochs=15), outputs=4, prepare=freeze_embedding,
      present=("underfitting", "overfitting")),   # the head overfits the random features: true as well
    S("fresh2: labels shifted one row (off-by-one join), friedman mlp", "no_signal",
      lambda: shifted_labels(std_friedman()), lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20),
      present=("overfitting",)),
    S("fresh2: batch sampler repeats one batch every step", "repeated_rows",
      lambda: standardize(classes(datasets.make_classification(n_samples=3000, n_features=10, n_informative=6,
                                                                n_classes=3, random_state=12))),
      mlp, dict(loss="cross_entropy", max_epochs=10), outputs=3, loader=same_batch_loader, present=("overfitting",)),
    S("fresh2: sgd weight decay 1.0 on 100 rows (linear model)", "weight_decay_too_strong",
      lambda: standardize(_split(*datasets.make_regression(n_samples=134, n_features=5, noise=5.0,
                                                           random_state=13))),
      lambda i, o, **_: nn.Linear(i, o), dict(optimizer="sgd", lr=0.05, weight_decay=1.0, max_epochs=60,
                                               batch_size=16), score="relative", present=("underfitting",)),
    S("fresh2: validation rows copied from training (wide mlp, 200 epochs)", "validation_in_training",
      lambda: validation_in_training(few(std_friedman(), 200)), lambda i, o, **k: mlp(i, o, (256, 256), **k),
      dict(max_epochs=200, batch_size=50, eval_every=20), better="cause", slow=True),
    # written as "kills a relu mlp" (cause dead_units); on its first run the loss overflowed at step 2 before any
    # unit died: the cause is the lr, relabelled after that run
    S("fresh2: sgd lr 1.5 on a relu mlp (digits)", "lr_too_high", lambda: standardize(digits()),
      lambda i, o, **k: mlp(i, o, (128, 128), **k), dict(loss="cross_entropy", optimizer="sgd", lr=1.5,
                                                           max_epochs=10), outputs=10,
      expect=("lr_too_high", "non_finite", "dead_units")),
    S("fresh2: validation labels encoded with their own class order", "validation_unlike_training",
      lambda: relabelled_validation(standardize(blobs(n=2000, classes_=4, features=10, informative=6, seed=15))),
      mlp, dict(loss="cross_entropy", max_epochs=15, metrics=["accuracy"]), outputs=4, better="cause"),
    S("fresh2: dropout left on at evaluation (F.dropout training=True)", "random_evaluation",
      lambda: standardize(blobs(n=2000, classes_=3, seed=14)), lambda i, o, **_: AlwaysDropout(i, o),
      dict(loss="cross_entropy", max_epochs=20, metrics=["accuracy"]), outputs=3),
    S("fresh2: row id of a table sorted by its target", "target_leak",
      lambda: sorted_with_row_id(std_friedman()), lambda i, o, **k: mlp(i, o, (64,), **k), dict(max_epochs=20),
      better="cause"),
    # healthy runs
    S("fresh2: exponential schedule x0.9995 a step (mild decay)", None, std_friedman,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(schedule=slow_decay(), max_epochs=20)),
    S("fresh2: token mlp, embeddings trained", None, tokens, lambda i, o, **_: TokenMLP(),
      dict(loss="cross_entropy", max_epochs=15, metrics=["accuracy"]), outputs=4),
    S("fresh2: poisson regression on raw counts", None, counts, lambda i, o, **k: mlp(i, o, (64,), **k),
      dict(loss="poisson", max_epochs=20)),
    S("fresh2: one-hot categories, validation rows recur in training by nature", None, categories, mlp,
      dict(max_epochs=20)),
    S("fresh2: accumulate=4 with batch 16 (digits mlp)", None, lambda: standardize(digits()), mlp,
      dict(loss="cross_entropy", accumulate=4, batch_size=16, max_epochs=20, metrics=["accuracy"]), outputs=10),
    S("fresh2: dropout mlp, standard nn.Dropout", None, lambda: standardize(blobs(n=2000, classes_=3, seed=14)),
      lambda i, o, **_: nn.Sequential(nn.Linear(i, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, o)),
      dict(loss="cross_entropy", max_epochs=20, metrics=["accuracy"]), outputs=3),
    # written as a healthy run; on its first run auto's AdamW (lr 0.0063 after its sweep) moved the output by a few
    # units in 540 steps, and validation sat at 21x the target's variance: a failure, relabelled after that run
    S("fresh2: linear target in thousands, linear model", "unscaled_target", thousands,
      lambda i, o, **_: nn.Linear(i, o), dict(max_epochs=30), score="relative", present=("bad_start",)),
    # written as a failure (accumulate=32 leaves a dozen steps); on its first run each step's 32 batches covered
    # the data, so auto chose L-BFGS, which reached validation loss 0.058 in 14 steps: healthy, relabelled
    S("fresh2: accumulate=32 (digits mlp)", None, lambda: standardize(digits()), mlp,
      dict(loss="cross_entropy", accumulate=32, max_epochs=20), outputs=10),
    S("fresh2: salaries standardized, mlp", None, lambda: salaries(dollars=False),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
]


# ---- written after this round's rule changes, to look for false alarms of the new rules (reported apart) --------
class NoisyInputs(nn.Module):
    """Gaussian noise on the inputs while training only (it checks self.training), then an MLP."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.body = mlp(inputs, outputs, (64,))

    def forward(self, x):
        return self.body(x + 0.1 * torch.randn_like(x) if self.training else x)


def with_duplicates(data: Data, share: float = 0.05) -> Data:
    """A table in which `share` of the rows were entered twice, split at random after that (copies on both sides)."""
    xt, yt, xv, yv = data
    x, y = torch.cat([xt, xv]), torch.cat([yt, yv])
    g = torch.Generator().manual_seed(8)
    twice = torch.randperm(len(y), generator=g)[:int(share * len(y))]
    x, y = torch.cat([x, x[twice]]), torch.cat([y, y[twice]])
    order = torch.randperm(len(y), generator=g)
    x, y = x[order], y[order]
    cut = len(y) * 3 // 4
    return x[:cut], y[:cut], x[cut:], y[cut:]


AFTER2 = [
    # first written on the salaries (nonlinear in the features: a linear model underfits them, so no healthy run)
    S("after2: target in thousands, linear model, full batch (auto's L-BFGS)", None, thousands,
      lambda i, o, **_: nn.Linear(i, o), dict(batch_size=2000), score="relative"),
    S("after2: warmup then cosine schedule", None, std_friedman, lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(schedule=ds.schedules.warmup_cosine(0.1), max_epochs=20)),
    S("after2: step schedule, halved every 100 steps", None, std_friedman, lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(schedule=ds.schedules.step(100, 0.5), max_epochs=20)),
    S("after2: input noise while training only", None, lambda: standardize(blobs(n=2000, classes_=3, seed=14)),
      lambda i, o, **_: NoisyInputs(i, o), dict(loss="cross_entropy", max_epochs=20), outputs=3),
    S("after2: 5% of rows entered twice, random split", None, lambda: with_duplicates(std_friedman()),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
]
