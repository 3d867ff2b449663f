"""Stopping rules: small objects asked after every step (and every evaluation) whether the run is done.

A rule's `check(state, record)` returns None to go on, or a sentence saying why the run stops. `finish(state)`
runs once when the loop ends (Patience uses it to restore the best weights). `NonFinite` is always on.
`needs_sync(state)` says whether the rule must be asked about the step just taken before the next one runs (see
descend.core.loop): by default it must; the built-in rules say when, so that a run need not wait for the device.
"""
from __future__ import annotations

import difflib
import math
from collections import deque
from typing import TYPE_CHECKING

from .checks import check_positive_int
from .errors import DescendError, warn_user
from .metrics import METRICS

from .loop import never

if TYPE_CHECKING:
    from .loop import LoopState


class Rule:
    """Base class: override `check`; `setup` and `finish` are optional. `code` names the rule in
    FitResult.stop_code (and LoopState.stop_code) when it stops a run, for code that acts on why a run stopped."""

    code = "rule"

    def validate(self, has_validation: bool) -> None:
        """Refuse settings the run cannot serve (a val_* value without validation data); fit asks before any work."""

    def setup(self, state: "LoopState") -> None:
        """Called once before the first step."""

    def check(self, state: "LoopState", record: dict) -> str | None:
        raise NotImplementedError

    def needs_sync(self, state: "LoopState") -> bool:
        """Whether the loop must ask `check` about this step before taking the next (True unless overridden)."""
        return True

    def finish(self, state: "LoopState") -> None:
        """Called once after the last step."""

    def state_dict(self) -> dict:
        """What the rule has learned during the run (tensors, numbers, lists), saved in checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Put back what `state_dict` returned, after `setup`, when a run resumes."""


class _Limit(Rule):
    """Stop once the run's count of `unit`s (the loop state's `step` or `epoch`) reaches `n`."""

    unit = ""

    def __init__(self, n: int):
        self.n = check_positive_int(n, f"{type(self).__name__}: n")

    def check(self, state, record):
        if getattr(state, self.unit) < self.n:   # every step, read in place: the words only once
            return None
        unit = self.unit if self.n == 1 else f"{self.unit}s"
        return f"reached the {self.unit} limit ({self.n} {unit})"

    def needs_sync(self, state):
        return getattr(state, self.unit) >= self.n


class MaxSteps(_Limit):
    """Stop after `n` optimizer steps."""

    code, unit = "max_steps", "step"


class MaxEpochs(_Limit):
    """Stop after `n` full passes over the training data."""

    code, unit = "max_epochs", "epoch"


class MaxTime(Rule):
    """Stop once `seconds` of wall time have passed since the first step."""

    code = "max_time"

    def __init__(self, seconds: float):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise DescendError(f"MaxTime: seconds must be a positive number, got {seconds!r}")
        self.seconds = seconds
        self.due: int | None = None   # the step at which the time ran out

    def setup(self, state):
        self.due = None

    def needs_sync(self, state):
        if self.due is None and state.elapsed() >= self.seconds:
            self.due = state.step
        return self.due is not None

    def check(self, state, record):
        if self.needs_sync(state) and state.step >= self.due:
            return f"reached the time limit ({self.seconds:g} s) at step {state.step}"
        return None


HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "roc_auc", "r2", "f1", "precision", "recall")   # monitored names
# (without val_) whose larger values are better


def _mode(mode: str | None, monitor: str | None) -> str:
    """`mode` as given, or for None the one the monitored name implies: "max" for accuracy, AUC, R², F1, precision
    and recall (in "min" a rule watching val_accuracy would keep its worst evaluation, and a Target of 0.9 would
    fire at once), else "min"."""
    if mode is not None:
        return mode
    return "max" if (monitor or "").removeprefix("val_").lower() in HIGHER_IS_BETTER else "min"


def _better(mode: str):
    if mode not in ("min", "max"):
        raise DescendError(f"mode must be 'min' or 'max', got {mode!r}")
    return (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)


def _resolve_monitor(monitor: str | None, has_validation: bool, rule: str) -> str:
    if monitor is None:
        return "val_loss" if has_validation else "loss"
    if monitor.startswith("val_") and not has_validation:
        raise DescendError(f"{rule} monitors {monitor!r} but no validation data was given; pass val= or "
                           f"monitor a training value such as 'loss'")
    return monitor


def _missing(rule: str, key: str, record: dict) -> str:
    given = sorted(k for k in record if k.startswith("val_"))
    return f"{rule} monitors {key!r}, but the evaluation gives only {', '.join(given)}; {missing_hint(key, given)}"


def missing_hint(key: str, given: list[str]) -> str:
    """What to do about a val_* value that evaluations do not give: the metric it means and how to compute it (a
    near spelling is guessed), else pick one of the `given` values; shared by stop rules and tune's metric=."""
    meant = _metric_meant(key[4:])
    guess = "" if meant in (None, key[4:]) else f"did you mean val_{meant}? "
    if meant:
        return f"{guess}add metrics=[{meant!r}] to fit to compute it"
    return f"monitor {given[0] if len(given) == 1 else 'one of those'}, or compute it with fit's metrics="


def _metric_meant(name: str) -> str | None:
    """The metric a monitored name stands for: itself, the one it begins (acc for accuracy), or a near spelling."""
    if name in METRICS:
        return name
    begun = [metric for metric in METRICS if name and metric.startswith(name)]
    close = begun or difflib.get_close_matches(name, list(METRICS), n=1)
    return close[0] if len(close) == 1 else None


class _Monitor(Rule):
    """A rule that reads one value from each record (a training value, or a val_* one after evaluations).

    A val_* key that an evaluation does not produce is refused there and then; a training key that no record
    ever held (it may come from a callback, so it cannot be refused early) is warned about when the run ends.
    """

    def validate(self, has_validation: bool) -> None:
        _resolve_monitor(self.monitor, has_validation, type(self).__name__)

    def _watch(self, state) -> None:
        self.key, self.seen = _resolve_monitor(self.monitor, state.has_validation, type(self).__name__), False

    def needs_sync(self, state) -> bool:
        """A val_* value comes with an evaluation, which the loop settles anyway; a training value every step."""
        return not self.key.startswith("val_")

    def _value(self, record: dict) -> float | None:
        if self.key in record:
            self.seen = True
            return record[self.key]
        if self.key.startswith("val_") and "val_loss" in record:
            self.seen = True  # the error says it all; no warning on top
            raise DescendError(_missing(type(self).__name__, self.key, record))
        return None

    def finish(self, state):
        if not self.seen and state.history and state.stop_reason is not None:  # not for a run cut short by an error
            held = ", ".join(k for k in state.history[-1] if not k.startswith("val_"))
            warn_user(f"{type(self).__name__} monitored {self.key!r}, which no record held, so it never fired; "
                      f"records hold {held}")


class Target(_Monitor):
    """Stop when the monitored value reaches `value` (at or below for mode "min", at or above for "max"; mode None
    takes "max" for accuracy-like monitors, see `_mode`)."""

    code = "target"

    def __init__(self, value: float, monitor: str | None = "loss", mode: str | None = None):
        self.value, self.monitor, self.mode = value, monitor, _mode(mode, monitor)
        self._better = _better(self.mode)

    def setup(self, state):
        self._watch(state)

    def check(self, state, record):
        got = self._value(record)
        if got is not None and (got == self.value or self._better(got, self.value)):
            return f"{self.key} reached the target {self.value:g} (got {got:.6g}) at step {state.step}"
        return None

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state.get("seen", True)


class Patience(_Monitor):
    """Stop when the monitored value has not improved by `min_delta` for `patience` evaluations.

    `monitor=None` watches val_loss when validation data is given, else the training loss (then patience counts
    steps). Steps of auto's lr sweep (records marked "sweep") are not counted. With `restore_best=True` the weights
    of the best evaluation are put back when the run ends. `mode` None takes "max" for accuracy-like monitors
    (val_accuracy, val_r2, ...) and "min" for the rest, see `_mode`.
    """

    code = "patience"
    reads_sweep = False   # whether evaluations of auto's lr sweep count (auto's own KeepBest: they do)

    def __init__(self, patience: int = 10, monitor: str | None = None, min_delta: float = 0.0,
                 mode: str | None = None, restore_best: bool = False):
        self.patience = check_positive_int(patience, "Patience: patience")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise DescendError(f"Patience: min_delta must be a number >= 0, got {min_delta!r}")
        self.monitor, self.min_delta, self.restore_best = monitor, min_delta, restore_best
        self.mode = _mode(mode, monitor)
        self._better = _better(self.mode)

    def setup(self, state):
        self._watch(state)
        self.best, self.best_step, self.wait, self.snapshot = None, None, 0, None

    def check(self, state, record):
        value = self._value(record)   # first: a monitor no record holds is an error at once, sweep or not
        if record.get("sweep") and not self.reads_sweep:
            return None   # auto's lr sweep raises the lr on purpose and then goes back to kept weights: its steps
                          # and evaluations say nothing about whether training still improves
        if value is None or not math.isfinite(value):
            return None
        shift = -self.min_delta if self.mode == "min" else self.min_delta
        if self.best is None or self._better(value, self.best + shift):
            self.best, self.best_step, self.wait = value, state.step, 0
            if self.restore_best:
                self.snapshot = state.task.snapshot()
            return None
        self.wait += 1
        if self.wait >= self.patience:
            by = f" by more than {self.min_delta:g}" if self.min_delta else ""
            kept = "; the model holds the weights of that step" if self.restore_best else ""
            return (f"{self.key} did not improve{by} for {self.patience} evaluations "
                    f"(best {self.best:.6g} at step {self.best_step}{kept})")
        return None

    def state_dict(self):
        return {"best": self.best, "best_step": self.best_step, "wait": self.wait, "snapshot": self.snapshot,
                "seen": self.seen}

    def load_state_dict(self, state):
        self.best, self.best_step, self.wait = state["best"], state["best_step"], state["wait"]
        self.snapshot, self.seen = state["snapshot"], state.get("seen", True)

    def finish(self, state):
        super().finish(state)
        if self.restore_best and self.snapshot is not None:
            state.task.restore(self.snapshot)
            state.restored_step = self.best_step


class Converged(Rule):
    """Stop when the loss changed by less than `rtol` (relative) over `window` steps, or when every gradient
    norm in the window is below `gtol`."""

    code = "converged"

    def __init__(self, rtol: float | None = 1e-6, gtol: float | None = None, window: int = 10):
        if rtol is None and gtol is None:
            raise DescendError("Converged: give rtol, gtol or both")
        for name, tol in (("rtol", rtol), ("gtol", gtol)):
            if tol is not None and tol <= 0:
                raise DescendError(f"Converged: {name} must be > 0, got {tol}")
        self.rtol, self.gtol, self.window = rtol, gtol, check_positive_int(window, "Converged: window")

    def setup(self, state):
        self.losses = deque(maxlen=self.window + 1)
        self.grads = deque(maxlen=self.window)

    def state_dict(self):
        return {"losses": list(self.losses), "grads": list(self.grads)}

    def load_state_dict(self, state):
        self.losses.extend(state["losses"])
        self.grads.extend(state["grads"])

    def check(self, state, record):
        self.losses.append(record["loss"])
        self.grads.append(record.get("grad_norm", math.inf))
        if self.gtol is not None and len(self.grads) == self.window and max(self.grads) < self.gtol:
            return f"converged: gradient norm below {self.gtol:g} for {self.window} steps (step {state.step})"
        if self.rtol is not None and len(self.losses) == self.window + 1:
            first, last = self.losses[0], self.losses[-1]
            change = abs(last - first) / max(abs(first), 1e-12)
            if change < self.rtol:
                return (f"converged: loss changed by {change:.2e} (relative) over {self.window} steps, "
                        f"below rtol {self.rtol:g} (step {state.step})")
        return None


class NonFinite(Rule):
    """Stop at the first NaN or Inf in the loss or gradient, naming the step and where it first appeared (the
    task's `non_finite_origin`).

    It need not see a step at once: fit skips every update from a non-finite step on (on the device, without
    waiting), so the model is still the one that step started from when the loop settles and this rule stops the
    run there."""

    code = "non_finite"
    needs_sync = never

    def check(self, state, record):
        if record.get("recovered") or (math.isfinite(record["loss"]) and math.isfinite(record.get("grad_norm", 0.0))):
            return None   # "recovered": a callback undid the step (auto's lr sweep restores kept weights)
        return f"non-finite values at step {state.step}: {state.task.non_finite_origin}"


def with_defaults(rules, has_validation: bool | None = None) -> list[Rule]:
    """The user's rules plus NonFinite, which is always on and asked first; with `has_validation`, each rule's
    settings are checked against the run too (see Rule.validate)."""
    rules = [rules] if isinstance(rules, Rule) else list(rules)
    for rule in rules:
        if not isinstance(rule, Rule):
            raise DescendError(f"stop= takes descend.stop rules (MaxSteps, Patience, ...), got {rule!r}")
        if has_validation is not None:
            rule.validate(has_validation)
    if not any(isinstance(r, NonFinite) for r in rules):
        rules.insert(0, NonFinite())
    return rules
