"""Rules: each turns the Readings of a finished run into at most one Finding, with numbers in plain words.

Thresholds are deliberately conservative: a healthy run must raise no warning (false alarms teach people to
ignore the doctor). `diagnose` measures the loss curve, runs every rule, drops a finding that another one
explains (a diverging run's validation loss rises too, which is not overfitting) and orders the rest root cause
first. A fix names the fit() argument and, where `descend fit` has one, its command-line option.
"""
from __future__ import annotations

import math
import statistics

import numpy as np
import torch

from .curves import SWING, measure
from .findings import Finding, ordered
from .instruments import Readings

MIN_STEPS = 20          # trend rules need at least this many steps
RISE = 2.5              # diverged: the smoothed loss climbed to RISE x its lowest value so far ...
STAYED = 10             # ... and the median of the next STAYED raw losses stayed above twice that low
OSCILLATING = 2         # oscillated: at least this many rebounds of the smoothed loss (see curves.swings)


def finite(values) -> list[float]:
    return [v for v in values if math.isfinite(v)] or [math.inf]


def _lr_at(history: list[dict], step: int) -> float:
    return next((r["lr"] for r in history if r["step"] >= step), history[-1]["lr"])


def _lower_lr(r: Readings, lr: float) -> str:
    """The fix for a learning rate that is too high, quoting the better lr the run already knows of."""
    if r.interventions:
        safe = r.interventions[-1]["lr"]
        return f"start at lr {safe:.1e}, where doctor='fix' recovered the run (descend fit: --lr {safe:.1e})"
    if r.auto_lr is not None:
        return (f"try lr {lr / 10:.1e}: lr='auto' took lr_find's suggestion {r.auto_lr:.1e}, too high for this "
                f"run (descend fit: --lr {lr / 10:.1e})")
    return f"try lr {lr / 10:.1e} (descend fit: --lr {lr / 10:.1e}), or lr='auto' to let lr_find choose (--lr auto)"


def non_finite(r: Readings) -> Finding | None:
    if r.stop_code != "non_finite" or r.non_finite_origin is None:
        return None
    step = r.history[-1]["step"] if r.history else 0
    origin, from_data = r.non_finite_origin.detail, r.non_finite_origin.from_data
    count = r.non_finite["count"]
    earlier = f"; {count - 1} earlier step(s) with NaN/Inf were rolled back" if count > 1 else ""
    lr = r.history[-1]["lr"] if r.history else math.nan
    fix = ("drop or impute the rows holding NaN/Inf before training" if from_data
           else f"lower the learning rate (try lr {lr / 10:.1e}) or clip gradients with grad_clip=1.0")
    return Finding("non_finite", "error", (step, step), {"origin": origin, "from_data": from_data, "count": count},
                   f"non-finite values (NaN/Inf) at step {step} (origin: {origin.split('; ')[0]}){earlier}", fix)


def _diverged(r: Readings) -> tuple[int, int, float] | None:
    """(index of the low, index of the peak, rise) of the largest climb of the smoothed loss above its lowest
    value so far, when it is at least RISE x, matters next to how far the loss had fallen, and stayed up."""
    steps, s = r.curve.steps, r.curve.smoothed
    low_i, worst = 0, (1.0, 0, 0)
    for t in range(len(s)):
        if s[t] < s[low_i]:
            low_i = t
        ratio = s[t] / max(s[low_i], 1e-12)
        if ratio > worst[0]:
            worst = (ratio, low_i, t)
    ratio, lo, hi = worst
    rise_matters = s[hi] - s[lo] > 0.05 * max(s[0] - s[lo], 0.0) + 1e-12
    at = next(i for i, x in enumerate(r.history) if x["step"] == steps[hi])
    after = finite(x["loss"] for x in r.history[at:at + STAYED])  # one spike is not divergence
    if ratio < RISE or not rise_matters or statistics.median(after) < 2 * s[lo]:
        return None
    return lo, hi, ratio


def lr_too_high(r: Readings) -> Finding | None:
    """Diverged (see _diverged) or oscillated (see OSCILLATING)."""
    steps, s, swings = r.curve.steps, r.curve.smoothed, r.curve.swings
    if len(s) < 10 or min(s) <= 0:  # ratios of losses only mean something for positive losses
        return None
    diverged = _diverged(r)
    if diverged is not None:
        lo, hi, rise = diverged
        first, last, low, peak = steps[lo], steps[hi], s[lo], s[hi]
        what = (f"the smoothed loss rose {rise:.3g}x between steps {first} and {last} (from {low:.4g} to "
                f"{peak:.4g}) and stayed up")
    elif len(swings) >= OSCILLATING:
        big = max(swings, key=lambda w: w.peak / w.low)
        first, last, low, peak, rise = swings[0].low_step, swings[-1].peak_step, big.low, big.peak, big.peak / big.low
        what = (f"the loss oscillated: the smoothed loss climbed back to {SWING:g}x its low or more {len(swings)} "
                f"times between steps {first} and {last}, at most {rise:.3g}x (from {low:.4g} at step "
                f"{big.low_step} to {peak:.4g} at step {big.peak_step})")
    else:
        return None
    lr = _lr_at(r.history, first)
    kind = "diverged" if diverged is not None else "oscillated"
    return Finding("lr_too_high", "warning", (first, last),
                   {"kind": kind, "rise": rise, "low": low, "peak": peak, "swings": len(swings), "lr": lr},
                   f"learning rate too high: {what} at lr {lr:.2e}", _lower_lr(r, lr))


def _median_update_ratio(r: Readings) -> float | None:
    values = [v for sample in r.update_ratios for v in sample.values() if math.isfinite(v)]
    return statistics.median(values) if values else None


def exploding_gradients(r: Readings) -> Finding | None:
    """A gradient norm more than 100x the median of the 20 steps before it (after the first 10 steps) and above
    every norm of the first 10 steps (the size the run started at)."""
    records = [(x["step"], x["grad_norm"]) for x in r.history if math.isfinite(x.get("grad_norm", math.nan))]
    if len(records) < 31:
        return None
    norms = np.array([g for _, g in records])
    before = np.median(np.lib.stride_tricks.sliding_window_view(norms[:-1], 20), axis=1)  # before[i]: steps i..i+19
    jump = norms[20:] / np.maximum(before, 1e-12)
    i = int(np.argmax(jump[10:])) + 10
    step, peak = records[i + 20]
    if jump[i] <= 100 or peak <= norms[:10].max():  # tiny gradients near a minimum may jump and still be small
        return None
    return Finding("exploding_gradients", "warning", (step, step), {"peak": peak, "median_before": float(before[i])},
                   f"exploding gradients: the gradient norm jumped to {peak:.3g} at step {step}, "
                   f"{jump[i]:.3g}x its median over the 20 steps before ({before[i]:.3g})",
                   "clip gradients with grad_clip=1.0 and lower the learning rate")


def _input_to_output_ratio(r: Readings) -> float | None:
    """Median over sampled steps of (first layer's weight-gradient norm / last layer's)."""
    ratios = []
    for sample in r.layer_grads:
        norms = list(sample.values())
        if len(norms) >= 3 and norms[-1] > 0:
            ratios.append(norms[0] / norms[-1])
    return statistics.median(ratios) if ratios else None


def vanishing_gradients(r: Readings) -> Finding | None:
    ratio = _input_to_output_ratio(r)
    if ratio is None or ratio >= 1e-3:
        return None
    names = list(r.layer_grads[0])
    return Finding("vanishing_gradients", "warning", (r.sampled_steps[0], r.sampled_steps[-1]) if r.sampled_steps
                   else None, {"first_to_last": ratio, "first": names[0], "last": names[-1], "layers": len(names)},
                   f"vanishing gradients: the first layer ({names[0]}) gets gradients {1 / ratio:.3g}x smaller "
                   f"than the last ({names[-1]}) across {len(names)} layers",
                   "use ReLU/GELU instead of sigmoid/tanh, add normalization or residual connections, "
                   "or a fan-in initialization (init='kaiming')")


def dead_units(r: Readings) -> Finding | None:
    worst = None
    for name, samples in r.dead.items():
        recent = torch.stack(samples[-5:])
        if recent.shape[1] < 4:
            continue
        dead = 1.0 - recent.any(dim=0).double().mean().item()
        if dead > 0.5 and (worst is None or dead > worst[1]):
            worst = (name, dead, recent.shape[1])
    if worst is None:
        return None
    name, dead, units = worst
    return Finding("dead_units", "warning", None, {"layer": name, "dead_fraction": dead, "units": units},
                   f"dead units: {dead:.0%} of the {units} units after {name!r} output zero for every example "
                   f"in the last sampled batches", "lower the learning rate, check bias initialization, or use "
                   "LeakyReLU/GELU")


def lr_too_low(r: Readings) -> Finding | None:
    steps, s = r.curve.steps, r.curve.smoothed
    ratio = _median_update_ratio(r)
    if len(s) < MIN_STEPS or ratio is None or ratio >= 1e-4:
        return None
    change = (s[-1] - s[0]) / max(abs(s[0]), 1e-12)
    if abs(change) >= 0.2:
        return None
    lr = r.history[-1]["lr"]
    chose = f": lr='auto' took lr_find's suggestion {r.auto_lr:.1e}, too low here" if r.auto_lr is not None else ""
    return Finding("lr_too_low", "warning", (steps[0], steps[-1]), {"change": change, "update_ratio": ratio, "lr": lr},
                   f"learning rate too low: each step changed the weights by only {ratio:.1e} of their size, and "
                   f"over {steps[-1]} steps the loss went from {s[0]:.4g} to {s[-1]:.4g} ({change:+.1%})",
                   f"try lr {lr * 100:.1e}{chose} (descend fit: --lr {lr * 100:.1e}); about 1e-3 of the weights "
                   "per step is typical")


def plateau(r: Readings) -> Finding | None:
    steps, s = r.curve.steps, r.curve.smoothed
    ratio = _median_update_ratio(r)
    if len(s) < MIN_STEPS or (ratio is not None and ratio < 1e-4):
        return None
    change = abs(s[0] - s[-1]) / max(abs(s[0]), 1e-12)
    if change >= 0.05:
        return None
    return Finding("plateau", "warning", (steps[0], steps[-1]), {"start": s[0], "end": s[-1], "change": change},
                   f"plateau: the loss stayed near {s[-1]:.4g} from step {steps[0]} to {steps[-1]} "
                   f"(changed {change:.1%}) although the weights kept moving",
                   "check the model can learn at all (activations, initialization, labels), then raise the lr")


def _evaluations(r: Readings, key: str) -> list[tuple[int, float]]:
    return [(x["step"], x[key]) for x in r.history if key in x and math.isfinite(x[key])]


def overfitting(r: Readings) -> Finding | None:
    """Validation loss well above its best while the training loss kept falling below it; not when the
    training loss is no better than a constant prediction (then the model is not fitting anything)."""
    gap = r.curve.gap
    if len(gap) < 4:
        return None
    best_i = min(range(len(gap)), key=lambda i: gap[i][2])
    (best_step, train_best, best), (last_step, train_last, last) = gap[best_i], gap[-1]
    if len(gap) - 1 - best_i < 2 or last < 1.1 * best or last - best < 0.1 * (gap[0][2] - best):
        return None  # a rise within the noise of a converged run is not overfitting
    if not (train_last < train_best and last > 1.5 * train_last):  # training still improving, and a real gap
        return None
    if r.target_baseline is not None and train_last >= r.target_baseline:
        return None
    return Finding("overfitting", "warning", (best_step, last_step),
                   {"val_best": best, "val_last": last, "train_at_best": train_best, "train_last": train_last},
                   f"overfitting: validation loss rose from {best:.4g} at step {best_step} to {last:.4g} at step "
                   f"{last_step} while the training loss fell from {train_best:.4g} to {train_last:.4g}",
                   "stop earlier with stop=[Patience(5, restore_best=True)] (descend fit: --patience 5), or add "
                   "weight_decay, dropout or more data")


def underfitting(r: Readings) -> Finding | None:
    steps, s = r.curve.steps, r.curve.smoothed
    if r.target_baseline is None or r.target_baseline <= 0 or len(s) < MIN_STEPS:
        return None
    final, quarter = s[-1], s[len(s) * 3 // 4]
    level = final / r.target_baseline
    flat = abs(quarter - final) / max(abs(quarter), 1e-12) < 0.05
    close = not r.curve.gap or r.curve.gap[-1][2] < 1.25 * final
    if level < 0.5 or not flat or not close:
        return None
    return Finding("underfitting", "warning", (steps[len(s) * 3 // 4], steps[-1]),
                   {"train_loss": final, "constant_baseline": r.target_baseline, "level": level},
                   f"underfitting: the training loss levelled off at {final:.4g}, {level:.0%} of what a constant "
                   f"prediction achieves ({r.target_baseline:.4g}), and validation is no better",
                   "use a larger model (descend fit: --hidden 128,128) or better features, or train longer with a "
                   "higher lr")


SCORES = {"accuracy"}                  # higher is better, at most 1
ERRORS = {"mse", "rmse", "mae"}         # lower is better, at least 0


def _resolution(r: Readings, metric: str, first: float) -> float:
    """The smallest change of a metric that means something: one validation example's worth of accuracy (0.01
    when the size is unknown), 1% of the first value of an error."""
    if metric in SCORES:
        return 1.0 / r.val_size if r.val_size else 0.01
    return 0.01 * abs(first)


def _majority_level(r: Readings) -> float:
    """The highest validation accuracy still explained by always predicting the most common training class: its
    share plus two standard errors of a share measured on the validation examples (-inf when unknown)."""
    p = r.majority_share
    if p is None:
        return -math.inf
    return p + 2 * math.sqrt(p * (1 - p) / r.val_size) if r.val_size else p + 0.02


def loss_metric_mismatch(r: Readings) -> Finding | None:
    """The validation loss fell by a fifth or more while a metric got worse by more than one resolution, or
    (accuracy) stayed where always predicting the most common class would put it."""
    losses = _evaluations(r, "val_loss")
    if len(losses) < 3 or losses[-1][1] > 0.8 * losses[0][1]:
        return None
    for key in sorted(k for k in r.history[-1] if k.startswith("val_") and k[4:] in SCORES | ERRORS):
        metric, values = key[4:], _evaluations(r, key)
        first, last = values[0][1], values[-1][1]
        step = _resolution(r, metric, first)
        gain = last - first if metric in SCORES else first - last
        trivial = metric in SCORES and last <= _majority_level(r)
        worse, stuck = gain < -1.5 * step, abs(gain) <= 1.5 * step and trivial
        if worse or stuck:
            went = "got worse" if worse else "stayed at the share of the most common class"
            return Finding("loss_metric_mismatch", "warning", (losses[0][0], losses[-1][0]),
                           {"metric": key, "metric_first": first, "metric_last": last, "resolution": step,
                            "loss_first": losses[0][1], "loss_last": losses[-1][1]},
                           f"loss and metric disagree: validation loss fell from {losses[0][1]:.4g} to "
                           f"{losses[-1][1]:.4g} but {key} {went} ({first:.4g} to {last:.4g})",
                           "train on a loss that matches the metric (class weights for imbalanced data, "
                           "or a different loss)")
    return None


def unscaled_inputs(r: Readings) -> Finding | None:
    """The largest input column's typical size is over 1e3, or over 100x that of the smallest column that
    varies (near-constant columns, such as image borders, are no reference)."""
    scales = r.input_scales
    if not scales or max(scales) <= 0:
        return None
    varying = r.input_varying or [True] * len(scales)
    big_i = max(range(len(scales)), key=scales.__getitem__)
    big = scales[big_i]
    references = [(i, s) for i, s in enumerate(scales) if varying[i] and s > 0] or [(big_i, big)]
    small_i, small = min(references, key=lambda t: t[1])
    if big / small <= 100 and big <= 1e3:
        return None
    what = (f"input column {big_i} reaches {big:.3g} while column {small_i} stays near {small:.3g} "
            f"({big / small:.3g}x)" if big / small > 100 else f"input column {big_i} reaches {big:.3g}")
    return Finding("unscaled_inputs", "warning", None,
                   {"largest_column": big_i, "largest": big, "smallest_column": small_i, "smallest": small},
                   f"unscaled inputs: {what}", "standardize each input column (subtract its mean, divide by "
                   "its standard deviation) before training")


RULES = [unscaled_inputs, non_finite, lr_too_high, exploding_gradients, vanishing_gradients, dead_units,
         lr_too_low, plateau, overfitting, underfitting, loss_metric_mismatch]
EXPLAINED_BY = {"overfitting": "lr_too_high", "plateau": "lr_too_high"}   # left out when the other one is there


def diagnose(readings: Readings) -> list[Finding]:
    """Measure the curve, run every rule on the readings and return the findings root cause first."""
    readings.curve = measure(readings.history)
    found = [f for rule in RULES if (f := rule(readings)) is not None]
    codes = {f.code for f in found}
    found = [f for f in found if EXPLAINED_BY.get(f.code) not in codes]
    return ordered(found + _rollbacks(readings))


def _rollbacks(r: Readings) -> list[Finding]:
    return [Finding("rollback", "info", (i["from_step"], i["at_step"]), dict(i),
                    f"rolled back at step {i['at_step']} ({i['why']}) to the state of step {i['from_step']} "
                    f"and cut the learning rate to {i['lr']:.2e}", f"start at lr {i['lr']:.1e} to avoid it")
            for i in r.interventions]
