"""From readings to the findings a user sees: every rule runs guarded (a bug in one rule becomes a `doctor_error`
finding naming it, and never costs the run), a finding that another one explains is folded into it, and the rest
come root cause first."""
from __future__ import annotations

import traceback
from typing import Callable

from .curves import measure
from .data_rules import DATA_RULES
from .findings import Finding, ordered
from .instruments import Readings
from .rules import RULES, rollbacks

# symptom -> the causes that explain it: when one of them is found, the symptom is folded into it (named in its
# evidence under "explains") instead of being reported as a problem of its own
EXPLAINED_BY: dict[str, set[str]] = {
    "non_finite": {"bad_start"},
    "lr_too_high": {"bad_start", "unscaled_inputs"},
    "exploding_gradients": {"lr_too_high", "bad_start", "unscaled_inputs", "non_finite"},
    "dead_units": {"lr_too_high", "bad_start", "overfitting", "no_signal", "vanishing_gradients", "non_finite"},
    "lr_too_low": {"dead_units", "vanishing_gradients", "bad_start", "no_signal"},
    "bad_start": {"unscaled_inputs"},
    "not_converged": {"no_signal", "target_leak", "lr_too_high", "class_imbalance", "non_finite", "lr_too_low", "unscaled_inputs", "vanishing_gradients", "dead_units", "bad_start",
                      "loss_target_mismatch"},
    "plateau": {"target_leak", "underfitting", "not_converged", "lr_too_high", "no_signal", "dead_units", "vanishing_gradients", "bad_start", "lr_too_low",
                "loss_target_mismatch", "class_imbalance", "unscaled_inputs", "non_finite"},
    "overfitting": {"lr_too_high", "no_signal", "target_leak", "non_finite"},
    "underfitting": {"target_leak", "lr_too_high", "no_signal", "bad_start", "non_finite", "vanishing_gradients", "dead_units",
                     "lr_too_low", "not_converged", "loss_target_mismatch", "unscaled_inputs", "class_imbalance",
                     "exploding_gradients"},
    "class_imbalance": {"dead_units", "vanishing_gradients", "lr_too_low", "bad_start", "lr_too_high",
                        "unscaled_inputs", "non_finite"},
    "loss_metric_mismatch": {"class_imbalance", "loss_target_mismatch", "no_signal", "lr_too_high", "bad_start"},
}


def guarded(what: str, step: Callable, *args) -> list[Finding]:
    """Run `step(*args)`; if it raises, return the `doctor_error` finding that names `what` (else nothing)."""
    try:
        step(*args)
    except Exception as err:  # noqa: BLE001 - any bug of the doctor's must not cost the user's run
        return [_error(what, err)]
    return []


def _error(what: str, err: Exception) -> Finding:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    return Finding("doctor_error", "info", None,
                   {"rule": what, "error": f"{type(err).__name__}: {err}",
                    "at": f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""},
                   f"the doctor's check {what!r} failed on this run ({type(err).__name__}: {err}); the run itself "
                   f"is unaffected", "report it to descend's maintainers with the evidence of this finding")


def _run(rule: Callable, readings: Readings) -> list[Finding]:
    found: list[Finding] = []
    errors = guarded(rule.__name__, lambda: found.append(rule(readings)))
    return errors or [f for f in found if f is not None]


def fold(findings: list[Finding]) -> list[Finding]:
    """Drop every finding that a present cause explains (see EXPLAINED_BY), listing it in that cause's evidence."""
    codes = {f.code for f in findings}
    kept, folded = [], {}
    for f in findings:
        causes = EXPLAINED_BY.get(f.code, set()) & codes
        if causes:
            folded.setdefault(next(g.code for g in ordered(findings) if g.code in causes), []).append(f.code)
        else:
            kept.append(f)
    return [Finding(f.code, f.severity, f.steps, {**f.evidence, "explains": folded[f.code]}, f.message, f.fix,
                    f.change) if f.code in folded else f for f in kept]


def diagnose(readings: Readings) -> list[Finding]:
    """Measure the curve, run every rule on the readings and return the findings root cause first."""
    errors = list(readings.errors) + guarded("measuring the loss curve", _measure, readings)
    found = [f for rule in DATA_RULES + RULES for f in _run(rule, readings)] if readings.curve else []
    return ordered(fold(found) + rollbacks(readings)) + errors


def _measure(readings: Readings) -> None:
    readings.curve = measure(readings.history)
