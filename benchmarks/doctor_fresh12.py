"""A twelfth fresh set for the doctor (`doctor_scenarios.py --fresh12`): mistakes practitioners hit on setups the
other lists rarely use (a small-image CNN fed through an augmenting loader, a 1-D convolution over sensor windows,
GRU and LSTM sequence models, message passing over a dense adjacency matrix, a siamese net under a contrastive loss,
quantile regression under the pinball loss, a multi-task trunk with two heads, BatchNorm that never keeps running
statistics, a trunk frozen before its weights were loaded, class weights, a loss summed where it should average,
a dataset whose indexing repeats rows), each with a healthy twin that differs only in the mistake. Written blind:
before the doctor's rules or the other lists' scenarios were read (only the finding names in `ds.doctor.CODES`,
README's list of codes and the harness in doctor_scenarios.py); the doctor's first answers are in RESULTS.md
("The doctor on a twelfth fresh set").

Failures (14): digit images as 0-255 bytes through a random-shift loader, sensor windows stored by activity and
served unshuffled, a GRU classifier ending in Softmax under cross_entropy, an LSTM under SGD clipped to a norm of
1e-4, message passing that sums neighbours over an unnormalized adjacency, a siamese net under Adam with eps 1, a
0.9-quantile of a price in dollars, a two-head loss that reads the first head twice, BatchNorm with
track_running_stats=False, a frozen trunk still at its random start, class weights set to the class shares, a
per-step denoiser whose loss sums over the batch and the steps, a Dataset whose __getitem__ wraps at 50 rows, and an
LSTM under AdamW with weight_decay 5.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_friedman1
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from benchmarks.doctor_scenarios import S, Data, _split, digit_images

CE = "cross_entropy"


def _fixed(factory):
    """A model builder that ignores the harness's (inputs, outputs, ...) and calls `factory`."""
    return lambda *_, **__: factory()


def _zscore(y: np.ndarray) -> np.ndarray:
    return (y - y.mean()) / y.std()


# ---- data -----------------------------------------------------------------------------------------------------
def digits_as_bytes(raw: bool = True) -> Data:
    """The 8x8 digits as one-channel images; `raw` keeps the pixels as 0-255 bytes (as read from a PNG), else
    divided by 255."""
    xt, yt, xv, yv = digit_images()
    scale = 255.0 if raw else 1.0
    return xt * scale, yt, xv * scale, yv


def sensor_windows(n: int = 1500, steps: int = 64, sort_by_activity: bool = False, seed: int = 1) -> Data:
    """Three-axis accelerometer windows of three activities (still, walking, running: a frequency and an amplitude
    each, plus noise and a random phase), as (rows, 3 channels, steps); `sort_by_activity` stores the training rows
    grouped by activity, as a recording session per activity leaves them."""
    g = np.random.default_rng(seed)
    label = g.integers(0, 3, n)
    t = np.arange(steps) / 32.0
    freq, amp = np.array([0.3, 2.0, 3.2])[label], np.array([0.2, 1.0, 1.6])[label]
    phase = g.uniform(0, 2 * np.pi, (n, 3))
    x = amp[:, None, None] * np.sin(2 * np.pi * freq[:, None, None] * t[None, None, :] + phase[:, :, None])
    x = x + 0.6 * g.normal(size=x.shape)
    xt, yt, xv, yv = _split(x, label, y_dtype=torch.long)
    if sort_by_activity:
        order = torch.argsort(yt, stable=True)
        xt, yt = xt[order], yt[order]
    return xt, yt, xv, yv


def bump_sequences(n: int = 1500, steps: int = 24, seed: int = 2) -> Data:
    """(rows, steps, 2) sequences of noise with one bump; the class is the third of the sequence the bump is in."""
    g = np.random.default_rng(seed)
    x = 0.5 * g.normal(size=(n, steps, 2))
    where = g.integers(0, steps, n)
    x[np.arange(n), where, 0] += 3.0
    return _split(x, where * 3 // steps, y_dtype=torch.long)


def fading_sums(n: int = 1500, steps: int = 20, seed: int = 3) -> Data:
    """(rows, steps, 1) sequences whose target is their exponentially fading sum (recent steps weigh most)."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, steps, 1))
    weights = 0.8 ** np.arange(steps)[::-1]
    return _split(x, _zscore(x[:, :, 0] @ weights))


NODES, NODE_FEATURES = 24, 3


def small_graphs(n: int = 1500, seed: int = 4) -> Data:
    """Graphs of 24 nodes (edges with probability 0.5) with 3 features per node, packed as (rows, 24, 24 + 3):
    the dense adjacency beside the node features; the target is the mean over nodes of the product of a node's
    first feature with its neighbours' mean second feature."""
    g = np.random.default_rng(seed)
    upper = np.triu(g.random((n, NODES, NODES)) < 0.5, 1)
    adjacency = (upper | upper.transpose(0, 2, 1)).astype(np.float64)
    features = g.normal(size=(n, NODES, NODE_FEATURES))
    degree = adjacency.sum(2, keepdims=True).clip(min=1)
    neighbour_mean = (adjacency @ features) / degree
    y = (features[:, :, 0] * neighbour_mean[:, :, 1]).mean(1)
    return _split(np.concatenate([adjacency, features], 2), _zscore(y))


def pairs(n: int = 2000, dim: int = 16, seed: int = 5) -> Data:
    """Pairs of points from 10 Gaussian clusters in 16 dimensions, packed side by side (rows, 32); the target is
    1.0 when both come from the same cluster (half the pairs), else 0.0."""
    g = np.random.default_rng(seed)
    centres = 1.5 * g.normal(size=(10, dim))
    first = g.integers(0, 10, n)
    same = g.random(n) < 0.5
    second = np.where(same, first, (first + g.integers(1, 10, n)) % 10)
    points = lambda c: centres[c] + g.normal(size=(n, dim))   # noqa: E731
    return _split(np.concatenate([points(first), points(second)], 1), same.astype(np.float32))


def prices(dollars: bool = True, n: int = 2000, seed: int = 6) -> Data:
    """A house price from Friedman's first function of 10 standardized features with a spread that grows with the
    price; `dollars` keeps the target in dollars (about 200,000 +- 40,000), else standardized."""
    x, f = make_friedman1(n_samples=n, noise=0.0, random_state=seed)
    g = np.random.default_rng(seed)
    price = 200_000 + 8_000 * (f - f.mean()) * (1 + 0.3 * g.normal(size=n))
    x = (x - x.mean(0)) / x.std(0)
    return _split(x, price if dollars else _zscore(price))


def two_tasks(n: int = 2000, seed: int = 7) -> Data:
    """Ten standardized features and two standardized targets (rows, 2) that read different features."""
    x, f = make_friedman1(n_samples=n, noise=0.5, random_state=seed)
    second = np.sin(3 * x[:, 5]) + x[:, 6] * x[:, 7] * 4
    x = (x - x.mean(0)) / x.std(0)
    return _split(x, np.column_stack([_zscore(f), _zscore(second)]))


def friedman_rows(n: int = 2000, seed: int = 8) -> Data:
    """Friedman's first function of 10 standardized features, the target standardized."""
    x, y = make_friedman1(n_samples=n, noise=0.5, random_state=seed)
    return _split((x - x.mean(0)) / x.std(0), _zscore(y))


def three_shares(n: int = 3000, seed: int = 9) -> Data:
    """Three classes in 8 standardized features, held by 80%, 15% and 5% of the rows, apart but overlapping."""
    g = np.random.default_rng(seed)
    label = g.choice(3, size=n, p=[0.8, 0.15, 0.05])
    centres = 1.2 * g.normal(size=(3, 8))
    x = centres[label] + g.normal(size=(n, 8))
    return _split((x - x.mean(0)) / x.std(0), label, y_dtype=torch.long)


SHARES = torch.tensor([0.8, 0.15, 0.05])


def noisy_signals(n: int = 1200, steps: int = 48, seed: int = 10) -> Data:
    """(rows, 1, steps) sums of two sines with noise; the target is the clean signal, (rows, steps)."""
    g = np.random.default_rng(seed)
    t = np.arange(steps) / steps
    freq = g.uniform(1, 4, (n, 2))
    clean = np.sin(2 * np.pi * freq[:, :1] * t + g.uniform(0, 6, (n, 1))) \
        + 0.5 * np.sin(2 * np.pi * freq[:, 1:] * t + g.uniform(0, 6, (n, 1)))
    noisy = clean + 0.5 * g.normal(size=clean.shape)
    return _split(noisy[:, None, :], clean)


def blob_classes(n: int = 1500, seed: int = 11) -> Data:
    """Four overlapping classes in 6 standardized features."""
    g = np.random.default_rng(seed)
    label = g.integers(0, 4, n)
    x = 1.3 * g.normal(size=(4, 6))[label] + g.normal(size=(n, 6))
    return _split((x - x.mean(0)) / x.std(0), label, y_dtype=torch.long)


# ---- loaders --------------------------------------------------------------------------------------------------
class RandomShift(Dataset):
    """Digit images shifted by up to one pixel at random each time they are read (a hand-written augmentation)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y, self.g = x, y, torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        dy, dx = torch.randint(-1, 2, (2,), generator=self.g).tolist()
        return torch.roll(self.x[i], (dy, dx), (1, 2)), self.y[i]


def augmented(x, y, batch_size):
    return DataLoader(RandomShift(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def in_stored_order(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def shuffled(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


class Wrapping(Dataset):
    """Rows read by index; `wrap` is the length the index is taken modulo (a cached length from a first draft of the
    file: every row past it reads an earlier one)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, wrap: int):
        self.x, self.y, self.wrap = x, y, wrap

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i % self.wrap], self.y[i % self.wrap]


def wrapping_at(wrap: int | None):
    return lambda x, y, batch_size: DataLoader(Wrapping(x, y, wrap or len(y)), batch_size=batch_size, shuffle=True,
                                               generator=torch.Generator().manual_seed(0))


# ---- models ---------------------------------------------------------------------------------------------------
def small_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10))


def sensor_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(3, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(16, 32, 5, padding=2),
                         nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, 3))


class Recurrent(nn.Module):
    """A one-layer GRU or LSTM (batch_first) read at its last step, a linear head, and an optional final layer."""

    def __init__(self, cell: str, inputs: int, outputs: int, head: nn.Module | None = None, hidden: int = 32):
        super().__init__()
        self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](inputs, hidden, batch_first=True)
        self.out = nn.Linear(hidden, outputs)
        self.head = head if head is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        out = self.out(h[:, -1])
        return self.head(out if out.shape[1] > 1 else out[:, 0])


class MessagePassing(nn.Module):
    """Three rounds of h <- ReLU(W (A h) + U h) over the dense adjacency A, then a mean over nodes and a linear head;
    `normalize` divides each node's sum by its degree (a mean over neighbours), else the neighbours are summed."""

    def __init__(self, normalize: bool, width: int = 32):
        super().__init__()
        self.normalize = normalize
        self.embed = nn.Linear(NODE_FEATURES, width)
        self.neighbour = nn.ModuleList(nn.Linear(width, width) for _ in range(3))
        self.own = nn.ModuleList(nn.Linear(width, width) for _ in range(3))
        self.out = nn.Linear(width, 1)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        adjacency, features = packed[:, :, :NODES], packed[:, :, NODES:]
        if self.normalize:
            adjacency = adjacency / adjacency.sum(2, keepdim=True).clamp_min(1)
        h = self.embed(features)
        for neighbour, own in zip(self.neighbour, self.own):
            h = torch.relu(neighbour(adjacency @ h) + own(h))
        return self.out(h.mean(1))[:, 0]


class Siamese(nn.Module):
    """One encoder applied to both halves of a pair; the output is the distance between their embeddings."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.dim = dim
        self.encoder = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 8))

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        a, b = self.encoder(pair[:, :self.dim]), self.encoder(pair[:, self.dim:])
        return (a - b).pow(2).sum(1).add(1e-9).sqrt()


def contrastive(distance: torch.Tensor, same: torch.Tensor, margin: float = 2.0) -> torch.Tensor:
    """Hadsell et al.'s contrastive loss: same pairs pulled together, others pushed past the margin."""
    return (same * distance.pow(2) + (1 - same) * F.relu(margin - distance).pow(2)).mean()


def regressor(inputs: int = 10, outputs: int = 1) -> nn.Module:
    body = nn.Sequential(nn.Linear(inputs, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, outputs))
    return body if outputs > 1 else nn.Sequential(body, nn.Flatten(0))


def pinball(quantile: float = 0.9):
    """The pinball loss of one quantile (a Callable loss as fit takes it)."""
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        error = target - output
        return torch.maximum(quantile * error, (quantile - 1) * error).mean()
    return loss


class TwoHeads(nn.Module):
    """A shared trunk and one linear head per task, their outputs side by side (rows, 2)."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(64, 1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        return torch.cat([head(h) for head in self.heads], 1)


def two_task_loss(typo: bool):
    """The sum of each task's mse; `typo` reads the first head's column for both tasks (a copy-pasted line)."""
    second = 0 if typo else 1

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output[:, 0], target[:, 0]) + F.mse_loss(output[:, second], target[:, 1])
    return loss


def batch_norm_mlp(running_stats: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 64), nn.BatchNorm1d(64, track_running_stats=running_stats), nn.ReLU(),
                         nn.Linear(64, 64), nn.BatchNorm1d(64, track_running_stats=running_stats), nn.ReLU(),
                         nn.Linear(64, 4))


class Pretrained(nn.Module):
    """A trunk meant to hold pretrained weights (a narrow bottleneck of 8 units) and a new linear head."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 8), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))[:, 0]


def freeze_trunk(model: nn.Module) -> None:
    """`model.trunk.requires_grad_(False)`, written for weights the user then never loaded."""
    model.trunk.requires_grad_(False)


def classifier(inputs: int = 8, outputs: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, outputs))


def denoiser() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(1, 16, 7, padding=3), nn.ReLU(), nn.Conv1d(16, 16, 7, padding=3), nn.ReLU(),
                         nn.Conv1d(16, 1, 7, padding=3), nn.Flatten(1))


def squared_error(reduction: str):
    """mse under torch's `reduction` ("sum": a loss summed over rows and steps, as one writes to accumulate)."""
    return lambda output, target: F.mse_loss(output, target, reduction=reduction)


# ---- scenarios ------------------------------------------------------------------------------------------------
IMAGES = dict(loss=CE, optimizer="adam", lr=1e-2, max_epochs=6)
SENSORS = dict(loss=CE, max_epochs=8)
SEQUENCES = dict(loss=CE, max_epochs=12)
FADING = dict(optimizer="sgd", lr=0.05, max_epochs=12)
GRAPHS = dict(max_epochs=12)
SIAMESE = dict(loss=contrastive, max_epochs=12)
QUANTILE = dict(loss=pinball(0.9), max_epochs=20)
TASKS = dict(max_epochs=15)
BLOBS = dict(loss=CE, max_epochs=15)
SIGNALS = dict(optimizer="sgd", lr=0.01, max_epochs=10)
LSTM_DECAY = dict(loss=CE, optimizer="adamw", lr=0.01, max_epochs=12)


def adam(eps: float):
    return lambda parameters: torch.optim.Adam(parameters, lr=1e-3, eps=eps)


def gru(head: nn.Module | None = None):
    return _fixed(lambda: Recurrent("gru", 2, 3, head))


FRESH12 = [
    S("fresh12: small-image CNN, 0-255 bytes through a random-shift loader", "unscaled_inputs",
      digits_as_bytes, _fixed(small_cnn), IMAGES, loader=augmented),
    S("fresh12: 1-D CNN on sensor windows stored by activity, unshuffled", "unshuffled_data",
      lambda: sensor_windows(sort_by_activity=True), _fixed(sensor_cnn), SENSORS, loader=in_stored_order),
    S("fresh12: GRU classifier ending in Softmax under cross_entropy", "loss_target_mismatch", bump_sequences,
      gru(nn.Softmax(dim=1)), SEQUENCES),
    S("fresh12: LSTM under SGD clipped to a norm of 1e-4", "grad_clip_too_small", fading_sums,
      _fixed(lambda: Recurrent("lstm", 1, 1)), dict(FADING, grad_clip=1e-4)),
    S("fresh12: message passing summed over an unnormalized adjacency", "bad_start", small_graphs,
      _fixed(lambda: MessagePassing(normalize=False)), GRAPHS),
    S("fresh12: siamese net under Adam with eps 1", "optimizer_eps", pairs, _fixed(Siamese), SIAMESE,
      optimizer=adam(1.0)),
    S("fresh12: 0.9-quantile of a price in dollars", "unscaled_target", prices, _fixed(regressor), QUANTILE),
    S("fresh12: two-head loss reads the first head twice", "unread_outputs", two_tasks, _fixed(TwoHeads),
      dict(TASKS, loss=two_task_loss(typo=True)), outputs=2),
    S("fresh12: BatchNorm with track_running_stats=False", "batch_mixing", blob_classes,
      _fixed(lambda: batch_norm_mlp(running_stats=False)), BLOBS),
    S("fresh12: frozen trunk whose pretrained weights were never loaded", "frozen_parameters", friedman_rows,
      _fixed(Pretrained), TASKS, prepare=freeze_trunk),
    S("fresh12: class weights set to the class shares", "class_weighting", three_shares, _fixed(classifier),
      dict(BLOBS, loss=nn.CrossEntropyLoss(weight=SHARES)), score="balanced"),
    S("fresh12: per-step denoiser, loss summed over batch and steps", "lr_too_high", noisy_signals,
      _fixed(denoiser), dict(SIGNALS, loss=squared_error("sum")), present=("non_finite",)),
    S("fresh12: Dataset whose __getitem__ wraps at 50 rows", "repeated_rows", friedman_rows, _fixed(regressor),
      TASKS, loader=wrapping_at(50)),
    S("fresh12: LSTM classifier under AdamW with weight_decay 5", "weight_decay_too_strong", bump_sequences,
      _fixed(lambda: Recurrent("lstm", 2, 3)), dict(LSTM_DECAY, weight_decay=5.0)),
]
HEALTHY12 = [
    S("fresh12: small-image CNN, pixels divided by 255, random-shift loader", None,
      lambda: digits_as_bytes(raw=False), _fixed(small_cnn), IMAGES, loader=augmented),
    S("fresh12: 1-D CNN on sensor windows stored by activity, shuffled", None,
      lambda: sensor_windows(sort_by_activity=True), _fixed(sensor_cnn), SENSORS, loader=shuffled),
    S("fresh12: GRU classifier giving raw scores to cross_entropy", None, bump_sequences, gru(), SEQUENCES),
    S("fresh12: LSTM under SGD clipped to a norm of 1", None, fading_sums,
      _fixed(lambda: Recurrent("lstm", 1, 1)), dict(FADING, grad_clip=1.0)),
    S("fresh12: message passing averaged over neighbours", None, small_graphs,
      _fixed(lambda: MessagePassing(normalize=True)), GRAPHS),
    S("fresh12: siamese net under Adam with eps 1e-8", None, pairs, _fixed(Siamese), SIAMESE,
      optimizer=adam(1e-8)),
    S("fresh12: 0.9-quantile of a standardized price", None, lambda: prices(dollars=False), _fixed(regressor),
      QUANTILE),
    S("fresh12: two-head loss reads each head once", None, two_tasks, _fixed(TwoHeads),
      dict(TASKS, loss=two_task_loss(typo=False)), outputs=2),
    S("fresh12: BatchNorm keeping running statistics", None, blob_classes,
      _fixed(lambda: batch_norm_mlp(running_stats=True)), BLOBS),
    S("fresh12: trunk left trainable", None, friedman_rows, _fixed(Pretrained), TASKS),
    S("fresh12: class weights set to the inverse shares", None, three_shares, _fixed(classifier),
      dict(BLOBS, loss=nn.CrossEntropyLoss(weight=1 / (3 * SHARES))), score="balanced"),
    S("fresh12: per-step denoiser, loss averaged", None, noisy_signals, _fixed(denoiser),
      dict(SIGNALS, loss=squared_error("mean"))),
    S("fresh12: Dataset indexing every row", None, friedman_rows, _fixed(regressor), TASKS,
      loader=wrapping_at(None)),
    S("fresh12: LSTM classifier under AdamW with weight_decay 0.01", None, bump_sequences,
      _fixed(lambda: Recurrent("lstm", 2, 3)), dict(LSTM_DECAY, weight_decay=0.01)),
]
