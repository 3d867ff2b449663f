"""Rules about how far a run got: still improving at its limit, stuck on a plateau, overfitting, short of a
reference, or a metric that disagrees with the loss. Each judges the end of the run against the run's own noise
and against references fitted on the same rows (see reference.py)."""
from __future__ import annotations

import math
import statistics

import numpy as np

from ..core.frontend import on_command_line
from .advice import (MIN_STEPS, base_lr, can_memorize, coarse_adaptive_lr, constant_losses, line_search,
                     linear_model, longer, loss_ends, lr_change, median_update_ratio, refs, restores_best, setting,
                     stuck_at_constant, train_longer, typed, with_flags, worse_than_reference)
from .findings import Finding
from .inputs import zero_one
from .instruments import Readings
from .reference import better

CLOSE_WITHIN = 9       # not converged: at its last rate, the run closes the gap to the reference within 9 more runs
FAST = 0.5             # ... or, at its last rate, one more run as long would cut the loss by half of itself


def plateau(r: Readings) -> Finding | None:
    """The loss changed by under 5% over the run although the weights kept moving, not at a level a linear
    reference cannot beat, and not while the validation loss kept falling."""
    steps, s = r.curve.steps, r.curve.smoothed
    ratio = median_update_ratio(r)
    if len(s) < MIN_STEPS or (ratio is not None and ratio < 1e-4):
        return None
    start, end = loss_ends(r)
    change = abs(start - end) / max(abs(start), 1e-12)
    stuck = stuck_at_constant(r)   # at the constant's level a reference cannot tell a plateau from no signal
    if change >= 0.05 or (worse_than_reference(r) is False and not stuck):   # flat at a good loss is converged
        return None
    if _validation_fell(r):   # a robust loss on gross outliers stays flat while the fit itself keeps improving
        return None
    return Finding("plateau", "warning", (steps[0], steps[-1]), {"start": start, "end": end, "change": change},
                   f"plateau: the loss stayed near {end:.4g} from step {steps[0]} to {steps[-1]} "
                   f"(changed {change:.1%}) although the weights kept moving" + (
                       "; a model this size fits even random labels once its steps work, yet it ended at a "
                       "constant prediction's loss on its own training rows" if stuck else ""),
                   "check the model can learn at all (activations, initialization, labels)" +
                   (f", then try {_higher_lr(r)}" if _higher_lr(r) else ""))


def _validation_fell(r: Readings) -> bool:
    """Whether the validation loss's last three evaluations average over 5% below its first: the model kept
    learning, whatever its training loss shows."""
    values = [v for _, _, v in r.curve.gap]
    return len(values) >= 4 and statistics.fmean(values[-3:]) < 0.95 * values[0]


def _higher_lr(r: Readings) -> str:
    """The lr advice of a stalled run: none under a line search (it has no lr), above the lr auto's sweep picked
    when it picked one (a fix then names the optimizer), else just a higher one."""
    if line_search(r):
        return ""
    if r.auto_lr is not None:
        return f"an lr above the {typed(r.auto_lr)} auto's sweep picked, with the optimizer named"
    return "a higher lr"


def _still_falling(values: list[float]) -> tuple[bool, float]:
    """Whether a least-squares line through `values` falls more than three standard errors of its slope, and how
    much it falls per value."""
    if len(values) < 3:
        return False, 0.0
    t = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(t, values, 1)
    residual = np.asarray(values) - (slope * t + intercept)
    se = math.sqrt(residual.var() * len(t) / max(len(t) - 2, 1) / ((t - t.mean()) ** 2).sum())
    return slope < -3 * se, -float(slope)


def falling_rate(r: Readings) -> tuple[bool, float]:
    """Whether the loss was still falling at the end (a line through the last half of the training losses falls
    beyond three standard errors, or the last three validation losses each fell), and how much it fell per step."""
    raw = [loss for _, loss in r.finite("loss")]
    falling, slope = _still_falling(raw[len(raw) // 2:])
    evals = [(step, v) for step, _, v in r.curve.gap][-3:]
    if len(evals) == 3 and evals[0][1] > evals[1][1] > evals[2][1]:
        val_slope = (evals[0][1] - evals[2][1]) / max(evals[2][0] - evals[0][0], 1)
        return True, max(slope, val_slope)
    return falling, slope


def _runs_to_close(r: Readings, per_step: float) -> float:
    """How many more runs of this length the model needs to close 90% of its gap to the reference at the rate
    `per_step` it fell at the end (a loss that approaches its level exponentially closes 90% of the gap in
    ln(10) time constants, gap / rate)."""
    gap = float(r.model_losses.mean() - refs(r).best().mean())
    return math.log(10) * gap / (per_step * r.history[-1]["step"])


def not_converged(r: Readings) -> Finding | None:
    """The run stopped at its step or epoch limit while the loss was still falling, short of a linear reference,
    and a few more runs of the same length would close the gap at that rate; else the model or the data is the
    limit, which other rules name. Not while the run overfits: a validation loss that rose from its best while the
    training loss fell is short of the reference for that, and more steps widen the gap. Under a line search
    (L-BFGS on a full batch, no batch noise), a loss still falling fast is not converged whatever the reference
    says: a nonlinear model beats a linear one long before it has converged."""
    if r.stop_code not in ("max_steps", "max_epochs") or len(r.history) < 20:
        return None
    falling, per_step = falling_rate(r)
    if not falling or per_step <= 0 or overfitting(r) is not None:
        return None
    if worse_than_reference(r) is not True:
        return _falling_fast(r, per_step) if line_search(r) else None
    runs = _runs_to_close(r, per_step)
    if runs > CLOSE_WITHIN:
        return None
    change = longer(r, math.ceil(2 * runs) + 1)   # twice: 99% of the gap in ln(100) time constants, not 90%
    gap = float(r.model_losses.mean() - refs(r).best().mean())
    return Finding("not_converged", "warning", (r.history[len(r.history) // 2]["step"], r.history[-1]["step"]),
                   {"per_step": per_step, "gap_to_reference": gap, "runs_to_close": runs},
                   f"not converged: the run stopped at its limit while the loss was still falling ({per_step:.3g} "
                   f"per step), {gap:.4g} short of a linear model on the same rows",
                   train_longer(r, change), change)


def _falling_fast(r: Readings, per_step: float) -> Finding | None:
    """not_converged for a loss that, at the rate it fell at the end, one more run as long would cut by FAST of
    its final level. With validation data the validation loss is the one judged (over its last three evaluations,
    each lower than the one before): a training loss falling towards zero says nothing about the held-out one."""
    end, steps = loss_ends(r)[1], r.history[-1]["step"]
    evals = [(step, v) for step, _, v in r.curve.gap][-3:]
    if evals:
        if len(evals) < 3 or not evals[0][1] > evals[1][1] > evals[2][1]:
            return None
        end, per_step = evals[2][1], (evals[0][1] - evals[2][1]) / max(evals[2][0] - evals[0][0], 1)
    if not end > 0 or per_step * steps < FAST * end:
        return None
    change = longer(r, 4)
    advice = train_longer(r, change, "leave max_epochs and max_steps out, so that auto's L-BFGS runs until it has "
                          "converged, or train longer" if r.auto_optimizer == "lbfgs" else "train longer")
    return Finding("not_converged", "warning", (r.history[len(r.history) // 2]["step"], steps),
                   {"per_step": per_step, "final_loss": end, "steps_to_halve": end / (2 * per_step)},
                   f"not converged: the run stopped at its limit while the loss was still falling fast "
                   f"({per_step:.3g} per step; at that rate {math.ceil(end / (2 * per_step))} more steps would halve "
                   f"its {end:.4g})", advice, change)


def _evaluations(r: Readings, key: str) -> list[tuple[int, float]]:
    return [(x["step"], x[key]) for x in r.history if key in x and math.isfinite(x[key])]


def overfitting(r: Readings) -> Finding | None:
    """Validation loss above its best by more than the noise of its evaluations (3x the median change between
    evaluations before the best, and 2% of it) while the training loss kept falling below it. A run that stopped
    because it converged (auto's L-BFGS memorizing a few rows in a dozen steps) would stay where it ended: its last
    evaluation is final, so two evaluations suffice and no noise is allowed for."""
    gap, settled = r.curve.gap, r.stop_code == "converged"
    if len(gap) < (2 if settled else 4):
        return None
    best_i = min(range(len(gap)), key=lambda i: gap[i][2])
    (best_step, train_best, best), (last_step, train_last, last) = gap[best_i], gap[-1]
    later = [v for _, _, v in gap[best_i + 1:]]
    if len(later) < (1 if settled else 2):
        return None
    steps_between = [abs(gap[i + 1][2] - gap[i][2]) for i in range(len(gap) - 1)]
    noise = statistics.median(steps_between) if steps_between and not settled else 0.0
    rise = statistics.median(later[-max(2, len(later) // 3):]) - best   # the end, not one noisy evaluation
    if rise <= 2 * noise or rise <= 0.02 * abs(best) or last - best < 0.02 * abs(best):
        return None
    if not (train_last < 0.98 * train_best and last > 1.2 * train_last):  # training still improving (beyond the
        return None                                                       # 2% the validation rise needs), a gap
    if r.target_baseline is not None and train_last >= r.target_baseline:
        return None
    held = _metrics_held(r, best_step, last_step)
    kept = r.restored_step if restores_best(r) else None
    severity, words, change = _past_kept(r, kept, last_step) if kept is not None else (
        "warning", f"{_held_last(r, best_step)}stop earlier with stop=[Patience(5, restore_best=True)], or add weight "
                   f"decay or more data", {"patience": 5})
    said = f"; {', '.join(held)} did not get worse, so the rise is in confidence, not in predictions" if held else ""
    if kept is not None:
        said += (f"; the model holds step {kept}'s weights, its best evaluation, so the {last_step - kept} steps "
                 f"after them ({(last_step - kept) / last_step:.0%} of the run) cost time, not the result")
    return Finding("overfitting", "info" if held else severity, (best_step, last_step),
                   {"val_best": best, "val_last": last, "train_at_best": train_best, "train_last": train_last,
                    "restored_best": kept is not None, "kept_step": kept, "metrics_held": held},
                   f"overfitting: validation loss rose from {best:.4g} at step {best_step} to {last:.4g} at step "
                   f"{last_step} while the training loss fell from {train_best:.4g} to {train_last:.4g}{said}",
                   with_flags(words, change), change)


BETTER_THAN_KEPT = ("a lower validation loss than theirs needs more rows or a model that overfits later (smaller, "
                    "or with more weight decay), which this run cannot tell apart: compare them on held-out data")


def _past_kept(r: Readings, kept: int, last_step: int) -> tuple[str, str, dict]:
    """Severity, advice and change of an overfitting run that ended holding the weights of its best evaluation
    (step `kept`): the rise after it cost steps, not the result. A stop rule's wait (the caller's Patience, auto's
    L-BFGS patience) is the price of knowing the best has passed: info, with nothing to change. Auto's kept best
    does not stop the run: when most of the run came after the kept weights, a patience would have saved those
    steps with the same weights (a warning whose change is that patience), else info."""
    if "keeps_best" not in r.auto_limit:
        return "info", f"those steps were the stop rule's wait to see the best pass, nothing to change; " \
                       f"{BETTER_THAN_KEPT}", {}
    change = {"patience": 5}
    words = (f"stop=[Patience(5, restore_best=True)] ends the run five evaluations after its best and keeps the "
             f"same weights; {BETTER_THAN_KEPT}")
    return ("warning" if last_step - kept > kept else "info"), words, change


def _held_last(r: Readings, best_step: int) -> str:
    """Why auto's kept best evaluation left the last weights in place (its lower val_loss was within the validation
    rows' noise), which the model then holds; empty for any other run."""
    if "keeps_best" in r.auto_limit:
        return (f"the model holds the last weights (auto keeps its best evaluation's only when they beat the last "
                f"beyond the validation rows' noise, and step {best_step}'s did not); ")
    return ""


MEMORIZED = 0.1   # a training loss under this share of a constant prediction's has fit its rows


def memorized(r: Readings) -> Finding | None:
    """Overfitting that no evaluation saw begin: the training loss ended under MEMORIZED of a constant prediction's
    while every validation evaluation stayed over 1.2x it (worse on new rows than predicting the training mean),
    so there is no best to stop at; a run that fits its rows within its first evaluation (auto's L-BFGS on a few
    rows, a model with a free parameter per id) shows nothing else. Left to overfitting when a rise shows."""
    gap, base = r.curve.gap, r.target_baseline
    if len(gap) < 2 or base is None or base <= 0 or overfitting(r) is not None:
        return None
    train_last, val_best = loss_ends(r)[1], min(v for _, _, v in gap)   # raw losses: a short run's average lags
    if train_last >= MEMORIZED * base or val_best <= 1.2 * base:
        return None
    wd = setting(r, "weight_decay") or 0.01
    change = {"weight_decay": min(wd * 10, 1.0)}
    return Finding("overfitting", "warning", (gap[0][0], gap[-1][0]),
                   {"val_best": val_best, "train_last": train_last, "constant_baseline": base},
                   f"overfitting from the first evaluation: the training loss ended at {train_last:.4g}, under "
                   f"{MEMORIZED:.0%} of a constant prediction's ({base:.4g}), while the validation loss never got "
                   f"below {val_best:.4g}, {val_best / base:.3g}x the constant's: the model fits its own rows and is "
                   f"worse on new ones than predicting the mean",
                   with_flags(f"regularize (weight_decay={change['weight_decay']:g}), use a smaller model, or get more "
                              f"data", change), change)


SCORE_WORDS = ("accuracy", "auc", "f1", "precision", "recall", "r2")   # a user's metric so named: higher is better
ERROR_WORDS = ("mse", "mae", "rmse", "error")                        # ... lower is better


def _higher_is_better(metric: str) -> bool | None:
    """Whether a metric improves as it rises: fit's named ones, or a user's callable named in the usual words
    (balanced_accuracy, roc_auc, macro_f1; pixel_error); None when its name does not say."""
    name = metric.lower()
    if metric in SCORES or any(word in name for word in SCORE_WORDS):
        return True
    if metric in ERRORS or any(word in name for word in ERROR_WORDS):
        return False
    return None


def _metrics_held(r: Readings, best_step: int, last_step: int) -> list[str]:
    """The validation metrics (accuracy, mse, a user's balanced_accuracy, ...) the run recorded, when none of them
    got worse between the evaluation with the best validation loss and the last one by more than 1.5 resolutions
    (see _resolution); empty when one did or none was recorded. A weighted loss can rise on a few heavy rows while
    the measure the user watches still improves."""
    at = {x["step"]: x for x in r.history if x["step"] in (best_step, last_step)}
    keys = sorted(k for k in at.get(last_step, {})
                  if k.startswith("val_") and k != "val_loss" and _higher_is_better(k[4:]) is not None)
    held = []
    for key in keys:
        before, after = at.get(best_step, {}).get(key), at[last_step][key]
        if before is None or not (math.isfinite(before) and math.isfinite(after)):
            return []
        higher = _higher_is_better(key[4:])
        loss = before - after if higher else after - before
        if loss > 1.5 * _resolution(r, key[4:], before, higher):
            return []
        held.append(key)
    return held


def underfitting(r: Readings) -> Finding | None:
    """The loss levelled off and the model does clearly worse than a linear reference on the same rows (or,
    for a model without hidden activations, than ridge on random features). A model that never fit its own
    training rows (see stuck_at_constant) shows nothing about its capacity: the plateau is named instead; one
    stepped by an adaptive optimizer at a coarse lr (see coarse_adaptive_lr) says nothing about it either:
    lr_too_high names that. A run of fewer than MIN_STEPS steps shows no level the loss settled at (the doctor then
    says its steps are too few to judge), whichever run of a fit it is."""
    if len(r.curve.smoothed) < MIN_STEPS or not worse_than_reference(r) or stuck_at_constant(r) \
            or coarse_adaptive_lr(r):
        return None
    falling, per_step = falling_rate(r)
    if falling and per_step > 0 and _runs_to_close(r, per_step) <= CLOSE_WITHIN:
        return None   # still closing the gap: not converged, not short of capacity
    found = refs(r)
    best = found.best()
    linear = linear_model(r)
    if linear and found.linear is not None and better(found.linear, r.model_losses, by=0.05):
        return None   # a linear model short of a linear fit is not at its optimum: not a matter of capacity
    if r.curve.smoothed and r.curve.smoothed[-1] < float(best.mean()):
        return None   # it fits its training rows better than the reference does new ones: capacity is no limit
    model, reference = float(r.model_losses.mean()), float(best.mean())
    constant = float(found.constant.mean())
    words, change = _capacity_advice(r, linear)
    return Finding("underfitting", "warning", None,
                   {"model_loss": model, "reference_loss": reference, "constant_baseline": constant},
                   f"underfitting: the trained model's mean loss on {_rows_read(r)} is {model:.4g}, clearly worse "
                   f"than a reference's on the same rows ({reference:.4g}; a constant prediction gets {constant:.4g})",
                   with_flags(words, change), change)


def _rows_read(r: Readings) -> str:
    """The rows the model's loss in a comparison was read on, in words: validation rows, or training rows scored
    after training (so the number is not the history's last loss, one batch's during the last step)."""
    rows = len(r.sample.y_eval)
    if r.sample.held_out:
        return f"{rows} validation rows"
    return f"{rows} training rows, scored after training (not one batch's, as the history's last loss is)"


def _capacity_advice(r: Readings, linear: bool) -> tuple[str, dict]:
    """Words and change for a model short of a reference: hidden layers for a linear model; for one with more
    parameters than rows (see can_memorize) its training, not its size: a 10x higher lr (more steps under a line
    search); else a larger model."""
    if linear:
        return "a linear model cannot fit this: use an MLP with hidden layers", {"capacity": "larger"}
    if can_memorize(r):
        change = longer(r) if line_search(r) else lr_change(r, 10 * base_lr(r))
        how = "train longer" if line_search(r) else f"train at lr {typed(change['lr'])}"
        return f"{how}: the model has more parameters than training rows, so its size does not hold it back", change
    flag = "; descend fit: wider --hidden layers" if on_command_line() else ""
    return (f"use a larger model (wider or deeper{flag}) or train longer" +
            (f" with {_higher_lr(r)}" if _higher_lr(r) else ""), {"capacity": "larger"})


SCORES = {"accuracy"}                  # higher is better, at most 1
ERRORS = {"mse", "rmse", "mae"}         # lower is better, at least 0
PERFECT = 1.0                           # the best value of a score (SCORES, SCORE_WORDS): every example right


def _resolution(r: Readings, metric: str, first: float, higher: bool | None = None) -> float:
    """The smallest change of a metric that means something: one validation example's worth of accuracy (or of
    another score, `higher` True; 0.01 when the size is unknown), 1% of the first value of an error."""
    if metric in SCORES or higher:
        return 1.0 / r.val_size if r.val_size else 0.01
    return 0.01 * abs(first)


def _majority_level(r: Readings, p: float | None = None) -> float:
    """The highest validation accuracy still explained by always predicting the most common training class (share
    `p`, else the run's): its share plus two standard errors of a share measured on the validation examples (-inf
    when unknown), kept under a perfect score: every example right agrees with any falling loss, and on a few
    validation rows two standard errors reach past 1."""
    p = r.majority_share if p is None else p
    if p is None:
        return -math.inf
    level = p + 2 * math.sqrt(p * (1 - p) / r.val_size) if r.val_size else p + 0.02
    return min(level, PERFECT - _resolution(r, "accuracy", PERFECT) / 2)


def loss_metric_mismatch(r: Readings) -> Finding | None:
    """The validation loss fell by a fifth or more while a metric got worse by more than one resolution, or
    (accuracy) stayed where always predicting the most common class would put it; or a score froze at such a
    value while the model clearly learnt (see _frozen_score)."""
    losses = _handed_back(r, "val_loss")
    if len(losses) < 3:
        return None
    frozen = _frozen_score(r, losses[-1][1])
    if frozen:
        key, value, count = frozen
        return Finding("loss_metric_mismatch", "warning", (losses[0][0], losses[-1][0]),
                       {"metric": key, "metric_first": value, "metric_last": value, "evaluations": count,
                        "loss_last": losses[-1][1], "majority_share": _class_share(r)},
                       f"loss and metric disagree: the validation loss ended at {losses[-1][1]:.4g}, under half a "
                       f"constant prediction's, but {key} kept the value {value:.4g} at all {count} evaluations, no "
                       f"better than always predicting the most common training class ({_class_share(r):.3g})",
                       "check the metric against the model's output: it does not read what training changed (an "
                       "argmax over a single output column, a threshold on the wrong scale, the wrong dimension)")
    if losses[-1][1] > 0.8 * losses[0][1]:
        return None
    for key in sorted(k for k in r.history[-1] if k.startswith("val_") and k[4:] in SCORES | ERRORS):
        metric, values = key[4:], _handed_back(r, key)
        first, last = values[0][1], values[-1][1]
        step = _resolution(r, metric, first)
        gain = last - first if metric in SCORES else first - last
        trivial = metric in SCORES and last <= _majority_level(r)
        worse, stuck = gain < -1.5 * step, abs(gain) <= 1.5 * step and trivial
        if worse or stuck:
            went = f"{key} got worse ({first:.4g} to {last:.4g})" if worse else (
                f"{key} went from {first:.4g} to {last:.4g}, no better than always predicting the most common "
                f"training class ({r.majority_share:.3g})")
            return Finding("loss_metric_mismatch", "warning", (losses[0][0], losses[-1][0]),
                           {"metric": key, "metric_first": first, "metric_last": last, "resolution": step,
                            "loss_first": losses[0][1], "loss_last": losses[-1][1]},
                           f"loss and metric disagree: validation loss fell from {losses[0][1]:.4g} to "
                           f"{losses[-1][1]:.4g} but {went}",
                           "train on a loss that matches the metric (class weights for imbalanced data, "
                           "or a different loss)")
    return None


def _handed_back(r: Readings, key: str) -> list[tuple[int, float]]:
    """The evaluations of `key` up to the weights the model hands back: where a stop rule put its best weights back
    (the caller's Patience, auto's kept best), those of the restored step; later ones describe weights the user does
    not get."""
    values = _evaluations(r, key)
    kept = r.restored_step
    return values if kept is None else [(step, value) for step, value in values if step <= kept]


def _frozen_score(r: Readings, loss: float) -> tuple[str, float, int] | None:
    """(name, value, evaluations) of a score (a metric whose name says higher is better) that took one value at
    every evaluation, no better than always predicting the most common class, while the validation loss ended
    under half a constant prediction's: a model that clearly learnt, measured by something that does not read it."""
    constant, share = constant_losses(r), _class_share(r)
    if constant is None or share is None or not loss < 0.5 * float(constant.mean()):
        return None
    for key in sorted(k for k in r.history[-1] if k.startswith("val_") and k != "val_loss"):
        values = [v for _, v in _handed_back(r, key)]
        if _higher_is_better(key[4:]) and len(values) >= 3 and len(set(values)) == 1 \
                and values[0] <= _majority_level(r, share):
            return key, values[0], len(values)
    return None


def _class_share(r: Readings) -> float | None:
    """The most common class's share of the training rows: class ids' (the run's reading), or for one column of
    0/1 floats (a bce target) the larger of the two shares; None for other targets."""
    if r.majority_share is not None:
        return r.majority_share
    y = r.sample.y if r.sample is not None else None
    if y is None or y.dim() != 1 or not y.dtype.is_floating_point or not len(y) or not zero_one(y):
        return None
    positive = float(y.mean())
    return max(positive, 1 - positive)


OUTCOME_RULES = [not_converged, plateau, overfitting, memorized, underfitting, loss_metric_mismatch]
