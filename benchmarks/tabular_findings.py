"""The doctor's findings as a user with a CSV meets them, and whether following them pays.

For each table of the table lists (`tabular_suite.py`, `tabular_fresh.py` .. `tabular_fresh4.py`, and
`tabular_fresh5.py` when it is importable) and each seed, `descend fit all.csv --target T --seed S` runs with no
other flag, on the rows as `tabular_suite.py`'s "cli" mode writes them (unordered tables shuffled once, descend's
own last-20% test rows). Every finding it prints (kind, severity, the advice in words) is collected. Then each
warning or error is followed as the user would follow it: the `descend fit` options its advice names, the first
"(descend fit: ...)" it prints, are added to the same command and every seed is run again. Its outcome, from the
test score (RMSE, or log-loss for classes) averaged over the seeds:
- useful: the mean fell by more than the noise; harmful: it rose by more; idle: within the noise;
- no flag: the advice names no option of `descend fit` (nothing a CLI user can apply as written).
The noise is the default run's spread over the seeds (max - min), and never under 1% of its mean.
Run (a table takes 1-10 CPU minutes on these machines; --save after every table, so a stopped run loses little):
    PYTHONPATH=src:. nice python benchmarks/tabular_findings.py [--tables penguins,mroz] [--seeds 2]
        [--save findings.json] [--load a.json,b.json]   (--load alone prints saved runs' tables)
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tabular_suite import ONE_THREAD, SPLIT_SEED, TABLES, Table, score

FINDING = re.compile(r"^\s+\[(error|warning|info)\] (.*) \(code (\w+)\)$")
ADVICE = re.compile(r"\(descend fit: ([^)]*)\)")
NOISE_FLOOR = 0.01   # a change under 1% of the score is within noise however close two seeds happened to land


def all_tables() -> list[Table]:
    """Every table list in benchmarks/, the fifth fresh list where it exists."""
    from tabular_fresh import FRESH
    from tabular_fresh2 import FRESH2
    from tabular_fresh3 import FRESH3
    from tabular_fresh4 import FRESH4
    tables = [*TABLES, *FRESH, *FRESH2, *FRESH3, *FRESH4]
    try:
        from tabular_fresh5 import FRESH5
    except ImportError:
        return tables
    return tables + FRESH5


def parse_findings(stdout: str) -> list[dict]:
    """The findings `descend fit` printed, in order: severity, code, the whole line, and the options its advice
    names (the first "(descend fit: ...)" in it; empty when none)."""
    found = []
    for line in stdout.splitlines():
        match = FINDING.match(line)
        if match:
            advice = ADVICE.search(match.group(2))
            found.append({"severity": match.group(1), "code": match.group(3), "text": match.group(2),
                          "flags": shlex.split(advice.group(1)) if advice else []})
    return found


def test_score(run: Path, table: Table, folder: Path, truth: np.ndarray) -> float:
    """The run's test score: from metrics.json, or, where descend read a number target as classes (no RMSE
    there), the RMSE of what `descend predict` writes for the test rows."""
    metrics = json.loads((run / "metrics.json").read_text())
    first = next(iter(metrics["scores"].values()))
    key = "log_loss" if table.task == "classification" else "rmse"
    if key in first:
        return float(first[key])
    test = pd.read_csv(folder / "all.csv").iloc[-len(truth):].drop(columns=[table.target])
    test.to_csv(folder / "test.csv", index=False)
    subprocess.run([sys.executable, "-m", "descend.cli", "predict", str(run), str(folder / "test.csv"), "--out",
                    str(folder / "pred.csv")], env=ONE_THREAD, capture_output=True, check=True)
    return score(table.task, truth, pd.read_csv(folder / "pred.csv")["prediction"].to_numpy())


def fit_once(table: Table, folder: Path, truth: np.ndarray, seed: int, flags: list[str]) -> dict:
    """`descend fit all.csv --target T --seed S FLAGS`: its test score and the findings it printed (on stderr, with
    its progress), or the error."""
    run = folder / f"run_{seed}_{len(flags)}"
    done = subprocess.run([sys.executable, "-m", "descend.cli", "fit", str(folder / "all.csv"), "--target",
                           table.target, "--seed", str(seed), "--out", str(run), *flags],
                          env=ONE_THREAD, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return {"score": test_score(run, table, folder, truth), "findings": parse_findings(done.stderr)}


def write_table(table: Table, folder: Path) -> np.ndarray:
    """all.csv as tabular_suite's "cli" mode writes it; the truth of descend's test rows (its last 20%)."""
    frame = table.load()
    frame = frame[frame[table.target].notna()].reset_index(drop=True)
    if not table.ordered:
        frame = frame.sample(frac=1.0, random_state=SPLIT_SEED).reset_index(drop=True)
    frame.to_csv(folder / "all.csv", index=False)
    n_test = min(max(1, int(round(len(frame) * 0.2))), len(frame) - 1)
    test = frame.iloc[-n_test:][table.target]
    return test.astype(str).to_numpy() if table.task == "classification" else test.to_numpy(float)


def followed(runs: list[dict]) -> dict[tuple[str, ...], dict]:
    """The warnings and errors to follow, one per distinct advice: its options -> (code, severity, text, seeds)."""
    advice: dict[tuple[str, ...], dict] = {}
    for seed, run in enumerate(runs):
        for f in run.get("findings", []):
            if f["severity"] in ("warning", "error") and f["flags"]:
                entry = advice.setdefault(tuple(f["flags"]), {**f, "seeds": []})
                entry["seeds"].append(seed)
    return advice


def one_table(table: Table, seeds: int) -> dict:
    """The default runs over the seeds, then a rerun over the seeds for every distinct advice with options."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth = write_table(table, folder)
        base = [fit_once(table, folder, truth, seed, []) for seed in range(seeds)]
        tried = []
        for flags, finding in followed(base).items():
            after = [fit_once(table, folder, truth, seed, list(flags)) for seed in range(seeds)]
            tried.append({**finding, "after": after})
    return {"table": table.name, "task": table.task, "base": base, "tried": tried}


def outcome(base: list[float], after: list[float]) -> tuple[str, float]:
    """useful / harmful / idle, and the change of the mean score relative to the default run's."""
    mean = float(np.mean(base))
    noise = max(float(np.ptp(base)), NOISE_FLOOR * abs(mean))
    change = float(np.mean(after)) - mean
    verdict = "useful" if change < -noise else "harmful" if change > noise else "idle"
    return verdict, change / abs(mean)


def scores(runs: list[dict]) -> list[float] | None:
    """The runs' scores, None when any run failed."""
    return None if any("error" in r for r in runs) else [r["score"] for r in runs]


def report(rows: list[dict]) -> None:
    """Every finding printed (counts by code and severity), then every followed advice and its outcome."""
    counts: dict[tuple[str, str], set] = {}
    for row in rows:
        for run in row["base"]:
            for f in run.get("findings", []):
                counts.setdefault((f["code"], f["severity"]), set()).add(row["table"])
                if f["severity"] != "info" and not f["flags"]:
                    counts.setdefault((f["code"], "no flag"), set()).add(row["table"])
    print("\n| finding | severity | tables (of %d) |\n|---|---|---|" % len(rows))
    for (code, severity), tables in sorted(counts.items()):
        print(f"| {code} | {severity} | {len(tables)}: {', '.join(sorted(tables))} |")
    print("\n| table | finding | advice followed | default score (seeds) | after | change | outcome |")
    print("|---|---|---|---|---|---|---|")
    tally: dict[tuple[str, str], int] = {}
    for row in rows:
        base = scores(row["base"])
        for t in row["tried"]:
            after = scores(t["after"])
            verdict, change = outcome(base, after) if base and after else ("failed", float("nan"))
            tally[(t["code"], verdict)] = tally.get((t["code"], verdict), 0) + 1
            shown = ", ".join(f"{s:.4g}" for s in base or [])
            print(f"| {row['table']} | {t['code']} ({t['severity']}, seeds {t['seeds']}) | {' '.join(t['flags'])} | "
                  f"{shown} | {', '.join(f'{s:.4g}' for s in after or [])} | {change:+.1%} | {verdict} |")
    print("\n| finding | useful | idle | harmful | failed |\n|---|---|---|---|---|")
    for code in sorted({c for c, _ in tally}):
        print(f"| {code} | " + " | ".join(str(tally.get((code, v), 0)) for v in ("useful", "idle", "harmful", "failed"))
              + " |")


def main(argv: list[str] | None = None) -> None:
    """Run (or load) the findings of every table named, saving after each, and print the tables."""
    tables = all_tables()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default=None, help="comma-separated table names (default: every list's)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--save", default=None, help="JSON file the results are written to after every table")
    parser.add_argument("--load", default=None,
                        help="JSON files of earlier results, comma-separated: their tables are not rerun")
    args = parser.parse_args(argv)
    rows = [row for name in args.load.split(",") for row in json.loads(Path(name).read_text())] if args.load else []
    names = args.tables.split(",") if args.tables else ([] if args.load and not args.save else
                                                         [t.name for t in tables])
    unknown = sorted(set(names) - {t.name for t in tables})
    if unknown:
        parser.error(f"unknown tables {unknown}; the lists hold {', '.join(t.name for t in tables)}")
    done = {r["table"] for r in rows}
    for table in [t for t in tables if t.name in names and t.name not in done]:
        rows.append(one_table(table, args.seeds))
        print(json.dumps({"table": table.name, "findings": [[f["severity"], f["code"]] for r in rows[-1]["base"]
                                                               for f in r.get("findings", [])]}), flush=True)
        if args.save:
            Path(args.save).write_text(json.dumps(rows, indent=1))
    report(rows)


if __name__ == "__main__":
    main()
