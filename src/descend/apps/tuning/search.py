"""`tune`: search settings with Optuna (its samplers, pruners and storages), fit doing each trial's work.

One process runs trials one after another; `workers=K` starts K processes that share one database storage and
draw trials from it in parallel. A study in a database outlives its processes: calling `tune` again with the
same storage and study name continues until `n_trials` trials have finished (completed or pruned).
"""
from __future__ import annotations

import logging
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable

import optuna
import pandas as pd

from ...core.checks import check_choice, check_positive_int
from ...core.errors import DescendError
from . import report
from .objective import Objective, settings_text
from .space import parse_space
from .study import make_pruner, make_sampler, open_storage

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class TuneResult:
    """The outcome of a study: the best settings and score, every trial as a table, and the files written."""

    best_params: dict
    best_value: float
    best_trial: int
    trials: pd.DataFrame
    study: optuna.Study
    files: dict = field(default_factory=dict)
    metric: str = "value"

    def __str__(self) -> str:
        """The search in a few lines, as print shows a FitResult: the best trial, how the trials ended, the files."""
        settings = ", ".join(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
                             for name, value in self.best_params.items())
        ended = ", ".join(f"{count} {state}" for state, count in report.counts(self.study).items())
        lines = ["TuneResult", f"  best: {self.metric} {self.best_value:.4g} at trial {self.best_trial} ({settings})",
                 f"  trials: {len(self.trials)} ({ended})"]
        if self.files:
            lines.append("  files: " + ", ".join(str(path) for path in self.files.values()))
        lines.append("  (.best_params, .best_value; .trials: one row per trial, .table() best first; .study: Optuna's)")
        return "\n".join(lines)

    __repr__ = __str__   # a notebook's last line shows the same, not the trials frame and the study object

    def table(self) -> str:
        """The trials table as text, best first; each number to 4 significant digits, as the trial lines give them
        (pandas' shared column format showed a weight decay of 1.26e-06 as 0.000001 and seconds to 6 decimals)."""
        ascending = self.study.direction == optuna.study.StudyDirection.MINIMIZE
        ordered = self.trials.sort_values("value", ascending=ascending, na_position="last")
        return ordered.to_string(index=False, float_format=lambda value: f"{value:.4g}")


@dataclass
class _Job:
    """Everything one worker process needs to join the study (picklable)."""

    objective: Objective
    storage: str | None
    study_name: str
    sampler: object
    pruner: object
    seed: int
    direction: str
    n_trials: int
    timeout: float | None
    progress: bool


def announce(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """One line per finished trial on stderr: its state, score, settings and the best so far."""
    settings = settings_text(trial.params)
    value = "" if trial.value is None else f" value {trial.value:.5g}"
    try:
        leader = study.best_trial  # read once: other workers may finish trials meanwhile
        best = f" | best {leader.value:.5g} (trial {leader.number})"
    except ValueError:
        best = ""
    print(f"trial {trial.number} {trial.state.name.lower()}{value} | {settings}{best}", file=sys.stderr, flush=True)


def _open_study(job: _Job, storage) -> optuna.Study:
    study = optuna.create_study(storage=storage, sampler=make_sampler(job.sampler, job.seed),
                                pruner=make_pruner(job.pruner), study_name=job.study_name,
                                direction=job.direction, load_if_exists=True)
    if study.direction.name.lower() != job.direction:
        raise DescendError(f"study {job.study_name!r} in this storage maximizes/minimizes differently "
                           f"({study.direction.name.lower()}); use another study_name or direction")
    return study


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


class _QuietRaised(logging.Filter):
    """Drops Optuna's two "Trial N failed" warnings (one with the whole traceback) for a trial whose exception
    tune raises itself, the trial and its settings noted on it: the user sees that one exception, once."""

    def __init__(self):
        super().__init__()
        self.trial: int | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and hasattr(error, "descend_trial"):
            self.trial = error.descend_trial
        return self.trial is None or not record.getMessage().startswith(f"Trial {self.trial} failed ")


def _run(job: _Job, study: optuna.Study) -> None:
    """Run trials until the study holds n_trials finished ones (or the timeout passes)."""
    if _finished(study) >= job.n_trials:
        return
    callbacks = [optuna.study.MaxTrialsCallback(job.n_trials, states=FINISHED)]
    callbacks += [announce] if job.progress else []
    quiet, logger = _QuietRaised(), logging.getLogger("optuna.study._optimize")   # where Optuna logs them
    logger.addFilter(quiet)
    try:
        study.optimize(job.objective, n_trials=job.n_trials, timeout=job.timeout, callbacks=callbacks)
    finally:
        logger.removeFilter(quiet)


def _worker(job: _Job) -> None:
    """Entry point of a worker process: open the shared storage and take trials from it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _run(job, _open_study(job, open_storage(job.storage)))


def _check_sendable(job: _Job) -> None:
    """Worker processes receive the objective by pickling (in memory, never on disk); lambdas and local
    functions cannot travel, so say so before any process starts."""
    try:
        pickle.dumps(job.objective)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise DescendError(f"workers > 1 need an objective defined at module level (importable), not a lambda or "
                           f"local function: {err}") from err


def _run_workers(job: _Job, workers: int) -> None:
    jobs = [_Job(**{**vars(job), "seed": job.seed + i}) for i in range(workers)]  # distinct draws per worker
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for future in [pool.submit(_worker, j) for j in jobs]:
            future.result()


def tune(objective: Callable, space: dict, n_trials: int, *, metric: str = "val_loss",
         direction: str = "minimize", storage: str | None = None, study_name: str = "descend",
         sampler="tpe", pruner="asha", seed: int = 0, workers: int = 1, timeout: float | None = None,
         out=None, progress: bool = True, config_for: Callable[[dict], dict] | None = None) -> TuneResult:
    """Search `space` for the settings that optimize `metric`, with Optuna doing the sampling and pruning.

    `objective(params)` (or `objective(params, trial)`) returns a number, a FitResult, or a dict of `fit`
    settings that tune runs with pruning after each evaluation. `storage` (sqlite:///tune.db,
    postgresql://...) keeps the study so a crashed search resumes and `workers` processes can share it.
    With `out`, writes best.json (plus `config_for(best_params)` under "config"), trials.csv and plots.
    Every input is checked before the first trial starts.
    """
    parsed = parse_space(space)
    n_trials, workers = check_positive_int(n_trials, "n_trials"), check_positive_int(workers, "workers")
    direction = check_choice("direction", direction, ("minimize", "maximize"))
    make_sampler(sampler, seed)  # raise on a bad name now, not in a worker
    make_pruner(pruner)
    if workers > 1 and storage is None:
        raise DescendError("workers > 1 need a shared storage; give storage='sqlite:///tune.db' or a PostgreSQL URL")
    report.check_out(out)
    job = _Job(Objective(objective, parsed, metric, direction), storage, study_name, sampler, pruner, seed,
               direction, n_trials, timeout, progress)
    if workers > 1:
        _check_sendable(job)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = _open_study(job, open_storage(storage))
        if workers > 1:
            _run_workers(job, workers)
        else:
            _run(job, study)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return _result(study, metric, storage, out, config_for or getattr(objective, "config_for", None))


def _result(study: optuna.Study, metric: str, storage: str | None, out, config_for) -> TuneResult:
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise DescendError(f"no trial of study {study.study_name!r} completed ({report.counts(study)}); "
                           "check that the objective returns a finite value")
    if all(trial.user_attrs.get("plain") for trial in completed):
        metric = "value"   # numbers the objective returned are its own, not the metric= of a run's history
    summary = report.best_summary(study, metric, storage, config_for)
    files = report.write_outputs(study, out, summary, metric) if out is not None else {}
    best = study.best_trial
    return TuneResult(best.params, best.value, best.number, report.trials_table(study), study, files, metric)
