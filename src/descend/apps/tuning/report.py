"""What a study leaves behind: the table of trials, best.json, and two plots (search history, importance).

Files are written to a temporary name and renamed into place, so a crash never leaves half a file.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable

import optuna
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sqlalchemy.engine import make_url

from ...core.errors import DescendError

State = optuna.trial.TrialState


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, seconds, each setting, and what fit reported (stop reason)."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "duration", "params", "user_attrs"))
    if frame.empty:
        return frame
    frame = frame.rename(columns=lambda c: c.removeprefix("params_").removeprefix("user_attrs_"))
    frame["duration"] = frame["duration"].dt.total_seconds()
    return frame.rename(columns={"duration": "seconds", "number": "trial"})


def counts(study: optuna.Study) -> dict[str, int]:
    """How many trials ended in each state, by lower-case state name."""
    found: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        found[trial.state.name.lower()] = found.get(trial.state.name.lower(), 0) + 1
    return found


def public_url(url: str | None) -> str | None:
    """The storage URL with any password masked, safe to write into best.json."""
    return None if url is None else make_url(url).render_as_string(hide_password=True)


def best_summary(study: optuna.Study, metric: str, storage: str | None,
                 config_for: Callable[[dict], dict] | None) -> dict:
    """The content of best.json: the winning settings, its score and where the study lives."""
    best = study.best_trial
    summary = {"metric": metric, "direction": study.direction.name.lower(), "value": best.value,
               "trial": best.number, "params": best.params, "study": study.study_name,
               "storage": public_url(storage), "trials": counts(study)}
    if config_for is not None:
        summary["config"] = config_for(dict(best.params))
    return summary


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def history_figure(study: optuna.Study, metric: str) -> Figure:
    """Each finished trial's value in order, and the best so far as a step line."""
    done = [t for t in study.get_trials(deepcopy=False, states=(State.COMPLETE,)) if math.isfinite(t.value)]
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    numbers, values = [t.number for t in done], [t.value for t in done]
    pick = min if study.direction == optuna.study.StudyDirection.MINIMIZE else max
    best = [pick(values[:i + 1]) for i in range(len(values))]
    ax.scatter(numbers, values, s=18, label="trial")
    ax.step(numbers, best, where="post", color="tab:red", label="best so far")
    ax.set(xlabel="trial", ylabel=metric, title="optimization history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # trials are numbered: no trial 0.25 on a short search
    ax.legend()
    return fig


def importance_figure(importances: dict[str, float], trials: int) -> Figure:
    """Horizontal bars of each setting's share of the variation in the score (fANOVA) over `trials` complete
    trials; with no more trials than settings the scores cannot separate the settings' effects, and the title
    says the ranking is mostly chance."""
    fig = Figure(figsize=(6, 1 + 0.4 * len(importances)), layout="constrained")
    ax = fig.subplots()
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names])
    title = f"parameter importance ({trials} trials)"
    if trials <= len(importances):
        title += f"\n{trials} trials for {len(importances)} settings: too few to rank them"
    ax.set(xlabel="importance (share of variance)", title=title)
    return fig


def write_outputs(study: optuna.Study, out: str | Path, summary: dict, metric: str) -> dict[str, str]:
    """Write best.json, trials.csv, history.png and (with two or more complete trials) importance.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"best": out / "best.json", "trials": out / "trials.csv", "history": out / "history.png"}
    _atomic(files["best"], lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
    _atomic(files["trials"], lambda p: trials_table(study).to_csv(p, index=False))
    _atomic(files["history"], lambda p: history_figure(study, metric).savefig(p, format="png", dpi=100))
    if summary["trials"].get("complete", 0) >= 2 and len(summary["params"]) >= 1:
        importances = optuna.importance.get_param_importances(study)
        files["importance"] = out / "importance.png"
        complete = summary["trials"]["complete"]
        _atomic(files["importance"],
                lambda p: importance_figure(importances, complete).savefig(p, format="png", dpi=100))
    return {k: str(v) for k, v in files.items()}


def check_out(out: str | Path | None) -> None:
    """Refuse an `out` that is an existing file, before any trial runs."""
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise DescendError(f"out {str(out)!r} is a file; give a folder for best.json, trials.csv and the plots")
