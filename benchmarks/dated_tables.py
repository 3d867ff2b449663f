"""Dated tables nobody tuned for: `descend fit`'s default path (in process) against ridge, LightGBM and CatBoost.

The held-out tables are the time series that ship inside statsmodels, each with the lags a forecaster would add
(the previous values of the target and of the other series), a date column, and the last 20% of the rows as the
test set: their test dates lie beyond the training range, so they test extrapolation. Four "fresh" tables were
added later, before any idea of that pass was tried on them, and have their own geometric mean: ISLP's NYSE
(daily log volume from five days of lags, as the book's chapter 10 forecast), ISLP's Weekly and Smarket (a
trading volume that drifts upward for years, from five lagged returns and two lagged volumes; read as
islp_tables.py reads them, from its ISLP wheel or package) and macro's T-bill rate from the same quarter's other
series (a cousin of the suite's macro table, so a rule tuned to macro shows there too). The suite's own dated
tables (co2, macro) are rows too, but outside the held-out geometric means: nothing is decided on them. With
--suite, all 12 tables of benchmarks/tabular_suite.py run in process as well (its "cli" mode: descend's own split).

descend runs as `descend fit all.csv --target T --seed S` does (the CSV read by descend's reader, default options,
one thread), in this process. The references (those of tabular_suite.py: RidgeCV, LightGBM 300 trees, CatBoost
500 iterations, scikit-learn's MLP; the same rows, the same derived date parts) do not depend on descend's code, so
--cache keeps their scores between runs. Ratio = descend's mean over the seeds / the best mean of ridge (or
logistic regression), LightGBM and CatBoost (the MLP is shown beside).
Run (about 3 min for the dated tables, 15 min with --suite, on 2 busy cores):
    PYTHONPATH=src nice python benchmarks/dated_tables.py [--suite] [--seeds 3] [--cache refs.json] [--json out.json]
        [--compare earlier.json]
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tabular_suite as suite  # noqa: E402  (the references and the suite's tables)

from descend.apps.tabular import Options, fit_table, read_table  # noqa: E402

TEST_SHARE = 0.2


@dataclass
class Dated:
    """A dated table: its loader (a frame with a 'date' column and the target), and which rows are held out."""

    name: str
    load: Callable[[], pd.DataFrame]
    target: str
    held_out: bool = True   # False: one of the suite's own tables, shown but never decided on
    fresh: bool = False     # added at the seventh pass, before any idea was tried on them: their own mean

    @property
    def group(self) -> str:
        return "suite-dated" if not self.held_out else "fresh" if self.fresh else "held-out"


def _data(name: str) -> pd.DataFrame:
    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def with_lags(frame: pd.DataFrame, lags: dict[str, tuple[int, ...]], keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """The date, the kept columns (known at forecast time) and each named column's lags; rows whose lags reach
    before the data are dropped, as a forecaster would."""
    out = frame[["date", *keep]].copy()
    for column, steps in lags.items():
        for step in steps:
            out[f"{column}_lag{step}"] = frame[column].shift(step)
    return out.dropna().reset_index(drop=True)


def _quarters(years, quarters) -> pd.Series:
    period = pd.PeriodIndex.from_fields(year=np.asarray(years, int), quarter=np.asarray(quarters, int), freq="Q")
    return pd.Series(period.to_timestamp().strftime("%Y-%m-%d"))


def _yearly(name: str, year: str, value: str, lags: int) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        data = _data(name)
        frame = pd.DataFrame({"date": [f"{int(y)}-07-01" for y in data[year]], value: data[value].to_numpy()})
        return with_lags(frame, {value: tuple(range(1, lags + 1))}, keep=(value,))
    return load


def _danish(target: str) -> Callable[[], pd.DataFrame]:
    """Danish money demand, quarterly 1974-87: the target from this quarter's other series and last quarter's."""
    def load() -> pd.DataFrame:
        data = _data("danish_data")
        frame = data.reset_index().rename(columns={"period": "date"})
        frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
        others = tuple(c for c in data.columns if c != target)
        return with_lags(frame, {c: (1,) for c in data.columns}, keep=(target, *others))
    return load


def _interest_inflation(target: str) -> Callable[[], pd.DataFrame]:
    """German interest rate and inflation, quarterly 1972-98: the target from both series' last two quarters."""
    def load() -> pd.DataFrame:
        data = _data("interest_inflation")
        frame = data[["Dp", "R"]].assign(date=_quarters(data["year"], data["quarter"]))
        return with_lags(frame, {"R": (1, 2), "Dp": (1, 2)}, keep=(target,))
    return load


def _monthly(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    return with_lags(frame, {value: (1, 2, 12)}, keep=(value,))


def _elnino() -> pd.DataFrame:
    """Pacific sea surface temperature, monthly 1950-2010, from the last two months and the same month last year."""
    data = _data("elnino")
    long = data.melt(id_vars="YEAR", var_name="month", value_name="temperature")
    long["month"] = long["month"].map({m: i + 1 for i, m in enumerate(data.columns[1:])})
    long = long.sort_values(["YEAR", "month"]).reset_index(drop=True)
    long["date"] = [f"{int(y)}-{m:02d}-01" for y, m in zip(long["YEAR"], long["month"])]
    return _monthly(long[["date", "temperature"]], "temperature")


def _elec_equip() -> pd.DataFrame:
    """Euro-area electrical equipment orders, monthly 1995-2016 (a seasonal series with a level that moves)."""
    data = _data("elec_equip")
    frame = pd.DataFrame({"date": data.index.strftime("%Y-%m-%d"), "orders": data.iloc[:, 0].to_numpy()})
    return _monthly(frame, "orders")


def _copper() -> pd.DataFrame:
    """World copper consumption 1951-75 from this year's prices, income and inventories and last year's use."""
    data = _data("copper")
    frame = data.drop(columns="TIME").assign(date=[f"{1950 + int(t)}-07-01" for t in data["TIME"]])
    return with_lags(frame, {"WORLDCONSUMPTION": (1,)}, keep=tuple(data.columns.drop("TIME")))


def _islp(name: str) -> pd.DataFrame:
    from islp_tables import read_islp   # the ISLP wheel's CSVs (see islp_tables.py), imported only when asked
    return read_islp(name)


def _nyse() -> pd.DataFrame:
    """NYSE daily trading volume 1962-86 (ISLP, chapter 10): today's log volume from the day of the week and the
    last five days of returns, log volume and log volatility, as the book's forecast does."""
    data = _islp("NYSE")
    series = ("DJ_return", "log_volume", "log_volatility")
    return with_lags(data, {c: tuple(range(1, 6)) for c in series}, keep=("day_of_week", "log_volume"))


def _market_volume(name: str) -> Callable[[], pd.DataFrame]:
    """ISLP's Weekly (1990-2010) or Smarket (2001-05) S&P 500 returns: the period's volume, which drifts up for
    years, from the last five returns and the last two periods' volume. The files keep the order but only the
    year, so each year's rows get dates spread evenly over that year."""
    def load() -> pd.DataFrame:
        data = _islp(name)
        within = data.groupby("Year").cumcount() / data.groupby("Year")["Year"].transform("size")
        dates = pd.to_datetime(data["Year"].astype(str) + "-01-01") + pd.to_timedelta((within * 364).round(), "D")
        frame = data.assign(date=dates.dt.strftime("%Y-%m-%d"))
        return with_lags(frame, {"Volume": (1, 2)}, keep=("Volume", *(f"Lag{k}" for k in range(1, 6))))
    return load


def _macro_tbill() -> pd.DataFrame:
    """The suite's macro table with another target: this quarter's 3-month T-bill rate from the other series
    (the real interest rate, the T-bill rate less inflation, left out)."""
    return _suite("macro")().drop(columns="realint")


def _suite(name: str) -> Callable[[], pd.DataFrame]:
    return next(t for t in suite.TABLES if t.name == name).load


HELD_OUT = [
    Dated("danish_lrm", _danish("lrm"), "lrm"),
    Dated("danish_lry", _danish("lry"), "lry"),
    Dated("interest_R", _interest_inflation("R"), "R"),
    Dated("inflation_Dp", _interest_inflation("Dp"), "Dp"),
    Dated("sunspots", _yearly("sunspots", "YEAR", "SUNACTIVITY", 3), "SUNACTIVITY"),
    Dated("nile", _yearly("nile", "year", "volume", 3), "volume"),
    Dated("elnino", _elnino, "temperature"),
    Dated("elec_equip", _elec_equip, "orders"),
    Dated("copper", _copper, "WORLDCONSUMPTION"),
    Dated("nyse_volume", _nyse, "log_volume", fresh=True),
    Dated("weekly_volume", _market_volume("Weekly"), "Volume", fresh=True),
    Dated("smarket_volume", _market_volume("Smarket"), "Volume", fresh=True),
    Dated("macro_tbill", _macro_tbill, "tbilrate", fresh=True),
    Dated("co2", _suite("co2"), "co2", held_out=False),
    Dated("macro", _suite("macro"), "unemp", held_out=False),
]


def descend_score(frame: pd.DataFrame, target: str, task: str, seed: int, n_test: int) -> tuple[float, dict]:
    """descend's default fit on the CSV of `frame` (read as the CLI reads it): its test score on the last
    `n_test` rows, and what validation chose (blend, the linear model's penalty and clipping) beside the test score
    of the report's own linear baseline (ridge with alpha 1, or logistic regression, on descend's features)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "all.csv"
        frame.to_csv(path, index=False)
        data = read_table(path, say=lambda line: None)
    run = fit_table(data, Options(target=target, seed=seed, progress=False), say=lambda line: None)
    if run.metrics["test_rows"] != n_test:
        raise RuntimeError(f"descend tested {run.metrics['test_rows']} rows of {target!r}, the references {n_test}")
    metric = "log_loss" if task == "classification" else "rmse"
    model, baseline = (scores[metric] for scores in list(run.metrics["scores"].values())[:2])
    chosen = {k: run.metrics["validation"].get(k) for k in ("blend", "linear_penalty", "linear_clipped")}
    return model, {**chosen, "baseline": baseline}


def reference_scores(frame: pd.DataFrame, target: str, task: str, seed: int, n_test: int) -> dict[str, float]:
    x, categories = suite.reference_features(frame, target)
    y = frame[target].astype(str).to_numpy() if task == "classification" else frame[target].to_numpy(float)
    predicted = suite.references(x.iloc[:-n_test], y[:-n_test], x.iloc[-n_test:], categories, task, seed)
    return {name: suite.score(task, y[-n_test:], p) for name, p in predicted.items()}


def run_table(name: str, frame: pd.DataFrame, target: str, task: str, seeds: range, cache: dict) -> dict:
    """Every contender's scores over the seeds on the table's last 20%; the references from `cache` when there."""
    n_test = min(max(1, int(round(len(frame) * TEST_SHARE))), len(frame) - 1)
    scores, chosen, seconds = [], [], []
    for seed in seeds:
        key = f"{name}/{seed}/{len(frame)}"
        if key not in cache:
            cache[key] = reference_scores(frame, target, task, seed, n_test)
        start = time.process_time()
        score, choice = descend_score(frame, target, task, seed, n_test)
        seconds.append(time.process_time() - start)
        scores.append({**cache[key], "descend": score})
        chosen.append(choice)
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    best = min((k for k in mean if k not in ("descend", "MLP")), key=mean.get)
    return {"table": name, "rows": len(frame), "test_rows": n_test, "means": mean, "best": best,
            "ratio": mean["descend"] / mean[best], "spread": float(np.ptp([s["descend"] for s in scores])),
            "seeds": [s["descend"] for s in scores], "chosen": chosen, "cpu_s": float(np.mean(seconds))}


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def report(rows: list[dict], earlier: dict[str, dict]) -> None:
    print("\n| table | rows (test) | best reference | descend mean (ratio, spread) | was (ratio) | validation chose "
          "(blend, clipped) | descend's own linear baseline | references |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["means"]
        before = earlier.get(r["table"])
        was = f"{before['means']['descend']:.4g} ({before['ratio']:.3f})" if before else "-"
        chose = ", ".join(f"{c['blend']:g}/{'c' if c['linear_clipped'] else 'f'}" for c in r["chosen"])
        refs = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if k != "descend")
        baseline = np.mean([c["baseline"] for c in r["chosen"]]) if "baseline" in r["chosen"][0] else float("nan")
        print(f"| {r['table']} | {r['rows']} ({r['test_rows']}) | {r['best']} {m[r['best']]:.4g} | "
              f"{m['descend']:.4g} ({r['ratio']:.3f}, {r['spread']:.3g}) | {was} | {chose} | {baseline:.4g} | {refs} |")
    for label, group in (("held-out dated", [r for r in rows if r["group"] == "held-out"]),
                         ("fresh dated", [r for r in rows if r["group"] == "fresh"]),
                         ("all held-out and fresh", [r for r in rows if r["group"] in ("held-out", "fresh")]),
                         ("suite's dated", [r for r in rows if r["group"] == "suite-dated"]),
                         ("suite (12)", [r for r in rows if r["group"].startswith("suite")])):
        if group:
            named = [r for r in group if r["table"] in earlier]
            change = (f"; against --compare: {_geomean([r['ratio'] / earlier[r['table']]['ratio'] for r in named]):.3f}"
                      f" on {len(named)}" if named else "")
            print(f"{label}: {len(group)} tables, geometric mean of descend / best reference "
                  f"{_geomean([r['ratio'] for r in group]):.3f}{change}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default=None, help="comma-separated names (default: all dated tables)")
    parser.add_argument("--suite", action="store_true", help="also every table of benchmarks/tabular_suite.py")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--cache", default=None, help="JSON file keeping the references' scores between runs")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    parser.add_argument("--compare", default=None, help="an earlier --json file: show its ratios beside")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache_path = Path(args.cache) if args.cache else None
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.is_file() else {}
    earlier = {r["table"]: r for r in json.loads(Path(args.compare).read_text())} if args.compare else {}
    jobs = [(t.name, t.load, t.target, "regression", t.group) for t in HELD_OUT]
    if args.suite:
        dated = {t.name for t in HELD_OUT}
        jobs += [(t.name, t.load, t.target, t.task, "suite") for t in suite.TABLES if t.name not in dated]
    if args.tables:
        wanted = args.tables.split(",")
        jobs = [job for job in jobs if job[0] in wanted]
    rows = []
    for name, load, target, task, group in jobs:
        frame = load()
        frame = frame[frame[target].notna()].reset_index(drop=True)
        if group == "suite" and not next(t for t in suite.TABLES if t.name == name).ordered:
            frame = frame.sample(frac=1.0, random_state=suite.SPLIT_SEED).reset_index(drop=True)
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        rows.append({**run_table(name, frame, target, task, seeds, cache), "group": group})
        print(json.dumps(rows[-1]), flush=True)
        if cache_path:
            cache_path.write_text(json.dumps(cache, indent=1))
    report(rows, earlier)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
