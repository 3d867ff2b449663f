"""Two generated workloads of kinds the suite otherwise lacks, each from a fixed numpy seed (the trial's seed only
changes the initial weights and the batch order).

heavy_tail_regression: y = f(x) + noise with Student-t noise of 2 degrees of freedom (infinite variance), so
mini-batch gradients of the squared error are heavy-tailed too. f is a fixed random ReLU network (20 -> 32 -> 1)
scaled to unit variance; 4000 rows train, 1000 test. The model is an MLP 20-64-64-1 trained on squared error; it is
scored by the RMSE of its predictions against the noiseless f on the test rows (a constant scores about 1.0).

embeddings_mf: rating prediction by matrix factorization, a model that is all embeddings (all but one of its 17,001
parameters are rows of embedding tables, and a batch of 256 ratings touches at most 256 of the 600 user rows). 600 users and 400 items with
rank-8 true factors; 30000 observed ratings (Gaussian noise 0.5) train, 5000 test. The model: 16-dimensional user
and item embeddings and biases, a dot product. Scored by test RMSE (the noise alone gives 0.5; the global mean
about 1.1).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .workload import Problem, Workload, scored

TAIL_FEATURES, TAIL_TRAIN, TAIL_TEST = 20, 4000, 1000
USERS, ITEMS, RANK, DIM, RATINGS, HELD_OUT, RATING_NOISE = 600, 400, 8, 16, 30_000, 5_000, 0.5


@lru_cache(maxsize=1)
def tail_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X_train, y_train with t(2) noise, X_test, noiseless f(X_test)) as float32 tensors."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(TAIL_TRAIN + TAIL_TEST, TAIL_FEATURES))
    hidden = np.maximum(x @ rng.normal(size=(TAIL_FEATURES, 32)) / np.sqrt(TAIL_FEATURES), 0.0)
    f = hidden @ rng.normal(size=32)
    f = (f - f.mean()) / f.std()
    y = f + rng.standard_t(2.0, size=len(f))
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return (as_tensor(x[:TAIL_TRAIN]), as_tensor(y[:TAIL_TRAIN]), as_tensor(x[TAIL_TRAIN:]),
            as_tensor(f[TAIL_TRAIN:]))


def rmse(output: torch.Tensor, target: torch.Tensor) -> float:
    return float(torch.sqrt(F.mse_loss(output.reshape(-1), target)))


def build_tail(seed: int) -> Problem:
    x_train, y_train, x_test, f_test = tail_data()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(TAIL_FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    return Problem(model, (x_train, y_train), "mse", scored(rmse, x_test, f_test))


@lru_cache(maxsize=1)
def ratings() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pairs_train, ratings_train, pairs_test, ratings_test); a pair is (user, item) as int64."""
    rng = np.random.default_rng(11)
    users, items = rng.normal(size=(USERS, RANK)), rng.normal(size=(ITEMS, RANK))
    pairs = np.stack([rng.integers(0, USERS, RATINGS + HELD_OUT), rng.integers(0, ITEMS, RATINGS + HELD_OUT)], 1)
    clean = (users[pairs[:, 0]] * items[pairs[:, 1]]).sum(1) / np.sqrt(RANK) + 3.0
    noisy = clean + RATING_NOISE * rng.normal(size=len(clean))
    pairs_t, noisy_t = torch.tensor(pairs), torch.tensor(noisy, dtype=torch.float32)
    return pairs_t[:RATINGS], noisy_t[:RATINGS], pairs_t[RATINGS:], noisy_t[RATINGS:]


class Factorization(nn.Module):
    """rating(user, item) = <u, v> + b_u + b_i + global offset."""

    def __init__(self):
        super().__init__()
        self.users, self.items = nn.Embedding(USERS, DIM), nn.Embedding(ITEMS, DIM)
        self.user_bias, self.item_bias = nn.Embedding(USERS, 1), nn.Embedding(ITEMS, 1)
        self.offset = nn.Parameter(torch.zeros(()))
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.1)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        u, i = pairs[:, 0], pairs[:, 1]
        dot = (self.users(u) * self.items(i)).sum(1)
        return dot + self.user_bias(u).squeeze(1) + self.item_bias(i).squeeze(1) + self.offset


def build_mf(seed: int) -> Problem:
    pairs, values, test_pairs, test_values = ratings()
    torch.manual_seed(seed)
    return Problem(Factorization(), (pairs, values), "mse", scored(rmse, test_pairs, test_values))


WORKLOADS = [
    Workload("heavy_tail_regression", "MLP 20-64-64-1, squared error, Student-t(2) label noise; RMSE vs noiseless f",
             build_tail, "test RMSE vs f", 0.45, "min", batch_size=32, steps=1000, quick_steps=300, eval_every=25),
    Workload("embeddings_mf", "matrix factorization (600 users x 400 items, dim 16), test RMSE", build_mf,
             "test RMSE", 0.8, "min", batch_size=256, steps=1000, quick_steps=300, eval_every=25),
]
