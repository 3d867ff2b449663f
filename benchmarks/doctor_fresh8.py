"""An eighth fresh set for the doctor (`doctor_scenarios.py --fresh8`): mistakes practitioners make that none of the
earlier lists stage, each with a healthy twin beside it. Written before this round's rules were read or changed
(only the other lists' scenario names and the finding codes in doctor/findings.py were read); the doctor's first
answers are in RESULTS.md ("The doctor on an eighth fresh set").

Failures (14): a category's target encoding computed over all rows with each row's own target in it, inputs
standardized per row (axis 1) instead of per column, a hand-written multi-target loss that averages the error over
the target columns before squaring it, a sigmoid head on a share given in percent, step milestones meant as epochs
read as steps, a mean-pooled per-step MLP on a task where order matters, the body's param group at lr 0 (a freeze
left in the fine-tuning script), F.normalize over the batch (dim 0) instead of over the features, validation
one-hot columns built separately (a level absent, the columns shifted), an L2 penalty added by hand at a weight meant
for a mean, dropout placed after the output layer, user ids hashed into 8 buckets, the row id embedded as a
category, and zeros meaning "not measured" in two clinical columns (Pima-style). Each runs on fit's defaults unless
the failure is the user's choice.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.doctor_fresh import Recurrent
from benchmarks.doctor_scenarios import S, Data, Factorization, _split, digits, friedman, mlp, ratings, standardize


# ---- data -----------------------------------------------------------------------------------------------------
def encoded_categories(leak: bool, n: int = 3000, levels: int = 500, seed: int = 90) -> Data:
    """Five measured columns and a 500-level category (about 6 rows a level) whose effect on the target is modest;
    the category enters as its mean target. `leak` computes that mean over all rows, each row's own target
    included; otherwise over the training rows only, out of fold (5 folds) for the training rows themselves."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 5))
    level = g.integers(0, levels, n)
    effect = 0.5 * g.normal(size=levels)
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] + effect[level] + 0.7 * g.normal(size=n)
    y = (y - y.mean()) / y.std()
    order = g.permutation(n)
    x, level, y = x[order], level[order], y[order]
    cut = n * 3 // 4
    if leak:
        encoded = _level_means(level, y, level)
    else:
        encoded = np.zeros(n)
        folds = np.arange(cut) % 5
        for fold in range(5):
            rows = np.nonzero(folds == fold)[0]
            rest = np.nonzero(folds != fold)[0]
            encoded[rows] = _level_means(level[rest], y[rest], level[rows])
        encoded[cut:] = _level_means(level[:cut], y[:cut], level[cut:])
    features = np.column_stack([x, encoded]).astype(np.float32)
    data = (torch.tensor(features[:cut]), torch.tensor(y[:cut], dtype=torch.float32),
            torch.tensor(features[cut:]), torch.tensor(y[cut:], dtype=torch.float32))
    return standardize(data)


def _level_means(levels: np.ndarray, target: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """Each asked level's mean target among (levels, target), 0 for a level never seen."""
    sums = np.bincount(levels, target, minlength=asked.max() + 1)
    counts = np.bincount(levels, minlength=asked.max() + 1)
    return np.where(counts[asked] > 0, sums[asked] / np.maximum(counts[asked], 1), 0.0)


def houses(per_row: bool, n: int = 2500, seed: int = 91) -> Data:
    """Five house columns in their own units (area, rooms, age, income, distance) and a nonlinear standardized
    price; standardized per row (`per_row`, statistics over each row's five values) or per column."""
    g = np.random.default_rng(seed)
    z = g.normal(size=(n, 5))
    y = z[:, 0] + 0.5 * z[:, 1] - 0.4 * np.abs(z[:, 2]) + 0.6 * z[:, 3] * (z[:, 4] < 0) + 0.3 * g.normal(size=n)
    x = np.array([1500, 3, 30, 60000, 5]) + np.array([500, 1, 15, 20000, 3]) * z
    xt, yt, xv, yv = _split(x, (y - y.mean()) / y.std(), seed=seed)
    if not per_row:
        return standardize((xt, yt, xv, yv))

    def rows(v: torch.Tensor) -> torch.Tensor:
        return (v - v.mean(1, keepdim=True)) / v.std(1, keepdim=True)
    return rows(xt), yt, rows(xv), yv


def three_targets(n: int = 2500, seed: int = 92) -> Data:
    """Ten standardized inputs and three different standardized targets, one a column."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 10))
    y = np.column_stack([np.sin(2 * x[:, 0]) + x[:, 1], x[:, 2] * x[:, 3] - x[:, 4], np.abs(x[:, 5]) - x[:, 6]])
    y = y + 0.2 * g.normal(size=y.shape)
    return _split(x, (y - y.mean(0)) / y.std(0), seed=seed)


def share(percent: bool, n: int = 2500, seed: int = 93) -> Data:
    """A share (of a budget spent, say) driven by eight standardized inputs: in percent (0-100) or as a fraction."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 8))
    y = 1 / (1 + np.exp(-(x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + 0.3 * g.normal(size=n))))
    return _split(x, 100 * y if percent else y, seed=seed)


def order_sequences(n: int = 2000, steps: int = 20, seed: int = 94) -> Data:
    """Gaussian sequences (n, steps, 1): is the first half's sum above the second half's? (order decides)"""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, steps, 1))
    half = steps // 2
    y = (x[:, :half, 0].sum(1) > x[:, half:, 0].sum(1)).astype(np.int64)
    return _split(x, y, seed=seed, y_dtype=torch.long)


def std_friedman(seed: int = 95) -> Data:
    return standardize(friedman(noise=0.5, n=2000, seed=seed))


def one_hot_shops(separately: bool, n: int = 2500, seed: int = 96) -> Data:
    """Four measured columns and a 6-level shop whose effect is large, the shop one-hot encoded. `separately`
    encodes the validation rows on their own, as pd.get_dummies would: shop 2 never occurs there, so its columns
    shift left by one from shop 3 on, and a zero column pads the end to the training width."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 4))
    shop = g.integers(0, 6, n)
    y = x[:, 0] - 0.5 * x[:, 1] * x[:, 2] + np.array([-1.5, -0.5, 0.0, 0.5, 1.0, 2.0])[shop] + 0.3 * g.normal(size=n)
    y = (y - y.mean()) / y.std()
    cut = n * 3 // 4
    keep = np.concatenate([np.arange(cut), cut + np.nonzero(shop[cut:] != 2)[0]])
    x, shop, y = x[keep], shop[keep], y[keep]
    codes = np.eye(6)[shop]
    if separately:
        present = [level for level in range(6) if level != 2]
        codes[cut:] = np.column_stack([np.eye(6)[shop[cut:]][:, present], np.zeros(len(shop) - cut)])
    features = torch.tensor(np.column_stack([x, codes]), dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)
    return features[:cut], target[:cut], features[cut:], target[cut:]


def with_row_id(data: Data) -> Data:
    """The row's number appended as a last column (a primary key kept as a feature)."""
    xt, yt, xv, yv = data
    ids = torch.arange(len(yt) + len(yv), dtype=torch.float32)[:, None]
    return torch.cat([xt, ids[:len(yt)]], 1), yt, torch.cat([xv, ids[len(yt):]], 1), yv


def clinic(zeros: bool, n: int = 2500, seed: int = 97) -> Data:
    """Pima-style columns (glucose, blood pressure, skin fold, bmi, age, pregnancies) and a diabetes outcome that
    rests on blood pressure and bmi among others; `zeros` records 30% of blood pressures and 15% of bmis as 0 (not
    measured) and standardizes as read, else the gaps are filled with the measured values' median and flagged."""
    g = np.random.default_rng(seed)
    z = g.normal(size=(n, 6))
    x = np.array([120, 72, 29, 32, 33, 3]) + np.array([30, 12, 10, 7, 12, 3]) * z
    logit = 1.2 * z[:, 0] + 1.0 * z[:, 1] + 1.0 * z[:, 3] + 0.4 * z[:, 4]
    y = (logit + g.logistic(size=n) > 0).astype(np.int64)
    missing = np.column_stack([g.random(n) < 0.3, g.random(n) < 0.15])
    x[:, [1, 3]] = np.where(missing, 0.0, x[:, [1, 3]])
    if not zeros:
        for j, column in enumerate((1, 3)):
            x[missing[:, j], column] = np.median(x[~missing[:, j], column])
        x = np.column_stack([x, missing.astype(np.float64)])
    return standardize(_split(x, y, seed=seed, y_dtype=torch.long))


# ---- models ---------------------------------------------------------------------------------------------------
def sigmoid_head(i: int, o: int, **k) -> nn.Sequential:
    return mlp(i, o, (64, 64), head=nn.Sigmoid(), **k)


class MeanPooled(nn.Module):
    """The same small MLP on every step of (batch, steps, 1), averaged over the steps, and a linear head: blind to
    the steps' order by construction."""

    def __init__(self, outputs: int, width: int = 32):
        super().__init__()
        self.step = nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, outputs)

    def forward(self, x):
        return self.head(self.step(x).mean(1))


class Normalized(nn.Module):
    """An MLP on inputs L2-normalized along dimension `dim` (1: each row; 0: each column over the batch)."""

    def __init__(self, inputs: int, outputs: int, dim: int):
        super().__init__()
        self.dim, self.body = dim, mlp(inputs, outputs, (64,))

    def forward(self, x):
        return self.body(F.normalize(x, dim=self.dim))


def output_dropout(after_output: bool):
    """A friedman MLP with Dropout(0.5) after its output layer (`after_output`) or Dropout(0.2) after its hidden
    layer."""
    def build(i, o, **_):
        if after_output:
            return nn.Sequential(nn.Linear(i, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, o),
                                 nn.Dropout(0.5))
        return nn.Sequential(nn.Linear(i, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 64), nn.ReLU(),
                             nn.Linear(64, o))
    return build


class Hashed(Factorization):
    """Matrix factorization with user and item ids hashed (taken modulo) into `buckets` rows each."""

    def __init__(self, buckets: int):
        super().__init__(users=buckets, items=buckets)
        self.buckets = buckets

    def forward(self, pairs):
        return super().forward(pairs % self.buckets)


class KeyedMLP(nn.Module):
    """An MLP on the measured columns plus an 8-wide embedding of the last column, the row id, as a category."""

    def __init__(self, inputs: int, outputs: int, rows: int = 2000):
        super().__init__()
        self.key = nn.Embedding(rows, 8)
        self.body = mlp(inputs - 1 + 8, outputs, (64, 64))

    def forward(self, x):
        return self.body(torch.cat([x[:, :-1], self.key(x[:, -1].long())], 1))


# ---- losses, schedules and optimizers, as a user would write them -------------------------------------------------
def error_mean_squared(output, target):
    """A multi-target 'mse' that averages the error over the target columns before squaring it: errors of opposite
    sign cancel, so only the outputs' mean is fitted."""
    return ((output - target).mean(1) ** 2).mean()


def column_mse(output, target):
    """Mean squared error per target column, averaged (the usual multi-target mse)."""
    return ((output - target) ** 2).mean(1).mean()


def column_error(output, target) -> float:
    """column_mse as a number, the metric a user reads off the validation rows."""
    return float(column_mse(output, target))


def milestones(*steps: int):
    """lr x0.1 at each of `steps` (torch's MultiStepLR as a step -> factor function)."""
    return lambda step: 0.1 ** sum(step >= m for m in steps)


def body_lr(lr: float):
    """Adam with the body (every parameter but the last layer's) in its own param group at `lr` and the head at
    1e-3."""
    def build(parameters):
        parameters = list(parameters)
        return torch.optim.Adam([{"params": parameters[:-2], "lr": lr}, {"params": parameters[-2:]}], lr=1e-3)
    return build


class Penalized:
    """mse plus `weight` times the sum of squared weights of the model it builds: an L2 penalty written by hand."""

    def __init__(self, weight: float):
        self.weight, self.model = weight, None

    def build(self, i, o, **k) -> nn.Module:
        self.model = mlp(i, o, (64, 64), **k)
        return self.model

    def loss(self, output, target):
        penalty = sum(p.pow(2).sum() for p in self.model.parameters() if p.dim() > 1)
        return F.mse_loss(output.reshape(target.shape), target) + self.weight * penalty


STRONG, LIGHT = Penalized(0.1), Penalized(1e-5)
EPOCH_STEPS = 22   # digits: 1347 training rows in batches of 64


FRESH8 = [
    S("fresh8: target encoding over all rows, each row's own target included", "target_leak",
      lambda: encoded_categories(leak=True), lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20),
      better="cause"),
    S("fresh8: inputs standardized per row (axis 1) instead of per column (houses)", "unscaled_inputs",
      lambda: houses(per_row=True), lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
    S("fresh8: multi-target loss averages the error over columns before squaring", "unread_outputs", three_targets,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(loss=error_mean_squared, max_epochs=20,
                                                          metrics=[column_error]), outputs=3,
      score="val_column_error"),
    S("fresh8: sigmoid head on a share given in percent (0-100)", "loss_target_mismatch", lambda: share(True),
      sigmoid_head, dict(max_epochs=20)),
    S("fresh8: lr x0.1 at 'epochs' 5, 10, 15 read as steps, digits mlp", "lr_decayed_early",
      lambda: standardize(digits()), mlp, dict(loss="cross_entropy", max_epochs=20, schedule=milestones(5, 10, 15)),
      outputs=10),
    S("fresh8: mean-pooled per-step mlp on a task where order decides", "order_blind", order_sequences,
      lambda i, o, **_: MeanPooled(o), dict(loss="cross_entropy", max_epochs=15), outputs=2),
    S("fresh8: body's param group left at lr 0 (a freeze never undone)", "frozen_parameters", std_friedman,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20), optimizer=body_lr(0.0),
      expect=("frozen_parameters", "optimizer_misses_weights")),
    S("fresh8: F.normalize over the batch (dim 0) instead of each row (digits)", "batch_mixing", digits,
      lambda i, o, **_: Normalized(i, o, dim=0), dict(loss="cross_entropy", max_epochs=15), outputs=10),
    S("fresh8: validation one-hot built separately (a shop absent, columns shifted)", "validation_unlike_training",
      lambda: one_hot_shops(separately=True), lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
    S("fresh8: l2 penalty by hand, 0.1 x sum of squared weights (friedman)", "weight_decay_too_strong", std_friedman,
      STRONG.build, dict(loss=STRONG.loss, max_epochs=20)),
    S("fresh8: Dropout(0.5) after the output layer (friedman regression)", "dropout_too_strong", std_friedman,
      output_dropout(after_output=True), dict(max_epochs=20)),
    S("fresh8: user and item ids hashed into 8 buckets (ratings)", "embedding_ids", ratings,
      lambda i, o, **_: Hashed(8), dict(max_epochs=20)),
    S("fresh8: the row id embedded as a category (friedman)", "overfitting", lambda: with_row_id(std_friedman()),
      lambda i, o, **_: KeyedMLP(i, o), dict(max_epochs=30)),
    S("fresh8: zeros meaning 'not measured' in blood pressure and bmi (pima-style)", "unscaled_inputs",
      lambda: clinic(zeros=True), lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(loss="cross_entropy", max_epochs=15), outputs=2),
]


HEALTHY8 = [
    S("fresh8: target encoding out of fold, training rows only", None, lambda: encoded_categories(leak=False),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
    S("fresh8: inputs standardized per column (houses)", None, lambda: houses(per_row=False),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
    S("fresh8: multi-target mse written by hand", None, three_targets, lambda i, o, **k: mlp(i, o, (64, 64), **k),
      dict(loss=column_mse, max_epochs=20, metrics=[column_error]), outputs=3),
    S("fresh8: sigmoid head on the share as a fraction", None, lambda: share(False), sigmoid_head,
      dict(max_epochs=20)),
    S("fresh8: lr x0.1 at epochs 10 and 15 given in steps, digits mlp", None, lambda: standardize(digits()), mlp,
      dict(loss="cross_entropy", max_epochs=20, schedule=milestones(10 * EPOCH_STEPS, 15 * EPOCH_STEPS)),
      outputs=10),
    S("fresh8: gru on the order task", None, order_sequences, lambda i, o, **_: Recurrent(o),
      dict(loss="cross_entropy", max_epochs=15), outputs=2),
    S("fresh8: body's param group at lr 3e-4, head at 1e-3", None, std_friedman,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20), optimizer=body_lr(3e-4)),
    S("fresh8: F.normalize over each row (dim 1) (digits)", None, digits,
      lambda i, o, **_: Normalized(i, o, dim=1), dict(loss="cross_entropy", max_epochs=15), outputs=10),
    S("fresh8: validation one-hot with the training's columns", None, lambda: one_hot_shops(separately=False),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=20)),
    S("fresh8: l2 penalty by hand, 1e-5 x sum of squared weights (friedman)", None, std_friedman, LIGHT.build,
      dict(loss=LIGHT.loss, max_epochs=20)),
    S("fresh8: Dropout(0.2) after the hidden layer (friedman regression)", None, std_friedman,
      output_dropout(after_output=False), dict(max_epochs=20)),
    S("fresh8: user and item ids hashed into 256 buckets (ratings)", None, ratings,
      lambda i, o, **_: Hashed(256), dict(max_epochs=20)),
    S("fresh8: the measured columns only (friedman)", None, std_friedman,
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(max_epochs=30)),
    S("fresh8: gaps filled with the median and flagged (pima-style)", None, lambda: clinic(zeros=False),
      lambda i, o, **k: mlp(i, o, (64, 64), **k), dict(loss="cross_entropy", max_epochs=15), outputs=2),
]
