"""descend.sklearn's Regressor/Classifier against scikit-learn's MLPRegressor/MLPClassifier, both at their defaults,
as a scikit-learn user swaps one for the other: Pipeline(SimpleImputer, StandardScaler, model) on the bundled
tables of benchmarks/tabular_suite.py (categories one-hot encoded, date columns left out), the same 80% / 20% split
for both (the last 20% for tables in time order), over seeds (descend's seed, scikit-learn's random_state).
Prints test RMSE (regression) or accuracy and log-loss (classification), fit seconds, and descend's ratios to the
MLP. Both on one thread. Run:
    PYTHONPATH=src:. nice python benchmarks/sklearn_vs_mlp.py [--tables diabetes,wine] [--seeds 2]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from benchmarks.tabular_suite import TABLES  # noqa: E402
from descend.sklearn import Classifier, Regressor  # noqa: E402

warnings.filterwarnings("ignore")
DEFAULT_TABLES = ("diabetes", "fair", "star98", "grunfeld", "randhie10k", "bikeshare", "anes96", "breast_cancer",
                  "wine")


def features(frame: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as they are, text columns one-hot (dates, which a numeric model cannot read, left out)."""
    frame = frame[frame[target].notna()]
    x = frame.drop(columns=[target])
    dates = [c for c in x.columns if x[c].dtype == object and pd.to_datetime(x[c], errors="coerce").notna().mean() > .9]
    x = pd.get_dummies(x.drop(columns=dates), dtype=float)
    return x.to_numpy(dtype=float), frame[target].to_numpy()


def split(n: int, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    order = np.arange(n) if ordered else np.random.default_rng(0).permutation(n)
    cut = int(n * 0.8)
    return order[:cut], order[cut:]


def score(task: str, model, x: np.ndarray, y: np.ndarray) -> dict:
    if task == "regression":
        return {"rmse": float(np.sqrt(mean_squared_error(y, model.predict(x))))}
    proba = model.predict_proba(x)
    return {"accuracy": accuracy_score(y, model.predict(x)), "log_loss": log_loss(y, proba, labels=model.classes_)}


def contenders(task: str, seed: int) -> dict:
    if task == "regression":
        return {"descend": Regressor(seed=seed), "sklearn MLP": MLPRegressor(random_state=seed)}
    return {"descend": Classifier(seed=seed), "sklearn MLP": MLPClassifier(random_state=seed)}


def run(tables: list[str], seeds: int) -> pd.DataFrame:
    rows = []
    for table in [t for t in TABLES if t.name in tables]:
        x, y = features(table.load(), table.target)
        train, test = split(len(y), table.ordered)
        for seed in range(seeds):
            for name, model in contenders(table.task, seed).items():
                pipeline = make_pipeline(SimpleImputer(), StandardScaler(), model)
                start = time.perf_counter()
                pipeline.fit(x[train], y[train])
                seconds = time.perf_counter() - start
                rows.append({"table": table.name, "seed": seed, "model": name, "seconds": seconds,
                             **score(table.task, pipeline, x[test], y[test])})
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def ratios(results: pd.DataFrame) -> pd.DataFrame:
    """Per table, the mean over seeds of each measure, and descend's value divided by the MLP's."""
    means = results.groupby(["table", "model"]).mean(numeric_only=True).drop(columns="seed")
    out = []
    for table, group in means.groupby(level=0):
        ours, theirs = group.loc[(table, "descend")], group.loc[(table, "sklearn MLP")]
        row = {"table": table}
        for measure in [m for m in ("rmse", "accuracy", "log_loss", "seconds") if m in group and ours[m] == ours[m]]:
            row[f"{measure} descend"], row[f"{measure} MLP"] = ours[measure], theirs[measure]
            row[f"{measure} ratio"] = ours[measure] / theirs[measure]
        out.append(row)
    return pd.DataFrame(out).set_index("table")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DEFAULT_TABLES))
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = ratios(run(args.tables.split(","), args.seeds))
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(table)
    for measure, better in (("rmse", "lower"), ("accuracy", "higher"), ("log_loss", "lower"), ("seconds", "lower")):
        column = f"{measure} ratio"
        if column in table:
            values = table[column].dropna()
            print(f"{measure}: geometric mean ratio descend/MLP {np.exp(np.log(values).mean()):.3f} over "
                  f"{len(values)} tables ({better} is better)")


if __name__ == "__main__":
    main()
