"""The whole `descend fit` command on a 10,000-row table (issue #15's bar: at most 5 s on one thread) beside
what a user would run instead: a LightGBM script (read the CSV, fit 300 trees at lr 0.05, predict the test rows,
write them), on the same rows, the same core and one thread, alternating so that both see the same load. Any
table of the suite or of its held-out list can be timed (small ones train on K folds and try two lrs; digits has
64 columns and 10 classes); classes are scored by test log-loss, numbers by test RMSE.

Each command runs in a fresh process pinned to one core (OMP/MKL at one thread, LightGBM's n_jobs=1); its CPU
seconds (user + system, start-up included) and wall seconds are measured from outside. Python's compiled bytecode
is cached as an installed package has it (pip compiles it at install; an editable checkout run with
PYTHONDONTWRITEBYTECODE=1 would otherwise compile descend's ~120 modules in every command, ~0.13 CPU s): the
commands write and read it in a cache folder of their own (PYTHONPYCACHEPREFIX), filled by one untimed 1-epoch
fit first; `--bytecode none` measures without it. The CSV is the one
tabular_suite.py writes for the table (randhie10k: statsmodels' RAND health insurance visits, first 10,000 rows,
shuffled once). Also shown: descend's start-up alone (importing its `fit` command) and its training loop's
seconds (summary.json). Run:
    PYTHONPATH=src python benchmarks/tabular_speed.py [--tables randhie10k,anes96,digits] [--seeds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tabular_suite as suite   # noqa: E402  (the suite's tables and split)
from tabular_held_out import HELD_OUT   # noqa: E402

LIGHTGBM = """
import sys
import lightgbm
import numpy as np
import pandas as pd
path, target, test_rows, seed, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
classes = sys.argv[6] == "classification"
frame = pd.read_csv(path)
truth = frame[target].iloc[-test_rows:].to_numpy()
for name in frame.columns:
    if not pd.api.types.is_numeric_dtype(frame[name]) and name != target:
        frame[name] = frame[name].astype("category")
train, test = frame.iloc[:-test_rows], frame.iloc[-test_rows:]
kind = lightgbm.LGBMClassifier if classes else lightgbm.LGBMRegressor
model = kind(n_estimators=300, learning_rate=0.05, n_jobs=1, random_state=seed, verbose=-1)
model.fit(train.drop(columns=[target]), train[target])
if classes:
    probs = model.predict_proba(test.drop(columns=[target]))
    pd.DataFrame(probs, columns=[str(c) for c in model.classes_]).to_csv(out, index=False)
    picked = probs[np.arange(len(truth)), np.searchsorted(model.classes_, truth)]
    print(float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))))
else:
    predicted = model.predict(test.drop(columns=[target]))
    pd.DataFrame({"prediction": predicted}).to_csv(out, index=False)
    print(float(np.sqrt(np.mean((predicted - truth) ** 2))))
"""


def environment(bytecode: str, folder: Path) -> dict:
    """The commands' environment: one thread, and Python's bytecode cached in `folder`/bytecode ("cached") or
    compiled afresh in every process ("none")."""
    if bytecode == "none":
        return {**suite.ONE_THREAD, "PYTHONDONTWRITEBYTECODE": "1"}
    env = {k: v for k, v in suite.ONE_THREAD.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(folder / "bytecode")}


def timed(command: list[str], core: int, env: dict) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, stdout) of `command` in a fresh process on one core and one thread."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, done.stdout


def table_csv(name: str, folder: Path) -> tuple[Path, suite.Table, int, int]:
    """The table as the suite writes it (all.csv: ordered tables as they are, the others shuffled once), the
    table, its rows and its test rows (the last 20%, descend's default test set)."""
    table = next((t for t in suite.TABLES + HELD_OUT if t.name == name), None)
    if table is None:
        raise SystemExit(f"{name}: no such table in tabular_suite.py or tabular_held_out.py")
    frame = table.load()
    frame = frame[frame[table.target].notna()].reset_index(drop=True)
    if not table.ordered:
        frame = frame.sample(frac=1.0, random_state=suite.SPLIT_SEED).reset_index(drop=True)
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path, table, len(frame), min(max(1, int(round(len(frame) * 0.2))), len(frame) - 1)


def one_table(name: str, seeds: int, core: int, folder: Path, env: dict) -> dict:
    path, table, rows, test_rows = table_csv(name, folder)
    target, score = table.target, "rmse" if table.task == "regression" else "log_loss"
    runs = {"descend": [], "LightGBM": [], "start-up": []}
    loops, scores = [], {"descend": [], "LightGBM": []}
    fit = [sys.executable, "-m", "descend.cli", "fit", str(path), "--target", target]
    lightgbm = [sys.executable, "-c", LIGHTGBM, str(path), target, str(test_rows)]
    timed([*fit, "--max-epochs", "1", "--out", str(folder / f"{name}-warm-up")], core, env)   # fill the cache
    timed([*lightgbm, "0", str(folder / f"{name}-warm-up-lgb.csv"), table.task], core, env)
    for seed in range(seeds):
        out = folder / f"{name}-{seed}"
        cpu, wall, _ = timed([*fit, "--seed", str(seed), "--out", str(out)], core, env)
        runs["descend"].append((cpu, wall))
        loops.append(json.loads((out / "summary.json").read_text())["elapsed"])
        scores["descend"].append(next(iter(json.loads((out / "metrics.json").read_text())["scores"].values()))[score])
        cpu, wall, printed = timed([*lightgbm, str(seed), str(folder / f"{name}-{seed}-lgb.csv"), table.task],
                                   core, env)
        runs["LightGBM"].append((cpu, wall))
        scores["LightGBM"].append(float(printed.strip().splitlines()[-1]))
        runs["start-up"].append(timed([sys.executable, "-c", "import descend.cli.commands.fit"], core, env)[:2])
    median = {k: tuple(float(np.median([r[i] for r in v])) for i in range(2)) for k, v in runs.items()}
    return {"table": name, "rows": rows, "median_cpu_wall": median, "training_loop_s": float(np.median(loops)),
            "score": score.replace("_", "-"), "mean": {k: float(np.mean(v)) for k, v in scores.items()},
            "ratio_cpu": median["descend"][0] / median["LightGBM"][0],
            "ratio_wall": median["descend"][1] / median["LightGBM"][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default="randhie10k")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--core", type=int, default=min(os.sched_getaffinity(0)), help="the one core to run on")
    parser.add_argument("--bytecode", choices=("cached", "none"), default="cached",
                        help="cached: as an installed package runs (default); none: compiled in every process")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; one thread on core {args.core}; "
          f"bytecode {args.bytecode}")
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(args.bytecode, Path(tmp))
        rows = [one_table(name, args.seeds, args.core, Path(tmp), env) for name in args.tables.split(",")]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| table | rows | descend fit: CPU s, wall s | of which start-up (CPU, wall) | training loop s | LightGBM "
          "script: CPU s, wall s | ratio descend / LightGBM (CPU, wall) | test score: descend, LightGBM |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["median_cpu_wall"]
        print(f"| {r['table']} | {r['rows']} | {m['descend'][0]:.2f}, {m['descend'][1]:.2f} | {m['start-up'][0]:.2f}, "
              f"{m['start-up'][1]:.2f} | {r['training_loop_s']:.2f} | {m['LightGBM'][0]:.2f}, "
              f"{m['LightGBM'][1]:.2f} | {r['ratio_cpu']:.2f}, {r['ratio_wall']:.2f} | {r['score']} "
              f"{r['mean']['descend']:.4g}, {r['mean']['LightGBM']:.4g} |")
    for r in rows:
        cpu = r["median_cpu_wall"]["descend"][0]
        bar = f"; bar 5 s: {'holds' if cpu <= 5 else 'missed'}" if r["rows"] >= 10_000 else ""
        print(f"{r['table']}: the whole descend fit took {cpu:.2f} CPU s (median of {args.seeds}){bar}")


if __name__ == "__main__":
    main()
