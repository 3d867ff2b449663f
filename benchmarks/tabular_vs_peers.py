"""Bikeshare, time split: test RMSE of `descend fit` defaults against what users would pick instead.

Peers see the reference features from datasets/README.md (hr, mnth, season, weekday, weathersit one-hot; the
rest standardized); descend sees the raw table and infers its own. Everyone trains on the first 80% of rows
and is scored once on the last 20%. Run: PYTHONPATH=src python benchmarks/tabular_vs_peers.py
"""
from __future__ import annotations

import gzip
import time
from importlib import resources

import numpy as np
import pandas as pd
import torch

from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.baselines import ridge

CATEGORICAL = ["hr", "mnth", "season", "weekday", "weathersit"]
REFERENCE = {"ridge": 92.2, "MLPRegressor": 83.1, "LightGBM": 56.8}   # datasets/README.md figures


def load() -> pd.DataFrame:
    with gzip.open(resources.files("descend") / "data" / "bikeshare.csv.gz", "rt") as handle:
        return pd.read_csv(handle)


def reference_features(frame: pd.DataFrame, cut: int) -> tuple[np.ndarray, np.ndarray]:
    x = pd.get_dummies(frame.drop(columns=["casual", "registered", "bikers"]).astype({c: str for c in CATEGORICAL}),
                       columns=CATEGORICAL, dtype=float)
    numeric = [c for c in x.columns if not any(c.startswith(f"{k}_") for k in CATEGORICAL)]
    mean, std = x[numeric][:cut].mean(), x[numeric][:cut].std(ddof=0)
    x[numeric] = (x[numeric] - mean) / std
    values = x.to_numpy().copy()
    return values[:cut], values[cut:]


def rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - y) ** 2)))


def peers(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    from lightgbm import LGBMRegressor
    from sklearn.neural_network import MLPRegressor
    out = {}
    start = time.perf_counter()
    w, b = ridge(torch.as_tensor(x_train), torch.as_tensor(y_train.copy(), dtype=torch.float64), alpha=1.0)
    out["ridge"] = ((torch.as_tensor(x_test) @ w + b).numpy(), time.perf_counter() - start)
    start = time.perf_counter()
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), early_stopping=True, random_state=0, max_iter=500).fit(x_train, y_train)
    out["MLPRegressor"] = (mlp.predict(x_test), time.perf_counter() - start)
    start = time.perf_counter()
    gbm = LGBMRegressor(n_estimators=500, learning_rate=0.05, verbose=-1, random_state=0).fit(x_train, y_train)
    out["LightGBM"] = (gbm.predict(x_test), time.perf_counter() - start)
    return out


def main() -> None:
    frame = load()
    cut = int(round(0.8 * len(frame)))
    y_train, y_test = frame["bikers"].to_numpy()[:cut], frame["bikers"].to_numpy()[cut:]
    x_train, x_test = reference_features(frame, cut)
    results = {name: (rmse(pred, y_test), secs) for name, (pred, secs) in peers(x_train, y_train, x_test).items()}
    for seed in (0, 1, 2):
        start = time.perf_counter()
        run = fit_table(frame, Options(target="bikers", drop=("casual", "registered"), seed=seed, progress=False),
                        say=lambda line: None)
        results[f"descend fit (seed {seed})"] = (next(iter(run.metrics["scores"].values()))["rmse"],
                                                 time.perf_counter() - start)
    print(f"Bikeshare, time split: train {cut} rows, test {len(frame) - cut} rows (last 20%), target bikers")
    print(f"{'model':<26}{'test RMSE':>10}{'seconds':>9}{'README ref':>12}")
    for name, (score, secs) in results.items():
        ref = REFERENCE.get(name)
        print(f"{name:<26}{score:>10.1f}{secs:>9.1f}{(f'{ref:.1f}' if ref else ''):>12}")
    ours = np.mean([s for n, (s, _) in results.items() if n.startswith("descend")])
    for peer in REFERENCE:
        print(f"descend mean RMSE / {peer}: {ours / results[peer][0]:.2f}")


if __name__ == "__main__":
    main()
