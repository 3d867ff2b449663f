"""Bikeshare demand MLP: predict hourly rentals (bikers) of Capital Bikeshare 2011 from calendar and weather.

Data: Fanaee-T & Gama (2013), UCI "Bike Sharing Dataset" (CC BY 4.0), the hourly 2011 subset of ISLR's Bikeshare.
Read from the copy bundled in the package (descend/data/bikeshare.csv.gz) when present, else from the first
shared/datasets/bikeshare.csv next to or above the repository. Split by time: first 80% of rows train, last 20%
test; hr, mnth, season, weekday, weathersit one-hot, the other columns standardized; casual and registered left
out (they sum to the target). The model trains on the standardized target; the target is test RMSE <= 60 rentals
(the training mean scores 120.1, closed-form ridge 92.2, LightGBM 56.8; this MLP overfits the time split
after its best point, so the target asks for the best point to be found early).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ...core import metrics
from ...core.errors import DescendError
from .workload import Problem, Workload, scored

CATEGORICAL = ["hr", "mnth", "season", "weekday", "weathersit"]
NUMERIC = ["day", "holiday", "workingday", "temp", "atemp", "hum", "windspeed"]
TARGET = "bikers"


def locate() -> Path:
    """The bundled gzip copy if the package has one, else the shared data set found above the repository."""
    here = Path(__file__).resolve()
    bundled = here.parents[2] / "data" / "bikeshare.csv.gz"
    if bundled.exists():
        return bundled
    for folder in here.parents[4:]:
        candidate = folder / "shared" / "datasets" / "bikeshare.csv"
        if candidate.exists():
            return candidate
    raise DescendError("the bikeshare workload needs descend/data/bikeshare.csv.gz (bundled with the package) or "
                       "shared/datasets/bikeshare.csv next to the repository; neither was found. "
                       "Leave it out with --workloads")


@lru_cache(maxsize=1)
def split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(X_train, y_train standardized, X_test, y_test in rentals, std of y_train) as float32 tensors."""
    frame = pd.read_csv(locate())
    features = pd.get_dummies(frame[CATEGORICAL].astype(str), dtype=float).join(frame[NUMERIC].astype(float))
    cut = int(0.8 * len(frame))
    train, test = features.iloc[:cut], features.iloc[cut:]
    mean, std = train[NUMERIC].mean(), train[NUMERIC].std().replace(0, 1)
    train, test = train.copy(), test.copy()
    train[NUMERIC], test[NUMERIC] = (train[NUMERIC] - mean) / std, (test[NUMERIC] - mean) / std
    y = frame[TARGET].to_numpy(dtype=float)
    y_mean, y_std = y[:cut].mean(), y[:cut].std()
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return (as_tensor(train.to_numpy()), as_tensor((y[:cut] - y_mean) / y_std), as_tensor(test.to_numpy()),
            as_tensor(y[cut:] - y_mean), float(y_std))


def build(seed: int) -> Problem:
    x_train, y_train, x_test, y_test, y_std = split()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x_train.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    rentals_rmse = lambda output, y: metrics.rmse(output * y_std, y)  # noqa: E731  (the model predicts in stds)
    return Problem(model, (x_train, y_train), "mse", scored(rentals_rmse, x_test, y_test))


WORKLOAD = Workload(
    name="bikeshare_mlp", summary="MLP 64-64 on Bikeshare hourly demand, time split 80/20, test RMSE",
    build=build, metric_name="test RMSE", target=60.0, mode="min", batch_size=128, steps=600, quick_steps=300,
    eval_every=27)
