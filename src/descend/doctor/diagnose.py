"""From readings to the findings a user sees: every rule runs guarded (a bug in one rule becomes a `doctor_error`
finding naming it, and never costs the run), a finding that another one explains is folded into it, and the rest
come root cause first."""
from __future__ import annotations

import math
import traceback
from typing import Callable

from .curves import measure
from .data_rules import DATA_RULES
from .findings import Finding, ordered
from .instruments import Readings
from .outcome_rules import OUTCOME_RULES
from .restraint_rules import RESTRAINT_RULES
from .rules import RULES, rollbacks
from .setup_rules import SETUP_RULES
from .wiring_rules import WIRING_RULES

# symptom -> the causes that explain it: when one of them is found, the symptom is folded into it (named in its
# evidence under "explains") instead of being reported as a problem of its own
STEPS_OVERSHOT = {"line_search_on_batches", "lr_too_high"}
GROUPED = {"repeated_rows", "unshuffled_data"}                                   # batches unlike the data
HELD_BACK = {"frozen_parameters", "weight_decay_too_strong", "lr_decayed_early", "grad_clip_too_small",
             "batch_norm_small_batches", "batch_norm_momentum", "order_blind", "detached_parameters", "batch_mixing",
             "loss_unpaired", "dropout_too_strong", "optimizer_eps", "stopped_too_early", "embedding_ids",
             "unread_outputs", "optimizer_misses_weights"}    # settings or build keep it back
SCALE = {"unscaled_inputs", "unscaled_target"}                                      # data in raw units
VALIDATION = {"validation_in_training", "validation_unlike_training", "random_evaluation"}   # a validation loss
                                                                                  # that says nothing of new rows
EXPLAINED_BY: dict[str, set[str]] = {
    "vanishing_gradients": {"detached_parameters", "batch_mixing", *STEPS_OVERSHOT},   # a cut graph, mixed rows or
                                                                  # steps that knocked the units flat starve layers
    "overfitting": {"target_leak", "no_signal", "non_finite", *STEPS_OVERSHOT, *GROUPED, *VALIDATION,
                    "target_errors"},
    "non_finite": {"bad_start", "line_search_on_batches"},
    "lr_too_high": {*SCALE, "bad_start", "batch_norm_small_batches", "unshuffled_data"},
    "exploding_gradients": {*SCALE, "loss_target_mismatch", "bad_start", "non_finite", *STEPS_OVERSHOT,
                            "batch_norm_small_batches", "unshuffled_data"},
    "dead_units": {*SCALE, "no_signal", "bad_start", "loss_unpaired", "detached_parameters", "non_finite",
                   *STEPS_OVERSHOT, "vanishing_gradients", "overfitting"},
    "lr_too_low": {"unscaled_target", "no_signal", "bad_start", "vanishing_gradients", "dead_units", *HELD_BACK},
    "bad_start": SCALE,
    "not_converged": {*SCALE, "target_leak", "loss_target_mismatch", "no_signal", "class_imbalance",
                      "bad_start", "non_finite", *STEPS_OVERSHOT, "vanishing_gradients", "dead_units", "lr_too_low",
                      *GROUPED, *HELD_BACK, *VALIDATION},
    "plateau": {*SCALE, "target_leak", "loss_target_mismatch", "no_signal", "class_imbalance", "bad_start",
                "non_finite", *STEPS_OVERSHOT, "vanishing_gradients", "dead_units", "lr_too_low", "not_converged",
                "underfitting", *GROUPED, *HELD_BACK},
    "underfitting": {*SCALE, "target_leak", "loss_target_mismatch", "no_signal", "class_imbalance",
                     "bad_start", "non_finite", *STEPS_OVERSHOT, "exploding_gradients", "vanishing_gradients",
                     "dead_units", "lr_too_low", "not_converged", *GROUPED, *HELD_BACK,
                     "validation_unlike_training", "random_evaluation"},   # judged on references, not on held-out
                                                                           # rows: copied ones leave it meaningful
    "no_signal": {"batch_mixing", "loss_unpaired", "embedding_ids"},   # a model whose rows mix, whose loss never
                                                        # pairs them, or whose ids all read as one or two rows of
                                                        # its table cannot beat a constant whatever the data hold
    "class_imbalance": {"unscaled_inputs", "unshuffled_data", "bad_start", "non_finite", *STEPS_OVERSHOT,
                        "vanishing_gradients", "dead_units", "lr_too_low", "lr_decayed_early"},
    "class_weighting": {"loss_target_mismatch"},   # probabilities read as scores all lie above 0: one class
    "loss_metric_mismatch": {"loss_target_mismatch", "no_signal", "class_imbalance", "bad_start", *STEPS_OVERSHOT,
                             *VALIDATION},
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
    """Drop every finding that a present cause explains (see EXPLAINED_BY), listing it in that cause's evidence. A
    cause that is only info (a question, such as a column that may leak) folds only info findings: it never hides a
    warning or an error."""
    kept, folded = [], {}
    for f in findings:
        codes = {g.code for g in findings if g.severity != "info" or f.severity == "info"}
        causes = EXPLAINED_BY.get(f.code, set()) & codes
        if causes:
            folded.setdefault(next(g.code for g in ordered(findings) if g.code in causes), []).append(f.code)
        else:
            kept.append(f)
    return [Finding(f.code, f.severity, f.steps, {**f.evidence, "explains": folded[f.code]}, f.message, f.fix,
                    f.change) if f.code in folded else f for f in kept]


def diagnose(readings: Readings) -> list[Finding]:
    """Measure the curve, run every rule on the readings and return the findings root cause first. The steps of
    auto's lr sweep, which raises the lr on purpose until the loss turns, are left out when training followed."""
    errors = guarded("leaving out the lr sweep", _leave_out_sweep, readings)
    errors += list(readings.errors) + guarded("measuring the loss curve", _measure, readings)
    found = [f for rule in DATA_RULES + RULES + OUTCOME_RULES + RESTRAINT_RULES + WIRING_RULES + SETUP_RULES
             for f in _run(rule, readings)] if readings.curve else []
    return ordered(fold(found) + rollbacks(readings)) + errors


def _leave_out_sweep(r: Readings) -> None:
    """Drop the sweep's records and the per-layer samples taken during it (their lr rose on purpose, decades
    below and above the one training went on with), when training went on after it; its first finite loss is kept,
    where the weights training went on from started."""
    trained = [record for record in r.history if not record.get("sweep")]
    if not trained or len(trained) == len(r.history):
        return
    r.sweep_start = next((x["loss"] for x in r.history if x.get("sweep") and math.isfinite(x["loss"])), None)
    r.history, after = trained, trained[0]["step"]
    kept = [i for i, step in enumerate(r.sampled_steps) if step >= after]
    if kept and len(r.layer_grads) == len(r.sampled_steps) == len(r.update_ratios):
        r.layer_grads = [r.layer_grads[i] for i in kept]
        r.update_ratios = [r.update_ratios[i] for i in kept]
        r.sampled_steps = [r.sampled_steps[i] for i in kept]


def _measure(readings: Readings) -> None:
    readings.curve = measure(readings.history, readings.finite)
