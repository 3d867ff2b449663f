"""Public tables that ship inside packages: `descend fit` with no flags against ridge/logistic regression,
LightGBM, CatBoost and scikit-learn's MLP on the same rows, over 3 seeds, in two modes.

- "cli": `descend fit all.csv --target T --seed S` as a new user runs it; descend keeps the last 20% of the rows as
  its test set, and the references are fitted on the first 80% (the rows descend trains and validates on).
- "file": the user's own 80% / 20% files; `descend fit train.csv --test-fraction 0`, then `descend predict` on
  test.csv. The references are fitted on the same train.csv.

Tables with a natural order (Bikeshare, CO2, macro data) keep it, so their test rows are the future; the others are
shuffled once (the same split for every seed and every contender), so the seeds vary only the models (descend's
--seed, the references' random_state) and the spread over seeds is the models' own. Nothing is downloaded: the data come from
scikit-learn, statsmodels and descend itself. References (stated, fixed): RidgeCV / LogisticRegression (C=1),
LightGBM (300 trees, lr 0.05), CatBoost (500 iterations, its default depth and lr), MLPRegressor/MLPClassifier
(64,64, early stopping); every reference sees the same derived date parts descend derives (year, day of year,
month, weekday). All run on one thread. Run (about 15 min on 2 busy cores):
    PYTHONPATH=src nice python benchmarks/tabular_suite.py [--tables diabetes,wine] [--modes cli,file] [--seeds 3]
        [--cache refs.json]   (keeps the references' scores between runs: only descend's change)
        [--reference-seeds 1] (the references on seed 0 only, where their cost would crowd out descend's seeds)
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

warnings.filterwarnings("ignore")
SPLIT_SEED = 0
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Table:
    """A bundled table: how to load it, what to predict, and whether its row order is time."""

    name: str
    load: Callable[[], pd.DataFrame]
    target: str
    task: str            # "regression" (counts included) or "classification"
    ordered: bool = False


def _bikeshare() -> pd.DataFrame:
    with gzip.open(resources.files("descend") / "data" / "bikeshare.csv.gz", "rt") as handle:
        return pd.read_csv(handle).drop(columns=["casual", "registered"])


def _sklearn(loader: str, target: str, labels: bool = False) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets as datasets
        bunch = getattr(datasets, loader)(as_frame=True)
        frame = bunch.frame.rename(columns={"target": target})
        if labels:
            frame[target] = [str(bunch.target_names[i]) for i in frame[target]]
        return frame
    return load


def _statsmodels(name: str) -> pd.DataFrame:
    import importlib
    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def _randhie() -> pd.DataFrame:   # 20,190 visits; the first 10,000 rows make the speed table
    return _statsmodels("randhie").iloc[:10_000].reset_index(drop=True)


def _fair() -> pd.DataFrame:
    frame = _statsmodels("fair")
    for name in ("occupation", "occupation_husb"):
        frame[name] = frame[name].map(lambda v: f"job{int(v)}")
    return frame


def _anes96() -> pd.DataFrame:
    frame = _statsmodels("anes96").drop(columns=["logpopul"])
    frame["vote"] = frame["vote"].map({0.0: "Clinton", 1.0: "Dole"})
    return frame


def _grunfeld() -> pd.DataFrame:
    return _statsmodels("grunfeld")


def _star98() -> pd.DataFrame:
    frame = _statsmodels("star98")
    frame["share_above"] = frame["NABOVE"] / (frame["NABOVE"] + frame["NBELOW"])
    return frame.drop(columns=["NABOVE", "NBELOW"])


def _co2() -> pd.DataFrame:   # weekly Mauna Loa CO2, 1958-2001; weeks without a reading have an empty target
    data = _statsmodels("co2")
    return pd.DataFrame({"week": data.index.strftime("%Y-%m-%d"), "co2": data["co2"].to_numpy()})


def _macro() -> pd.DataFrame:   # US quarterly macro data 1959-2009: this quarter's unemployment from the rest
    frame = _statsmodels("macrodata")
    quarter = pd.PeriodIndex.from_fields(year=frame["year"].astype(int), quarter=frame["quarter"].astype(int),
                                         freq="Q")
    return frame.drop(columns=["year", "quarter"]).assign(date=quarter.to_timestamp().strftime("%Y-%m-%d"))


def _fertility() -> pd.DataFrame:   # births per woman by country; many empty cells (countries without records)
    frame = _statsmodels("fertility")
    years = [str(y) for y in range(1960, 2006, 5)]
    out = frame[["Country Name"] + years].rename(columns={"Country Name": "country"})
    out = out.rename(columns={y: f"y{y}" for y in years})
    out["y2010"] = frame["2010"]
    return out


TABLES = [
    Table("bikeshare", _bikeshare, "bikers", "regression", ordered=True),
    Table("randhie10k", _randhie, "mdvis", "regression"),
    Table("fair", _fair, "affairs", "regression"),
    Table("co2", _co2, "co2", "regression", ordered=True),
    Table("anes96", _anes96, "vote", "classification"),
    Table("breast_cancer", _sklearn("load_breast_cancer", "diagnosis", labels=True), "diagnosis", "classification"),
    Table("diabetes", _sklearn("load_diabetes", "progression"), "progression", "regression"),
    Table("star98", _star98, "share_above", "regression"),
    Table("grunfeld", _grunfeld, "invest", "regression"),
    Table("fertility", _fertility, "y2010", "regression"),
    Table("macro", _macro, "unemp", "regression", ordered=True),
    Table("wine", _sklearn("load_wine", "cultivar", labels=True), "cultivar", "classification"),
]


# ---------------------------------------------------------------- references
def _date_parts(values: pd.Series) -> pd.DataFrame | None:
    """Year (with its fraction), day of year, month and weekday of a column of dates; None if it holds none."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return None
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    if dates.notna().mean() < 0.9:
        return None
    name = values.name
    return pd.DataFrame({f"{name}_year": dates.dt.year + dates.dt.day_of_year / 366, f"{name}_doy": dates.dt.day_of_year,
                         f"{name}_month": dates.dt.month, f"{name}_weekday": dates.dt.day_of_week})


def reference_features(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, list[str]]:
    """Numbers as numbers (gaps kept), dates as their parts, text as categories; identifiers (text unique per row)
    dropped, as descend drops them."""
    parts, categories = [], []
    for name in frame.columns.drop(target):
        values = frame[name]
        dates = _date_parts(values)
        if dates is not None:
            parts.append(dates)
        elif pd.api.types.is_numeric_dtype(values):
            parts.append(values.astype(float).to_frame())
        elif values.nunique() < 0.5 * len(values):
            parts.append(values.astype(str).astype("category").to_frame())
            categories.append(name)
    return pd.concat(parts, axis=1), categories


def _dense(x_train: pd.DataFrame, x_test: pd.DataFrame, categories: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One-hot categories, median-filled and standardized numbers with a was-missing column: for ridge and MLP."""
    both = pd.get_dummies(pd.concat([x_train, x_test]), columns=categories, dtype=float)
    numeric = [c for c in x_train.columns if c not in categories]
    for name in numeric:
        if both[name].isna().any():
            both[f"{name}_missing"] = both[name].isna().astype(float)
    train, test = both.iloc[:len(x_train)].copy(), both.iloc[len(x_train):].copy()
    median = train[numeric].median()
    train[numeric], test[numeric] = train[numeric].fillna(median), test[numeric].fillna(median)
    mean, std = train[numeric].mean(), train[numeric].std(ddof=0).replace(0, 1)
    train[numeric], test[numeric] = (train[numeric] - mean) / std, (test[numeric] - mean) / std
    return train.to_numpy(float), test.to_numpy(float)


def _level_text(values: pd.Series) -> pd.Series:
    """A category column as CatBoost takes it: text, an empty cell as a level of its own."""
    return values.astype(object).where(values.notna(), "(empty)").astype(str)


def references(x_train: pd.DataFrame, y_train: np.ndarray, x_test: pd.DataFrame, categories: list[str], task: str,
               seed: int) -> dict[str, np.ndarray]:
    """Each reference's test predictions: values, or class probabilities (columns in sorted label order)."""
    from catboost import CatBoostClassifier, CatBoostRegressor
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    dense_train, dense_test = _dense(x_train, x_test, categories)
    cat_train = x_train.copy()
    cat_test = x_test.copy()
    for name in categories:
        cat_train[name], cat_test[name] = _level_text(cat_train[name]), _level_text(cat_test[name])
    classes = task == "classification"
    gbm = dict(n_estimators=300, learning_rate=0.05, verbose=-1, random_state=seed, n_jobs=1)
    cat = dict(iterations=500, random_seed=seed, verbose=False, thread_count=1, cat_features=categories,
               allow_writing_files=False)   # no catboost_info folder left in the working tree
    lgb_train, lgb_test = x_train.copy(), x_test.copy()
    for name in categories:
        levels = lgb_train[name].cat.categories.union(lgb_test[name].cat.categories)
        lgb_train[name] = lgb_train[name].cat.set_categories(levels)
        lgb_test[name] = lgb_test[name].cat.set_categories(levels)
    if classes:
        models = {"logistic": (LogisticRegression(C=1.0, max_iter=2000), "dense"),
                  "LightGBM": (LGBMClassifier(**gbm), "lgb"), "CatBoost": (CatBoostClassifier(**cat), "cat"),
                  "MLP": (MLPClassifier(hidden_layer_sizes=(64, 64), early_stopping=True, random_state=seed, max_iter=500), "dense")}
    else:
        models = {"ridge": (RidgeCV(alphas=np.logspace(-3, 3, 13)), "dense"),
                  "LightGBM": (LGBMRegressor(**gbm), "lgb"), "CatBoost": (CatBoostRegressor(**cat), "cat"),
                  "MLP": (MLPRegressor(hidden_layer_sizes=(64, 64), early_stopping=True, random_state=seed, max_iter=500), "dense")}
    inputs = {"dense": (dense_train, dense_test), "lgb": (lgb_train, lgb_test), "cat": (cat_train, cat_test)}
    out = {}
    for name, (model, kind) in models.items():
        train, test = inputs[kind]
        model.fit(train, y_train)
        out[name] = model.predict_proba(test) if classes else model.predict(test)
    return out


# ---------------------------------------------------------------- descend through its CLI
def descend(*args: str) -> float:
    """Run `descend ARGS` on one thread; the CPU seconds it took (the whole command, start-up included; CPU time,
    not wall time, because these machines are shared and a busy neighbour would otherwise count)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "descend.cli", *args], env=ONE_THREAD, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"descend {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def score(task: str, truth: np.ndarray, predicted: np.ndarray, labels: list | None = None) -> float:
    """RMSE, or log-loss for class probabilities (columns in sorted order of `labels`, default the test rows'
    labels; a model fitted on training rows holding a class the test rows lack has a column for it too)."""
    if task == "classification":
        return float(log_loss(truth, np.clip(predicted, 1e-7, 1), labels=labels or sorted(set(truth))))
    return float(np.sqrt(np.mean((np.asarray(predicted, float) - truth) ** 2)))


def descend_cli(folder: Path, table: Table, seed: int, truth: np.ndarray) -> tuple[float, float]:
    """Mode "cli": descend's own split; its test score from metrics.json (checked to be the same test rows), or,
    when descend read a numeric target as classes (no RMSE there), the RMSE of what `descend predict` writes for
    those rows, the numbers a user would get."""
    secs = descend("fit", str(folder / "all.csv"), "--target", table.target, "--seed", str(seed),
                   "--out", str(folder / "cli"))
    metrics = json.loads((folder / "cli" / "metrics.json").read_text())
    if metrics["test_rows"] != len(truth):
        raise RuntimeError(f"{table.name}: descend tested {metrics['test_rows']} rows, the references {len(truth)}")
    first = next(iter(metrics["scores"].values()))
    key = "log_loss" if table.task == "classification" else "rmse"
    return (first[key] if key in first else predicted_score(folder / "cli", folder, table, truth)), secs


def descend_file(folder: Path, table: Table, seed: int, truth: np.ndarray) -> tuple[float, float]:
    """Mode "file": fit on train.csv with no test set of its own, predict test.csv."""
    secs = descend("fit", str(folder / "train.csv"), "--target", table.target, "--seed", str(seed),
                   "--test-fraction", "0", "--out", str(folder / "file"))
    return predicted_score(folder / "file", folder, table, truth), secs


def predicted_score(run: Path, folder: Path, table: Table, truth: np.ndarray) -> float:
    """`descend predict` with the run on test.csv, scored: class probabilities, or the prediction column."""
    descend("predict", str(run), str(folder / "test.csv"), "--out", str(folder / "pred.csv"))
    predicted = pd.read_csv(folder / "pred.csv")
    if table.task == "classification":
        labels = sorted(set(truth))
        return score(table.task, truth, predicted[[f"p_{label}" for label in labels]].to_numpy())
    return score(table.task, truth, predicted["prediction"].to_numpy())


def one_seed(table: Table, frame: pd.DataFrame, seed: int, modes: list[str], cache: dict | None = None,
             reference_seeds: int = 1000) -> dict[str, tuple[float, float]]:
    """Every contender's test score (and descend's seconds) on this seed's split; the references' scores from
    `cache` when it holds them (kept there otherwise), since only descend changes between runs; with
    `reference_seeds` below the seeds, seed s reuses the references of seed s % reference_seeds."""
    if not table.ordered:   # one random split per table: the seeds vary the models, as in a user's reruns
        frame = frame.sample(frac=1.0, random_state=SPLIT_SEED).reset_index(drop=True)
    n_test = min(max(1, int(round(len(frame) * 0.2))), len(frame) - 1)
    train, test = frame.iloc[:-n_test], frame.iloc[-n_test:]
    truth = test[table.target].astype(str).to_numpy() if table.task == "classification" \
        else test[table.target].to_numpy(float)
    x, categories = reference_features(frame, table.target)
    y_train = train[table.target].astype(str).to_numpy() if table.task == "classification" \
        else train[table.target].to_numpy(float)
    key = f"{table.name}/{len(frame)}/{seed % reference_seeds}"
    if cache is None or key not in cache:
        labels = sorted(set(y_train)) if table.task == "classification" else None
        scores = {name: score(table.task, truth, pred, labels) for name, pred in
                  references(x.iloc[:-n_test], y_train, x.iloc[-n_test:], categories, table.task, seed).items()}
        cache = {} if cache is None else cache
        cache[key] = scores
    out = {name: (value, 0.0) for name, value in cache[key].items()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame.to_csv(folder / "all.csv", index=False)
        train.to_csv(folder / "train.csv", index=False)
        test.drop(columns=[table.target]).to_csv(folder / "test.csv", index=False)
        if "cli" in modes:
            out["descend cli"] = descend_cli(folder, table, seed, truth)
        if "file" in modes:
            out["descend file"] = descend_file(folder, table, seed, truth)
    return out


def summarize(table: Table, frame: pd.DataFrame, runs: list[dict]) -> dict:
    """Means, spreads (max - min over seeds) and descend's ratio to the best reference, per mode."""
    names = list(runs[0])
    mean = {n: float(np.mean([r[n][0] for r in runs])) for n in names}
    spread = {n: float(np.ptp([r[n][0] for r in runs])) for n in names}
    refs = [n for n in names if not n.startswith("descend")]
    best = min(refs, key=mean.get)
    row = {"table": table.name, "rows": len(frame), "task": table.task, "best": best, "best_mean": mean[best],
           "ref_means": {n: mean[n] for n in refs}}
    for mode in ("cli", "file"):
        name = f"descend {mode}"
        if name in mean:
            row[mode] = {"mean": mean[name], "ratio": mean[name] / mean[best], "spread": spread[name],
                         "worst": max(r[name][0] for r in runs),
                         "seconds": float(np.mean([r[name][1] for r in runs]))}
    return row


def report(rows: list[dict]) -> None:
    print("\n| table | rows | score | best reference (mean) | descend cli mean (ratio, spread, CPU s) | "
          "descend file mean (ratio, spread, CPU s) | all references |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cells = []
        for mode in ("cli", "file"):
            m = r.get(mode)
            cells.append(f"{m['mean']:.4g} ({m['ratio']:.3f}, {m['spread']:.3g}, {m['seconds']:.1f})" if m else "-")
        refs = ", ".join(f"{n} {v:.4g}" for n, v in r["ref_means"].items())
        metric = "log-loss" if r["task"] == "classification" else "RMSE"
        print(f"| {r['table']} | {r['rows']} | {metric} | {r['best']} {r['best_mean']:.4g} | {cells[0]} | {cells[1]} | "
              f"{refs} |")
    for mode in ("cli", "file"):
        ratios = [r[mode]["ratio"] for r in rows if mode in r]
        if ratios:
            print(f"{mode}: geometric mean of descend / best reference = {np.exp(np.mean(np.log(ratios))):.3f}; "
                  f"worst table ratio {max(ratios):.3f}; tables within 2%: {sum(x <= 1.02 for x in ratios)}/"
                  f"{len(ratios)}")


def main(tables: list[Table] = TABLES, description: str = __doc__, argv: list[str] | None = None) -> None:
    """Run the contenders on `tables` (all of them, or those --tables names) and print the table of results;
    `argv` are the options (the command line's when None)."""
    parser = argparse.ArgumentParser(description=description.split("\n")[0])
    parser.add_argument("--tables", default=",".join(t.name for t in tables))
    parser.add_argument("--modes", default="cli,file")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the summary rows to this JSON file")
    parser.add_argument("--cache", default=None, help="JSON file keeping the references' scores between runs")
    parser.add_argument("--reference-seeds", type=int, default=None,
                        help="fit the references on this many seeds only (default: --seeds); later seeds reuse them")
    args = parser.parse_args(argv)
    wanted, modes = args.tables.split(","), args.modes.split(",")
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    rows = []
    for table in [next(t for t in tables if t.name == name) for name in wanted]:
        frame = table.load()
        frame = frame[frame[table.target].notna()].reset_index(drop=True)
        runs = [one_seed(table, frame, seed, modes, cache, args.reference_seeds or args.seeds)
                for seed in range(args.seeds)]
        rows.append(summarize(table, frame, runs))
        print(json.dumps(rows[-1]), flush=True)
        if cache_path:
            cache_path.write_text(json.dumps(cache, indent=1))
    report(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
