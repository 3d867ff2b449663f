"""Opening what Optuna needs: the storage a study lives in, its sampler and its pruner, from plain names.

Every name is checked and the storage opened before any trial starts, so a typo costs nothing.
"""
from __future__ import annotations

import warnings

import optuna

from ...core.checks import check_choice
from ...core.errors import DescendError

SAMPLERS = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
PRUNERS = {"asha": optuna.pruners.SuccessiveHalvingPruner, "hyperband": optuna.pruners.HyperbandPruner,
           "median": optuna.pruners.MedianPruner, "none": optuna.pruners.NopPruner}
HEARTBEAT_S, GRACE_S = 30, 120  # a trial silent this long belonged to a dead process: it is failed and retried


def open_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """An RDB storage for a database URL (sqlite:///tune.db, postgresql://...), or None for in-memory.

    Trials of a process that died are noticed by a missing heartbeat, marked failed and re-run once with the
    same settings, so a crashed study resumes where it was."""
    if url is None:
        return None
    if not isinstance(url, str) or "://" not in url:
        raise DescendError(f"storage must be a database URL such as sqlite:///tune.db or "
                           f"postgresql://user:password@host/db, got {url!r}")
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental in Optuna; they are what we need
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    except Exception as err:  # sqlalchemy and driver errors vary by database; all mean "cannot open"
        raise DescendError(f"storage {url!r} cannot be opened: {type(err).__name__}: {err}. Check the path or "
                           "server, and that the folder exists") from err


def make_sampler(sampler, seed: int) -> optuna.samplers.BaseSampler:
    """A sampler from its name ('tpe', 'random') seeded with `seed`, or a ready Optuna sampler as given."""
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    return SAMPLERS[check_choice("sampler", sampler, SAMPLERS)](seed=seed)


def make_pruner(pruner) -> optuna.pruners.BasePruner:
    """A pruner from its name ('asha', 'hyperband', 'median', 'none'; None means 'none'), or one as given."""
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    return PRUNERS[check_choice("pruner", "none" if pruner is None else pruner, PRUNERS)]()
