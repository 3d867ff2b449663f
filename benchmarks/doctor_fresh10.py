"""A tenth fresh set for the doctor (`doctor_scenarios.py --fresh10`): mistakes practitioners hit on model kinds the
other lists rarely use (a graph convolution over small graphs, a siamese pair scorer, quantile regression under a
pinball loss, a multi-task net with two heads on one trunk, a deep stack of gated units, 1-D convolutions over
sensor signals, a tabular net with a store embedding beside numeric columns), each with a healthy twin that
differs only in the mistake. Written blind: before the doctor's rules or the other lists' scenarios were read (only
the finding names in `ds.doctor.CODES` and the harness in doctor_scenarios.py); the doctor's first answers are in
RESULTS.md ("The doctor on a tenth fresh set").

Failures (14): a graph convolution under Adam at lr 1, a graph attribute column that is the graph's own label, a
siamese scorer under SGD at lr 1e-5, a siamese encoder whose noise augmentation stays on in eval mode, siamese pairs
drawn at random (one in ten the same digit), a 90% quantile of house prices fitted in dollars, a multi-task trunk
frozen at its random start (the pretrained weights were never loaded), a multi-task net trained 300 epochs on 150
rows with no stopping rule, sixteen gated units stacked without their skip connections, 1-D convolutions fed raw
12-bit ADC counts, signal files loaded class by class with no shuffle, validation store ids from an encoder refitted
on the validation file, missing sales coded -999 in 3% of the training weeks, and four product lines under mse on
their ids.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from benchmarks.doctor_scenarios import S, Data, _split, digit_images

NODES, NODE_FEATURES = 10, 4


# ---- data -----------------------------------------------------------------------------------------------------
def graphs(attribute: str = "none", n: int = 1200, seed: int = 200) -> Data:
    """Small random graphs packed as (n, nodes, nodes + features): the adjacency matrix beside each node's features.
    The label says whether "hot" nodes (feature 0 above zero) sit next to each other more than chance. `attribute`
    appends one graph-level column copied onto every node: "label" (the graph's own label, a bookkeeping slip) or
    "density" (its share of edges, an honest attribute)."""
    g = np.random.default_rng(seed)
    upper = np.triu(g.random((n, NODES, NODES)) < 0.3, 1)
    adjacency = (upper | upper.transpose(0, 2, 1)).astype(np.float32)
    features = g.normal(size=(n, NODES, NODE_FEATURES))
    hot = (features[..., 0] > 0).astype(np.float32)
    hot_pairs = np.einsum("bi,bij,bj->b", hot, adjacency, hot) / 2
    edges = adjacency.sum((1, 2)) / 2
    label = (hot_pairs > 0.25 * edges).astype(np.float32)
    columns = [adjacency, features]
    if attribute != "none":
        value = label if attribute == "label" else edges / (NODES * (NODES - 1) / 2)
        columns.append(np.repeat(value[:, None, None], NODES, 1))
    return _split(np.concatenate(columns, -1), label)


def _digit_rows() -> tuple[torch.Tensor, torch.Tensor]:
    xt, yt, xv, yv = digit_images()
    return torch.cat([xt, xv]).reshape(-1, 64), torch.cat([yt, yv])


def digit_pairs(balanced: bool = True, n: int = 3000, seed: int = 201) -> Data:
    """Pairs of 8x8 digits (n, 2, 64) labelled 1 when both show the same digit; `balanced` draws half the pairs from
    one class (the usual recipe), otherwise both members at random (about one pair in ten is the same digit)."""
    x, y = _digit_rows()
    g = np.random.default_rng(seed)
    first = g.integers(0, len(y), n)
    if balanced:
        same = g.random(n) < 0.5
        by_class = {c: np.flatnonzero(y.numpy() == c) for c in range(10)}
        second = np.array([g.choice(by_class[int(y[i])]) if s else g.integers(0, len(y)) for i, s in zip(first, same)])
    else:
        second = g.integers(0, len(y), n)
    pair = torch.stack([x[first], x[second]], 1)
    return _split(pair.numpy(), (y[first] == y[second]).numpy().astype(np.float32))


def house_prices(dollars: bool, n: int = 2000, seed: int = 202) -> Data:
    """Eight standardized house features and a price whose spread grows with the fourth; in dollars (mean about
    300,000) unless `dollars` is False, then standardized with the training rows' mean and spread."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 8))
    price = 300_000 + 80_000 * (x[:, 0] + 0.5 * x[:, 1] ** 2 + np.sin(x[:, 2])) \
        + 30_000 * (1 + np.abs(x[:, 3])) * g.normal(size=n)
    xt, yt, xv, yv = _split(x, price)
    if not dollars:
        mean, spread = yt.mean(), yt.std()
        yt, yv = (yt - mean) / spread, (yv - mean) / spread
    return xt, yt, xv, yv


def two_tasks(n: int = 2000, noise_columns: int = 0, seed: int = 203) -> Data:
    """Twelve inputs (`noise_columns` of them pure noise) and two targets per row: a standardized amount and a 0/1
    flag that both depend on the same few inputs."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 12))
    signal = x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
    amount = signal + 0.4 * np.sin(2 * x[:, 4]) + 0.3 * g.normal(size=n)
    flag = (signal + 0.5 * g.normal(size=n) > 0).astype(np.float32)
    if noise_columns:
        x[:, 12 - noise_columns:] = g.normal(size=(n, noise_columns))
    return _split(x, np.column_stack([(amount - amount.mean()) / amount.std(), flag]))


def small_two_tasks() -> Data:
    """150 rows of the two-task data with ten of the twelve inputs noise: easy to memorize."""
    return two_tasks(n=200, noise_columns=8, seed=204)


def smooth_target(n: int = 2000, seed: int = 205) -> Data:
    """Sixteen inputs and a smooth nonlinear standardized target."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 16))
    y = np.tanh(x[:, 0] + x[:, 1]) + 0.5 * x[:, 2] * x[:, 3] - 0.4 * x[:, 4] + 0.2 * g.normal(size=n)
    return _split(x, (y - y.mean()) / y.std())


def vibration(raw_counts: bool = False, sort_by_class: bool = False, n: int = 1500, seed: int = 206) -> Data:
    """Accelerometer windows (n, 1, 96) of three machine states, each a hum at its own frequency in noise. As a
    12-bit ADC writes them (`raw_counts`: 2048 plus 400 counts per g) or in g; `sort_by_class` keeps the training
    rows in the order their three files were concatenated, one state after another."""
    g = np.random.default_rng(seed)
    state = g.integers(0, 3, n)
    t = np.arange(96)
    frequency = np.array([0.05, 0.09, 0.14])[state] * (1 + 0.08 * g.normal(size=n))
    phase = g.uniform(0, 2 * np.pi, n)
    signal = np.sin(2 * np.pi * frequency[:, None] * t + phase[:, None]) + 0.8 * g.normal(size=(n, 96))
    if raw_counts:
        signal = np.round(2048 + 400 * signal)
    xt, yt, xv, yv = _split(signal[:, None, :], state, y_dtype=torch.long)
    if sort_by_class:
        order = torch.argsort(yt, stable=True)
        xt, yt = xt[order], yt[order]
    return xt, yt, xv, yv


STORES = 40


def _store_sales(n: int, seed: int, classes: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Store ids, six numeric columns and a target led by the store: weekly sales (standardized), or with
    `classes`, which of four product lines sells most."""
    g = np.random.default_rng(seed)
    store = g.integers(0, STORES, n)
    numeric = g.normal(size=(n, 6))
    if classes:
        effect = g.normal(size=(STORES, 4)) * 1.5
        score = effect[store] + numeric[:, :4] * 0.6 + 0.5 * g.normal(size=(n, 4))
        return store, numeric, score.argmax(1)
    effect = g.normal(size=STORES) * 1.5
    sales = effect[store] + 0.5 * numeric[:, 0] - 0.3 * numeric[:, 1] + 0.5 * g.normal(size=n)
    return store, numeric, (sales - sales.mean()) / sales.std()


def store_sales(val_encoder: str = "same", missing_code: bool = False, n: int = 3000, seed: int = 207) -> Data:
    """Rows of (store id, six numeric columns) and weekly sales. `val_encoder="refit"` gives the validation rows
    store ids from an encoder fitted again on the validation file (the same stores, numbered in another order);
    `missing_code` writes -999 for the sales of 3% of the training weeks (a till that did not report)."""
    store, numeric, sales = _store_sales(n, seed)
    xt, yt, xv, yv = _split(np.column_stack([store, numeric]), sales)
    if val_encoder == "refit":
        renumber = torch.tensor(np.random.default_rng(seed + 1).permutation(STORES), dtype=xv.dtype)
        xv = xv.clone()
        xv[:, 0] = renumber[xv[:, 0].long()]
    if missing_code:
        lost = torch.tensor(np.random.default_rng(seed + 2).random(len(yt)) < 0.03)
        yt = torch.where(lost, torch.tensor(-999.0), yt)
    return xt, yt, xv, yv


def store_lines(integer_targets: bool, n: int = 3000, seed: int = 208) -> Data:
    """Rows of (store id, six numeric columns) and which of four product lines sells most: float ids 0..3 (for a
    one-output mse model) or long class ids."""
    store, numeric, line = _store_sales(n, seed, classes=True)
    return _split(np.column_stack([store, numeric]), line, y_dtype=torch.long if integer_targets else torch.float32)


# ---- models ---------------------------------------------------------------------------------------------------
class GraphConv(nn.Module):
    """Two graph convolutions (symmetric-normalized adjacency with self loops), mean pooling, a linear head."""

    def __init__(self, features: int = NODE_FEATURES, hidden: int = 32):
        super().__init__()
        self.first, self.second = nn.Linear(features, hidden), nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adjacency = x[..., :NODES] + torch.eye(NODES)
        scale = adjacency.sum(-1).rsqrt()
        adjacency = scale[..., :, None] * adjacency * scale[..., None, :]
        h = torch.relu(adjacency @ self.first(x[..., NODES:]))
        h = torch.relu(adjacency @ self.second(h))
        return self.head(h.mean(1))


class Noise(nn.Module):
    """Gaussian noise augmentation; `always` leaves it on in eval mode too (no `if self.training`)."""

    def __init__(self, scale: float, always: bool):
        super().__init__()
        self.scale, self.always = scale, always

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * torch.randn_like(x) if self.training or self.always else x


class Siamese(nn.Module):
    """One encoder for both members of a pair; the logit falls with their squared embedding distance."""

    def __init__(self, noise_always: bool | None = None):
        super().__init__()
        noise = [Noise(0.3, noise_always)] if noise_always is not None else []
        self.encoder = nn.Sequential(*noise, nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16))
        self.offset, self.scale = nn.Parameter(torch.tensor(1.0)), nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.encoder(x[:, 0]), self.encoder(x[:, 1])
        return (self.offset - self.scale * (a - b).pow(2).sum(1))[:, None]


def pinball(q: float):
    """The pinball (quantile) loss for quantile `q` of a one-output model."""
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        gap = target - output.reshape(target.shape)
        return torch.maximum(q * gap, (q - 1) * gap).mean()
    return loss


class TwoHeads(nn.Module):
    """A shared trunk with an amount head and a flag head; `frozen` leaves the trunk at its random start."""

    def __init__(self, inputs: int = 12, width: int = 64, frozen: bool = False):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.amount, self.flag = nn.Linear(width, 1), nn.Linear(width, 1)
        self.trunk.requires_grad_(not frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        return torch.cat([self.amount(h), self.flag(h)], 1)


def two_task_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mse on the amount plus binary cross-entropy (on the logit) for the flag."""
    return F.mse_loss(output[:, 0], target[:, 0]) + F.binary_cross_entropy_with_logits(output[:, 1], target[:, 1])


class GatedStack(nn.Module):
    """`depth` gated linear units, h -> a(h) * sigmoid(b(h)), added to h when `skip` (as the recipe says)."""

    def __init__(self, inputs: int = 16, width: int = 32, depth: int = 16, skip: bool = True):
        super().__init__()
        self.inp, self.head, self.skip = nn.Linear(inputs, width), nn.Linear(width, 1), skip
        self.values = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.gates = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for value, gate in zip(self.values, self.gates):
            unit = value(h) * torch.sigmoid(gate(h))
            h = h + unit if self.skip else unit
        return self.head(h)


def signal_cnn(*_, **__) -> nn.Sequential:
    """Two 1-D convolutions with pooling and a three-state head."""
    return nn.Sequential(nn.Conv1d(1, 8, 7, padding=3), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 16, 5, padding=2),
                         nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 3))


class StoreNet(nn.Module):
    """An 8-wide embedding of the store id (column 0) beside the numeric columns, then an MLP."""

    def __init__(self, outputs: int = 1):
        super().__init__()
        self.store = nn.Embedding(STORES, 8)
        self.mlp = nn.Sequential(nn.Linear(8 + 6, 64), nn.ReLU(), nn.Linear(64, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([self.store(x[:, 0].long()), x[:, 1:]], 1))


def unshuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def shuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def restore_best():
    return [ds.stop.Patience(5, restore_best=True)]


def _fixed(factory):
    """A model builder that ignores the harness's (inputs, outputs, ...) and calls `factory`."""
    return lambda *_, **__: factory()


CE = "cross_entropy"
GRAPH, PAIRS = dict(loss="bce", max_epochs=15), dict(loss="bce", max_epochs=12)
FRESH10 = [
    S("fresh10: graph convolution under Adam at lr 1", "lr_too_high", graphs, _fixed(GraphConv),
      dict(GRAPH, optimizer="adam", lr=1.0)),
    S("fresh10: graph attribute column that is the graph's label", "target_leak", lambda: graphs("label"),
      _fixed(lambda: GraphConv(NODE_FEATURES + 1)), GRAPH, better="cause"),
    S("fresh10: siamese scorer under SGD at lr 1e-5", "lr_too_low", digit_pairs, _fixed(Siamese),
      dict(PAIRS, optimizer="sgd", lr=1e-5)),
    S("fresh10: siamese noise augmentation left on in eval mode", "random_evaluation", digit_pairs,
      _fixed(lambda: Siamese(noise_always=True)), PAIRS),
    S("fresh10: siamese pairs drawn at random, one in ten the same", "class_imbalance",
      lambda: digit_pairs(balanced=False), _fixed(Siamese), PAIRS),
    S("fresh10: 90% quantile of house prices in dollars", "unscaled_target", lambda: house_prices(True),
      _fixed(lambda: nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))),
      dict(loss=pinball(0.9), max_epochs=20), score="relative"),
    S("fresh10: multi-task trunk frozen at its random start", "frozen_parameters", two_tasks,
      _fixed(lambda: TwoHeads(frozen=True)), dict(loss=two_task_loss, max_epochs=15)),
    S("fresh10: multi-task net, 150 rows, 300 epochs, no stopping rule", "overfitting", small_two_tasks,
      _fixed(lambda: TwoHeads(width=256)), dict(loss=two_task_loss, optimizer="adam", lr=3e-3, max_epochs=300)),
    S("fresh10: sixteen gated units stacked without skips", "vanishing_gradients", smooth_target,
      _fixed(lambda: GatedStack(skip=False)), dict(max_epochs=15)),
    S("fresh10: 1-D convolutions fed raw 12-bit ADC counts", "unscaled_inputs", lambda: vibration(raw_counts=True),
      signal_cnn, dict(loss=CE, max_epochs=12)),
    S("fresh10: signal files loaded class by class, no shuffle", "unshuffled_data",
      lambda: vibration(sort_by_class=True), signal_cnn, dict(loss=CE, max_epochs=12, batch_size=32),
      loader=unshuffled),
    S("fresh10: validation store ids from an encoder refitted on that file", "validation_unlike_training",
      lambda: store_sales("refit"), _fixed(StoreNet), dict(max_epochs=15), better="cause"),
    S("fresh10: missing sales coded -999 in 3% of training weeks", "target_errors",
      lambda: store_sales(missing_code=True), _fixed(StoreNet), dict(max_epochs=15)),
    S("fresh10: four product lines under mse on their ids", "loss_target_mismatch", lambda: store_lines(False),
      lambda _, outputs, **__: StoreNet(outputs), dict(loss="mse", max_epochs=15)),
]
HEALTHY10 = [
    S("fresh10: graph convolution under Adam at lr 3e-3", None, graphs, _fixed(GraphConv),
      dict(GRAPH, optimizer="adam", lr=3e-3)),
    S("fresh10: graph attribute column that is the graph's edge density", None, lambda: graphs("density"),
      _fixed(lambda: GraphConv(NODE_FEATURES + 1)), GRAPH),
    S("fresh10: siamese scorer under SGD at lr 0.05", None, digit_pairs, _fixed(Siamese),
      dict(PAIRS, optimizer="sgd", lr=0.05)),
    S("fresh10: siamese noise augmentation in training only", None, digit_pairs,
      _fixed(lambda: Siamese(noise_always=False)), PAIRS),
    S("fresh10: siamese pairs half the same digit", None, digit_pairs, _fixed(Siamese), PAIRS),
    S("fresh10: 90% quantile of house prices standardized", None, lambda: house_prices(False),
      _fixed(lambda: nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))),
      dict(loss=pinball(0.9), max_epochs=20)),
    S("fresh10: multi-task trunk trained", None, two_tasks, _fixed(TwoHeads), dict(loss=two_task_loss, max_epochs=15)),
    S("fresh10: multi-task net, 150 rows, Patience(5) restoring the best", None, small_two_tasks,
      _fixed(lambda: TwoHeads(width=256)),
      dict(loss=two_task_loss, optimizer="adam", lr=3e-3, max_epochs=300, stop=restore_best())),
    S("fresh10: sixteen gated units with their skips", None, smooth_target, _fixed(GatedStack), dict(max_epochs=15)),
    S("fresh10: 1-D convolutions fed the signal in g", None, vibration, signal_cnn, dict(loss=CE, max_epochs=12)),
    S("fresh10: signal files loaded class by class, shuffled", None, lambda: vibration(sort_by_class=True),
      signal_cnn, dict(loss=CE, max_epochs=12, batch_size=32), loader=shuffled),
    S("fresh10: validation store ids from the training encoder", None, store_sales, _fixed(StoreNet),
      dict(max_epochs=15)),
    S("fresh10: every training week's sales recorded", None, store_sales, _fixed(StoreNet), dict(max_epochs=15)),
    S("fresh10: four product lines under cross_entropy", None, lambda: store_lines(True),
      _fixed(lambda: StoreNet(outputs=4)), dict(loss=CE, max_epochs=15)),
]
