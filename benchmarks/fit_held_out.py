"""fit's defaults on models of kinds the repository's workloads lack, built as a user would build them.

Each model trains with `descend.fit(model, train, loss=..., val=...)` and nothing else (no optimizer, lr,
schedule, step count or batch size: fit's defaults are 20 epochs of batch 64), against, on the same data, step
count and batch size:
- an AdamW grid: fit(optimizer="adamw", lr=lr, schedule=cosine) at 9 lrs 1e-4 .. 1 (doctor off, no validation
  data), scored by the best lr's mean held-out score over the seeds, and its seconds summed over the 9 lrs;
- the hand loop a user writes: torch.optim.AdamW at its default lr 1e-3, constant, shuffled batches of 64.
Scores are on test rows neither fit nor the grid saw (lower is better). The data are generated or ship with
scikit-learn and are the same for every seed; the seed draws the initialization and the batch order.
Also listed: every warning and every doctor finding fit's default run gave, to read for wrong or unclear ones.

    PYTHONPATH=src python benchmarks/fit_held_out.py [--models gru,cnn1d] [--seeds 2] [--save rows.json |
        --load rows.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification, make_friedman3, make_s_curve
from torch import nn

import descend as ds

GRID = [float(v) for v in np.logspace(-4, 0, 9)]
EPOCHS, BATCH = 20, 64   # fit's defaults, which the grid and the hand loop are given explicitly


@dataclass
class Case:
    """One held-out model: its data (train, validation, test), the loss a user names to fit, the same loss as a
    torch function for the hand loop, and the held-out score (lower is better): `score_loss` on the test rows,
    the training loss unless given."""

    model: nn.Module
    train: tuple
    val: tuple
    test: tuple
    loss: str | Callable
    torch_loss: Callable
    score_name: str
    score_loss: Callable | None = None

    def score(self) -> float:
        self.model.eval()
        with torch.no_grad():
            value = float((self.score_loss or self.torch_loss)(self.model(self.test[0]), self.test[1]))
        self.model.train()
        return value if math.isfinite(value) else math.inf


def _splits(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, n_train: int, n_val: int, *,
            y_dtype=torch.float32) -> tuple[tuple, tuple, tuple]:
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=y_dtype)
    a, b = n_train, n_train + n_val
    return (x[:a], y[:a]), (x[a:b], y[a:b]), (x[b:], y[b:])


def _standardize(x: np.ndarray, rows: int) -> np.ndarray:
    return (x - x[:rows].mean(0)) / (x[:rows].std(0) + 1e-8)


class LastState(nn.Module):
    """A recurrent classifier: the GRU's last hidden state through a linear layer."""

    def __init__(self, classes: int, hidden: int = 32):
        super().__init__()
        self.rnn, self.head = nn.GRU(1, hidden, batch_first=True), nn.Linear(hidden, classes)

    def forward(self, x):
        _, h = self.rnn(x.unsqueeze(-1))
        return self.head(h[-1])


def gru_periods(seed: int) -> Case:
    """A GRU telling 4 close periods (6, 7, 8, 9 steps) apart in noisy sine sequences of 40 steps."""
    rng = np.random.default_rng(0)
    n = 3000
    label = rng.integers(0, 4, n)
    t = np.arange(40)
    phase, amp = rng.uniform(0, 2 * np.pi, (n, 1)), rng.uniform(0.5, 1.5, (n, 1))
    x = amp * np.sin(2 * np.pi * t / (6 + label[:, None]) + phase) + rng.normal(0, 0.7, (n, 40))
    torch.manual_seed(seed)
    return Case(LastState(4), *_splits(x, label, 1800, 400, y_dtype=torch.long), "cross_entropy", F.cross_entropy,
                "test cross-entropy")


def _waveforms(rng, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    label = rng.integers(0, 4, n)
    cycles = rng.uniform(2, 6, (n, 1)) * np.linspace(0, 1, length) + rng.uniform(0, 1, (n, 1))
    frac = cycles % 1.0
    shapes = np.stack([np.sin(2 * np.pi * cycles), np.sign(np.sin(2 * np.pi * cycles)),
                       4 * np.abs(frac - 0.5) - 1, 2 * frac - 1])
    x = shapes[label, np.arange(n)] + rng.normal(0, 0.8, (n, length))
    return x, label


def cnn1d_waveforms(seed: int) -> Case:
    """A 1-D CNN telling sine, square, triangle and sawtooth waves apart under heavy noise (64 samples each)."""
    x, label = _waveforms(np.random.default_rng(0), 3000, 64)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Unflatten(1, (1, 64)), nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                          nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(32, 4))
    return Case(model, *_splits(x, label, 1800, 400, y_dtype=torch.long), "cross_entropy", F.cross_entropy,
                "test cross-entropy")


def autoencoder_scurve(seed: int) -> Case:
    """An autoencoder (32 -> 3 -> 32) reconstructing an S-curve mapped nonlinearly into 32 noisy dimensions."""
    points, _ = make_s_curve(3000, random_state=0)
    rng = np.random.default_rng(0)
    x = np.tanh(points @ rng.normal(0, 0.8, (3, 32))) + rng.normal(0, 0.05, (3000, 32))
    x = _standardize(x, 1800)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 3), nn.Linear(3, 64), nn.ReLU(),
                          nn.Linear(64, 32))
    return Case(model, *_splits(x, x, 1800, 400), "mse", F.mse_loss, "test reconstruction MSE")


def multi_output(seed: int) -> Case:
    """An MLP predicting 4 nonlinear targets of 12 features at once (one output each)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 12))
    y = np.stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2], x[:, 3] ** 2 - x[:, 4], np.tanh(x[:, 5] + x[:, 6]),
                  x[:, 7] * np.sin(x[:, 8])], axis=1) + rng.normal(0, 0.1, (3000, 4))
    y = _standardize(y, 1800)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    return Case(model, *_splits(x, y, 1800, 400), "mse", F.mse_loss, "test MSE (4 targets)")


class TokenClassifier(nn.Module):
    """A one-layer transformer encoder over token and position embeddings, mean-pooled, then a linear head."""

    def __init__(self, vocab: int, length: int, classes: int, width: int = 32):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, width), nn.Parameter(torch.zeros(length, width))
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(width, 4, 64, batch_first=True), 1)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.encoder(self.tokens(x.long()) + self.positions).mean(1))


def transformer_order(seed: int) -> Case:
    """A small transformer deciding whether token 1 first appears before token 2 in 16 tokens of 12."""
    rng = np.random.default_rng(0)
    x = rng.integers(3, 12, (3000, 16))
    for row in x:
        i, j = rng.choice(16, 2, replace=False)
        row[i], row[j] = 1, 2
    label = (np.argmax(x == 1, axis=1) < np.argmax(x == 2, axis=1)).astype(np.int64)
    torch.manual_seed(seed)
    return Case(TokenClassifier(12, 16, 2), *_splits(x, label, 1800, 400, y_dtype=torch.long), "cross_entropy",
                F.cross_entropy, "test cross-entropy")


def mlp_stack(features: int, width: int, depth: int, after: Callable[[], list]) -> list:
    """`depth` hidden layers of `width` units: each an nn.Linear followed by the modules `after()` makes."""
    layers = []
    for i in range(depth):
        layers += [nn.Linear(features if i == 0 else width, width), *after()]
    return layers


def deep_bn_mlp(seed: int) -> Case:
    """A 6-layer MLP with BatchNorm and dropout on a 5-class make_classification table (30 features)."""
    x, label = make_classification(3000, 30, n_informative=12, n_classes=5, n_clusters_per_class=2, flip_y=0.03,
                                   random_state=0)
    torch.manual_seed(seed)
    model = nn.Sequential(*mlp_stack(30, 128, 6, lambda: [nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.2)]),
                          nn.Linear(128, 5))
    return Case(model, *_splits(_standardize(x, 1800), label, 1800, 400, y_dtype=torch.long), "cross_entropy",
                F.cross_entropy, "test cross-entropy")


def pinball(quantile: float) -> Callable:
    """The quantile (pinball) loss of one quantile: a loss a user writes, given to fit as a callable."""
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        error = target - output.squeeze(-1)
        return torch.maximum(quantile * error, (quantile - 1) * error).mean()
    return loss


def quantile_regression(seed: int) -> Case:
    """An MLP for the 0.9 quantile of a heteroscedastic, heavy-tailed target (a pinball loss written by hand)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (3000, 4))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] + (0.2 + 0.5 * np.abs(x[:, 2])) * rng.standard_t(3, 3000)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    loss = pinball(0.9)
    return Case(model, *_splits(x, y, 1800, 400), loss, loss, "test pinball loss (q 0.9)")


def sparse_logistic(seed: int) -> Case:
    """A logistic model over 2,000 sparse binary features (1% set, 40 of them carry signal): a wide linear model."""
    rng = np.random.default_rng(0)
    x = (rng.random((4000, 2000)) < 0.01).astype(np.float32)
    weights = np.zeros(2000)
    weights[rng.choice(2000, 40, replace=False)] = rng.normal(0, 3, 40)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(x @ weights)))).astype(np.float32)[:, None]
    torch.manual_seed(seed)
    return Case(nn.Linear(2000, 1), *_splits(x, y, 2400, 600), "bce", F.binary_cross_entropy_with_logits,
                "test log-loss")


class LastOutput(nn.Module):
    """An LSTM regressor: the last step's output through a linear layer."""

    def __init__(self, features: int, hidden: int = 32):
        super().__init__()
        self.rnn, self.head = nn.LSTM(features, hidden, batch_first=True), nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1]).squeeze(-1)


def lstm_adding(seed: int) -> Case:
    """The adding problem (Hochreiter & Schmidhuber): an LSTM reads 12 (value, marker) pairs and returns the sum of
    the two marked values; the constant prediction's MSE is 1/6."""
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (3000, 12))
    marks = np.zeros((3000, 12))
    for row in marks:
        row[rng.choice(12, 2, replace=False)] = 1
    x, y = np.stack([values, marks], axis=-1), (values * marks).sum(1)
    torch.manual_seed(seed)
    return Case(LastOutput(2), *_splits(x, y, 1800, 400), "mse", F.mse_loss, "test MSE")


def huber_outliers(seed: int) -> Case:
    """An MLP with the Huber loss on Friedman #3 with 5% gross outliers in the training and validation targets,
    scored by MSE against the clean test targets."""
    x, y = make_friedman3(3000, noise=0.05, random_state=0)
    y = (y - y[:1800].mean()) / y[:1800].std()
    rng = np.random.default_rng(0)
    dirty = y.copy()
    hit = rng.random(2200) < 0.05
    dirty[:2200][hit] += rng.normal(0, 10, hit.sum())
    (train, val, _), (_, _, test) = _splits(_standardize(x, 1800), dirty, 1800, 400), _splits(x, y, 1800, 400)
    test = (_standardize(x, 1800)[2200:], test[1])
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1), nn.Flatten(0))
    return Case(model, train, val, tuple(torch.as_tensor(t, dtype=torch.float32) for t in test), "huber",
                F.huber_loss, "clean test MSE", F.mse_loss)


MODELS = {"gru_periods": gru_periods, "cnn1d_waveforms": cnn1d_waveforms, "autoencoder_scurve": autoencoder_scurve,
          "multi_output": multi_output, "transformer_order": transformer_order, "deep_bn_mlp": deep_bn_mlp,
          "quantile_regression": quantile_regression, "sparse_logistic": sparse_logistic,
          "lstm_adding": lstm_adding, "huber_outliers": huber_outliers}   # the last two added after the edge rule


def steps_of(case: Case) -> int:
    return EPOCHS * math.ceil(len(case.train[0]) / BATCH)


def run_defaults(build, seed: int) -> dict:
    """fit's defaults: the score, seconds, what auto chose, and every warning and doctor finding a user sees."""
    case = build(seed)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    chose = result.choice
    what = "?" if chose is None else chose.optimizer + ("" if chose.lr is None else f" {chose.lr:.2g}")
    sweep = [r for r in result.history if r.get("sweep") and "smoothed" in r]
    return {"score": case.score(), "seconds": seconds, "chose": what, "steps": len(result.history),
            "reason": chose.line() if chose else "", "warnings": sorted({str(w.message) for w in caught}),
            "findings": [str(f) for f in result.findings], "codes": [f"{f.severity} {f.code}" for f in result.findings],
            "lrs": [r["lr"] for r in sweep],
            "smoothed": [r["smoothed"] for r in sweep]}


def run_grid_point(build, seed: int, lr: float) -> tuple[float, float]:
    """(score, seconds) of AdamW at `lr` with a cosine decay, fit's batch size and step count."""
    case = build(seed)
    start = time.perf_counter()
    ds.fit(case.model, case.train, loss=case.loss, optimizer="adamw", lr=lr, schedule=ds.schedules.cosine(),
           max_steps=steps_of(case), batch_size=BATCH, seed=seed, progress=False, doctor=False)
    return case.score(), time.perf_counter() - start


def run_hand_loop(build, seed: int) -> tuple[float, float]:
    """(score, seconds) of the loop a user writes: torch's AdamW at its default lr, shuffled batches, 20 epochs."""
    case = build(seed)
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*case.train), batch_size=BATCH,
                                         shuffle=True, generator=generator)
    opt = torch.optim.AdamW(case.model.parameters())
    start = time.perf_counter()
    case.model.train()
    for _ in range(EPOCHS):
        for x, y in loader:
            opt.zero_grad()
            case.torch_loss(case.model(x), y).backward()
            opt.step()
    return case.score(), time.perf_counter() - start


def measure(build, seeds: range, saved: dict | None = None) -> dict:
    """The grid, fit's defaults and the hand loop on one model; `saved` (a row --save wrote) supplies the grid's
    and the hand loop's runs, so that a change to fit's defaults is measured against the same references."""
    if saved is None:
        grid = np.array([[run_grid_point(build, seed, lr) for seed in seeds] for lr in GRID])   # lr, seed, (score, s)
        hand = np.array([run_hand_loop(build, seed) for seed in seeds]).tolist()
    else:
        grid, hand = np.array(saved["grid_runs"])[:, :len(seeds)], saved["hand"][:len(seeds)]
    means = grid[:, :, 0].mean(axis=1)
    best = int(np.argmin(means))
    auto = [run_defaults(build, seed) for seed in seeds]
    return {"grid": means.tolist(), "grid_runs": grid.tolist(), "best_lr": GRID[best], "best": float(means[best]),
            "grid_seconds": float(grid[:, :, 1].sum()), "auto": auto, "hand": hand}


def report(rows: dict, seeds: range) -> None:
    print(f"fit's defaults (20 epochs of batch 64, validation data given) against an AdamW + cosine grid "
          f"{GRID[0]:g}..{GRID[-1]:g} ({len(GRID)} lrs) and torch's AdamW at lr 1e-3 in a hand loop, same steps; "
          f"held-out scores (lower is better), means over seeds {list(seeds)}")
    print("| model | score | grid's best (lr) | fit defaults | / grid best | / hand loop | fit s / grid s | "
          "fit s / hand s | auto chose (per seed) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        auto = np.mean([a["score"] for a in r["auto"]])
        hand = np.mean([h[0] for h in r["hand"]])
        auto_s, hand_s = sum(a["seconds"] for a in r["auto"]), sum(h[1] for h in r["hand"])
        grid_s = r["grid_seconds"] / len(GRID)   # per grid point, as many seeds as fit's
        print(f"| {name} | {r['score_name']} | {r['best']:.4g} ({r['best_lr']:.0e}) | {auto:.4g} | "
              f"{auto / r['best']:.3f} | {auto / hand:.3f} | {auto_s / (grid_s * len(GRID)):.3f} | "
              f"{auto_s / hand_s:.2f} | {', '.join(a['chose'] for a in r['auto'])} |")
    print("\nmean held-out score per grid lr:")
    print("| model | " + " | ".join(f"{lr:.0e}" for lr in GRID) + " | hand loop |")
    print("|---|" + "---|" * (len(GRID) + 1))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in r["grid"]) +
              f" | {np.mean([h[0] for h in r['hand']]):.4g} |")
    within = [n for n, r in rows.items() if np.mean([a["score"] for a in r["auto"]]) <= 1.05 * r["best"]]
    beats = [n for n, r in rows.items() if np.mean([a["score"] for a in r["auto"]]) <= np.mean(
        [h[0] for h in r["hand"]])]
    print(f"\nwithin 5% of the grid's best: {len(within)} of {len(rows)}; at least as good as the hand loop: "
          f"{len(beats)} of {len(rows)}")
    print("\nwhat a user sees (fit's defaults), per model and seed:")
    for name, r in rows.items():
        for seed, a in zip(seeds, r["auto"]):
            print(f"- {name} seed {seed}: {a['reason']}")
            for text in a["warnings"]:
                print(f"    warning: {text}")
            for text in a["findings"]:
                print(f"    finding: {text}")


def run_list(doc: str, items: dict, noun: str, seeds: int, load_help: str, measure: Callable, report: Callable,
             annotate: Callable = lambda name: {}) -> None:
    """The command line of a list of held-out runs (this file's, raw_targets.py's): which `items` to run, over how
    many seeds, reusing the runs a --save wrote; `annotate(name)` adds fields to a row before `report` prints."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument(f"--{noun}", help="comma-separated names' starts (default: all)")
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--save", help="write every run's numbers to this JSON file")
    parser.add_argument("--load", help=load_help)
    args = parser.parse_args()
    saved = json.loads(Path(args.load).read_text()) if args.load else {}
    torch.set_num_threads(1)
    chosen = getattr(args, noun)
    wanted = [n for n in items if not chosen or any(n.startswith(m) for m in chosen.split(","))]
    rows = {}
    for name in wanted:
        rows[name] = measure(items[name], range(args.seeds), saved.get(name)) | annotate(name)
        print(f"measured {name}", file=sys.stderr, flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(rows))
    report(rows, range(args.seeds))


def main(models: dict = MODELS, doc: str = __doc__, seeds: int = 2, measure: Callable = measure,
         report: Callable = report) -> None:
    """The command line of a held-out list of models (this file's, fit_held_out2.py's); a list may measure and
    report more than this file does (fit_held_out5.py reruns the grid's best with the doctor on)."""
    run_list(doc, models, "models", seeds, "take the grid's and the hand loop's runs from a file --save wrote and run "
             "only what uses fit's defaults (to measure a change to them)", measure, report,
             lambda name: {"score_name": models[name](0).score_name})


if __name__ == "__main__":
    main()
