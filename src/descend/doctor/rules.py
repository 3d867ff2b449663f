"""Rules: each turns the Readings of a finished run into at most one Finding, with numbers in plain words.

Thresholds are deliberately conservative: a healthy run must raise no warning (false alarms teach people to
ignore the doctor). Where a rule judges a level it compares with a reference (a constant prediction, a linear
model fitted on a sample of the same rows) and allows for noise. A fix names the fit() argument (and in `change`
carries it as data) and, where `descend fit` has one, its command-line option. See diagnose.py for how findings
are folded and ordered.
"""
from __future__ import annotations

import math
import statistics

import numpy as np
import torch

from .advice import constant_losses, finite, longer, refs, restores_best, setting, with_flags
from .curves import SWING
from .findings import Finding
from .instruments import Readings
from .reference import better

CLOSE_WITHIN = 9       # not converged: at its last rate, the run closes the gap to the reference within 9 more runs
TYPICAL_UPDATE = 1e-3  # a step that moves the weights by about this share of their size is typical
MIN_STEPS = 20          # trend rules need at least this many steps
RISE = 2.5              # diverged: the smoothed loss climbed to RISE x its lowest value so far ...
STAYED = 10             # ... and the median of the next STAYED raw losses stayed above twice that low
OSCILLATING = 2         # oscillated: at least this many rebounds of the smoothed loss (see curves.swings)


def _lr_at(history: list[dict], step: int) -> float:
    return next((r["lr"] for r in history if r["step"] >= step), history[-1]["lr"])


def diverged_lrs(r: Readings) -> list[float]:
    """Every learning rate this run is known to have diverged at: the lr of a non-finite stop and the lr in
    force before each doctor='fix' rollback."""
    lrs = [i["lr"] / 0.1 for i in r.interventions]  # the guard cuts by 10x; the lr before the cut diverged
    if r.stop_code == "non_finite" and r.history:
        lrs.append(r.history[-1]["lr"])
    return lrs


def safer_lr(r: Readings, lr: float, factor: float = 10) -> float:
    """An lr `factor` times below both `lr` and every lr that diverged in this run."""
    return min([lr, *diverged_lrs(r)]) / factor


def _lower_lr(r: Readings, lr: float, factor: float = 10) -> tuple[str, dict]:
    """The fix for a learning rate that is too high: `factor` below it and below every lr the run saw diverge."""
    safe = safer_lr(r, lr, factor)
    change = {"lr": safe}
    if r.interventions:
        return with_flags(f"start at lr {safe:.1e}, where doctor='fix' recovered the run (below every lr that "
                          f"diverged in it)", change), change
    try_it = with_flags(f"try lr {safe:.1e}", change)
    if r.auto_lr is not None:
        return f"{try_it}: lr='auto' took lr_find's suggestion {r.auto_lr:.1e}, too high for this run", change
    return f"{try_it}, or lr='auto' (--lr auto) to let lr_find choose", change


def cut_for_growth(growth: float) -> float:
    """How far to cut an lr under which the loss grew `growth`x per step: on a quadratic, gradient descent
    multiplies the loss by (lr*curvature - 1)^2 per step, so lr*curvature = 1 + sqrt(growth), and dividing by
    that brings the step back to the curvature's scale. At least 10, in powers of 10."""
    needed = 1 + math.sqrt(max(growth, 1.0))
    return 10.0 ** max(1, math.ceil(math.log10(needed)))


def non_finite(r: Readings) -> Finding | None:
    """The run stopped at NaN/Inf: from the data (impute), from the loss or the model before any update (the
    loss or the model's forward is at fault, no lr can help), or from steps that overflowed (lower the lr)."""
    if r.stop_code != "non_finite" or r.non_finite_origin is None:
        return None
    step = r.history[-1]["step"] if r.history else 0
    origin, from_data = r.non_finite_origin.detail, r.non_finite_origin.from_data
    before_update = step <= 1 and r.non_finite_origin.part in ("loss", "output")
    count = r.non_finite["count"]
    earlier = f"; {count - 1} earlier step(s) with NaN/Inf were rolled back" if count > 1 else ""
    lr = r.history[-1]["lr"] if r.history else math.nan
    change: dict = {}
    if from_data:
        fix = "drop or impute the rows holding NaN/Inf before training"
    elif before_update:
        part = "loss" if r.non_finite_origin.part == "loss" else "model's forward pass"
        fix = (f"the weights were never updated, so no learning rate can help: make the {part} finite for these "
               f"inputs (clamp before log, add an epsilon before dividing or taking a square root)")
    else:
        fix, change = _lower_lr(r, lr, cut_for_growth(_growth_before_overflow(r)))
    where = "before any update, " if before_update else ""
    return Finding("non_finite", "error", (step, step),
                   {"origin": origin, "from_data": from_data, "before_update": before_update, "count": count,
                    "lr": lr}, f"non-finite values (NaN/Inf) at step {step} ({where}origin: {origin}){earlier}",
                   fix, change)


def _growth_before_overflow(r: Readings) -> float:
    """Per-step growth of the training loss from its lowest finite value to its last finite one."""
    losses = [(x["step"], x["loss"]) for x in r.history if math.isfinite(x["loss"]) and x["loss"] > 0]
    if len(losses) < 2:
        return 1.0
    low_i = min(range(len(losses)), key=lambda i: losses[i][1])
    (s0, low), (s1, last) = losses[low_i], losses[-1]
    return (last / low) ** (1 / (s1 - s0)) if s1 > s0 else 1.0


def bad_start(r: Readings) -> Finding | None:
    """The first loss is over 10x a constant prediction's and the run never recovered: it ended short of a linear
    reference (or, without one, never got below the constant). The initial outputs are far too large."""
    base = r.target_baseline
    if base is None or base <= 0 or not r.history:
        return None
    first = r.history[0]["loss"]
    reached = min(finite(x.get("val_loss", math.inf) for x in r.history) + finite(r.curve.smoothed))
    if math.isfinite(first) and first < 10 * base:
        return None
    short = _worse_than_reference(r)
    if short is False or (short is None and reached < base):
        return None
    relu_like = not (SATURATING & set(r.activations))
    init = "kaiming" if relu_like else "xavier"
    if setting(r, "init") == init:
        init = "orthogonal"
    change = {"init": init}
    return Finding("bad_start", "warning", (1, r.history[-1]["step"]),
                   {"first_loss": first, "best_loss": reached, "constant_baseline": base},
                   f"bad start: the first loss {first:.4g} is {first / base:.3g}x what a constant prediction "
                   f"reaches ({base:.4g}), and the run never recovered (best {reached:.4g}): the initial weights "
                   f"make outputs far too large", f"initialize with init='{init}' (fan-in scaled weights, zero "
                   f"biases) or shrink the last layer's weights", change)


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


def _validation_unharmed(r: Readings) -> bool:
    """Whether the validation loss ended within its own evaluation-to-evaluation noise of its best (so swings of
    the training loss cost the model nothing); False without validation."""
    values = [v for _, _, v in r.curve.gap]
    if len(values) < 4:
        return False
    noise = statistics.median(abs(b - a) for a, b in zip(values, values[1:]))
    return values[-1] - min(values) <= 2 * noise


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
    elif len(swings) >= OSCILLATING and not _validation_unharmed(r):
        big = max(swings, key=lambda w: w.peak / w.low)
        first, last, low, peak, rise = swings[0].low_step, swings[-1].peak_step, big.low, big.peak, big.peak / big.low
        what = (f"the loss oscillated: the smoothed loss climbed back to {SWING:g}x its low or more {len(swings)} "
                f"times between steps {first} and {last}, at most {rise:.3g}x (from {low:.4g} at step "
                f"{big.low_step} to {peak:.4g} at step {big.peak_step})")
    else:
        return None
    lr = _lr_at(r.history, first)
    kind = "diverged" if diverged is not None else "oscillated"
    growth = (peak / low) ** (1 / max(last - first, 1)) if kind == "diverged" else 1.0
    return Finding("lr_too_high", "warning", (first, last),
                   {"kind": kind, "rise": rise, "low": low, "peak": peak, "swings": len(swings), "lr": lr},
                   f"learning rate too high: {what} at lr {lr:.2e}", *_lower_lr(r, lr, cut_for_growth(growth)))


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
    clip, lr, outlier = setting(r, "grad_clip"), r.history[-1]["lr"], r.outlier
    if outlier is not None and setting(r, "loss") in ("mse", None):
        change = {"loss": "huber"}
        words = (f"training row {outlier['row']} has target {outlier['value']:.4g}, which outweighs all other rows "
                 f"together ({outlier['share']:.0%} of the target's spread): fix or drop it (a missing value "
                 f"code?), or use loss='huber', which bounds each row's pull")
    elif clip is None:
        change, words = {"grad_clip": 1.0}, "clip gradients with grad_clip=1.0, and look for outlier rows"
    else:
        change = {"lr": lr / 10}
        words = f"gradients are clipped already (grad_clip={clip}): lower the lr to {lr / 10:.1e}"
    return Finding("exploding_gradients", "warning", (step, step), {"peak": peak, "median_before": float(before[i])},
                   f"exploding gradients: the gradient norm jumped to {peak:.3g} at step {step}, "
                   f"{jump[i]:.3g}x its median over the 20 steps before ({before[i]:.3g})", with_flags(words, change),
                   change)


def _input_to_output_ratio(r: Readings) -> float | None:
    """Median over sampled steps of (first layer's weight-gradient norm / last layer's)."""
    ratios = []
    for sample in r.layer_grads:
        norms = list(sample.values())
        if len(norms) >= 3 and norms[-1] > 0:
            ratios.append(norms[0] / norms[-1])
    return statistics.median(ratios) if ratios else None


SATURATING = {"Sigmoid", "Tanh", "Softsign", "Hardtanh", "Hardsigmoid", "LogSigmoid"}


def vanishing_gradients(r: Readings) -> Finding | None:
    ratio = _input_to_output_ratio(r)
    if ratio is None or ratio >= 1e-3:
        return None
    names = list(r.layer_grads[0])
    smaller = "no gradient at all" if ratio == 0 else f"gradients {1 / ratio:.3g}x smaller than the last"
    saturating = sorted(SATURATING & set(r.activations))
    if saturating:
        change = {"activation": "relu", "init": "kaiming"}
        words = f"use ReLU instead of {'/'.join(saturating)} (init='kaiming' suits it), or add normalization"
    else:
        change = {} if setting(r, "init") == "kaiming" else {"init": "kaiming"}
        words = ("add normalization layers or residual connections" if not change else
                 "initialize with init='kaiming' (fan-in scaled for ReLU), or add normalization layers or residual "
                 "connections")
    return Finding("vanishing_gradients", "warning", (r.sampled_steps[0], r.sampled_steps[-1]) if r.sampled_steps
                   else None, {"first_to_last": ratio, "first": names[0], "last": names[-1], "layers": len(names)},
                   f"vanishing gradients: the first layer ({names[0]}) gets {smaller} ({names[-1]}) across "
                   f"{len(names)} layers", words, change)


SHORTFALL = 0.1   # a model that misses over this share of what the reference gains on a constant falls short


def _worse_than_reference(r: Readings) -> bool | None:
    """Whether the trained model clearly falls short of the better linear reference on the comparison rows: worse
    beyond noise, and missing over SHORTFALL of the reference's gain on a constant prediction; None when there
    is no reference. References are fitted only when the model's loss leaves room for such a shortfall."""
    constant = constant_losses(r)
    if constant is None:
        return None
    if float(r.model_losses.mean()) <= SHORTFALL * float(constant.mean()):
        return False   # short by SHORTFALL of any reference's gain needs a loss above SHORTFALL x the constant's
    found = refs(r)
    best = found.best() if found is not None else None
    if best is None:
        return None
    gain = float(found.constant.mean() - best.mean())
    missed = float(r.model_losses.mean() - best.mean())
    return better(best, r.model_losses) and gain > 0 and missed > SHORTFALL * gain


def dead_units(r: Readings) -> Finding | None:
    """Over half the units of a ReLU layer never fire on the last sampled batches, and it costs: the model does
    worse than a linear reference (or, with no reference, the loss hardly fell)."""
    worst = None
    for name, samples in r.dead.items():
        recent = torch.stack(samples[-5:])
        if recent.shape[1] < 4:
            continue
        dead = 1.0 - recent.any(dim=0).double().mean().item()
        if dead > 0.5 and (worst is None or dead > worst[1]):
            worst = (name, dead, recent.shape[1])
    s = r.curve.smoothed
    if worst is None or not s:
        return None
    costs = _worse_than_reference(r)
    fell = min(s) < 0.9 * s[0]
    if costs is False or (costs is None and fell):
        return None
    name, dead, units = worst
    lr = r.history[-1]["lr"]
    if fell:   # the units died while training: steps too large knocked them out
        change, words = {"lr": lr / 10}, f"lower the learning rate to {lr / 10:.1e}"
    else:      # dead from the start: the initialization (biases, scale) switched them off
        change, words = {"init": "kaiming"}, "re-initialize with init='kaiming' (zero biases, fan-in scale)"
    return Finding("dead_units", "warning", None, {"layer": name, "dead_fraction": dead, "units": units},
                   f"dead units: {dead:.0%} of the {units} units after {name!r} output zero for every example "
                   f"in the last sampled batches", with_flags(words, change), change)


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
    factor = min(max(TYPICAL_UPDATE / ratio, 10.0), 1e4)   # steps scale with the lr: aim at a typical update
    fix = {"lr": lr * factor}
    return Finding("lr_too_low", "warning", (steps[0], steps[-1]), {"change": change, "update_ratio": ratio, "lr": lr},
                   f"learning rate too low: each step changed the weights by only {ratio:.1e} of their size, and "
                   f"over {steps[-1]} steps the loss went from {s[0]:.4g} to {s[-1]:.4g} ({change:+.1%})",
                   with_flags(f"try lr {lr * factor:.1e}{chose}; about 1e-3 of the weights per step is typical",
                              fix),
                   fix)


def _ends(r: Readings) -> tuple[float, float, float]:
    """Mean raw training loss over the first and the last tenth of the run (at least 5 steps each), and the
    standard error of the last tenth's mean: batch noise does not move these the way it moves one step."""
    raw = [x["loss"] for x in r.history if math.isfinite(x["loss"])]
    k = max(5, len(raw) // 10)
    head, tail = np.array(raw[:k]), np.array(raw[-k:])
    return float(head.mean()), float(tail.mean()), float(tail.std() / math.sqrt(len(tail)))


def plateau(r: Readings) -> Finding | None:
    steps, s = r.curve.steps, r.curve.smoothed
    ratio = _median_update_ratio(r)
    if len(s) < MIN_STEPS or (ratio is not None and ratio < 1e-4):
        return None
    start, end, _ = _ends(r)
    change = abs(start - end) / max(abs(start), 1e-12)
    if change >= 0.05 or _worse_than_reference(r) is False:   # flat at a good loss is converged, not stuck
        return None
    return Finding("plateau", "warning", (steps[0], steps[-1]), {"start": start, "end": end, "change": change},
                   f"plateau: the loss stayed near {end:.4g} from step {steps[0]} to {steps[-1]} "
                   f"(changed {change:.1%}) although the weights kept moving",
                   "check the model can learn at all (activations, initialization, labels), then raise the lr")


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


def _falling_rate(r: Readings) -> tuple[bool, float]:
    """Whether the loss was still falling at the end (a line through the last half of the training losses falls
    beyond three standard errors, or the last three validation losses each fell), and how much it fell per step."""
    raw = [x["loss"] for x in r.history if math.isfinite(x["loss"])]
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
    limit, which other rules name."""
    if r.stop_code not in ("max_steps", "max_epochs") or len(r.history) < 20:
        return None
    falling, per_step = _falling_rate(r)
    if not falling or per_step <= 0 or _worse_than_reference(r) is not True:
        return None
    runs = _runs_to_close(r, per_step)
    if runs > CLOSE_WITHIN:
        return None
    change = longer(r, math.ceil(2 * runs) + 1)   # twice: 99% of the gap in ln(100) time constants, not 90%
    unit, value = next(iter(change.items()))
    gap = float(r.model_losses.mean() - refs(r).best().mean())
    return Finding("not_converged", "warning", (r.history[len(r.history) // 2]["step"], r.history[-1]["step"]),
                   {"per_step": per_step, "gap_to_reference": gap, "runs_to_close": runs},
                   f"not converged: the run stopped at its limit while the loss was still falling ({per_step:.3g} "
                   f"per step), {gap:.4g} short of a linear model on the same rows",
                   with_flags(f"train longer ({unit}={value})", change), change)


def _evaluations(r: Readings, key: str) -> list[tuple[int, float]]:
    return [(x["step"], x[key]) for x in r.history if key in x and math.isfinite(x[key])]


def overfitting(r: Readings) -> Finding | None:
    """Validation loss above its best by more than the noise of its evaluations (3x the median change between
    evaluations before the best, and 2% of it) while the training loss kept falling below it."""
    gap = r.curve.gap
    if len(gap) < 4:
        return None
    best_i = min(range(len(gap)), key=lambda i: gap[i][2])
    (best_step, train_best, best), (last_step, train_last, last) = gap[best_i], gap[-1]
    later = [v for _, _, v in gap[best_i + 1:]]
    if len(later) < 2:
        return None
    steps_between = [abs(gap[i + 1][2] - gap[i][2]) for i in range(len(gap) - 1)]
    noise = statistics.median(steps_between) if steps_between else 0.0
    rise = statistics.median(later[-max(2, len(later) // 3):]) - best   # the end, not one noisy evaluation
    if rise <= 2 * noise or rise <= 0.02 * abs(best) or last - best < 0.02 * abs(best):
        return None
    if not (train_last < train_best and last > 1.2 * train_last):  # training still improving, and a real gap
        return None
    if r.target_baseline is not None and train_last >= r.target_baseline:
        return None
    restored = restores_best(r)
    if restored:
        wd = setting(r, "weight_decay") or 0.01
        change = {"weight_decay": min(wd * 10, 1.0)}
        words = f"the best weights were restored already; regularize more (weight_decay={change['weight_decay']:g}) " \
                f"or get more data"
    else:
        change = {"patience": 5}
        words = "stop earlier with stop=[Patience(5, restore_best=True)], or add weight decay or more data"
    return Finding("overfitting", "info" if restored else "warning", (best_step, last_step),
                   {"val_best": best, "val_last": last, "train_at_best": train_best, "train_last": train_last,
                    "restored_best": restored},
                   f"overfitting: validation loss rose from {best:.4g} at step {best_step} to {last:.4g} at step "
                   f"{last_step} while the training loss fell from {train_best:.4g} to {train_last:.4g}",
                   with_flags(words, change), change)


def underfitting(r: Readings) -> Finding | None:
    """The loss levelled off and the model does clearly worse than a linear reference on the same rows (or,
    for a model without hidden activations, than ridge on random features)."""
    if not _worse_than_reference(r):
        return None
    falling, per_step = _falling_rate(r)
    if falling and per_step > 0 and _runs_to_close(r, per_step) <= CLOSE_WITHIN:
        return None   # still closing the gap: not converged, not short of capacity
    found = refs(r)
    best = found.best()
    if not r.activations and found.linear is not None and better(found.linear, r.model_losses, by=0.05):
        return None   # a linear model short of a linear fit is not at its optimum: not a matter of capacity
    model, reference = float(r.model_losses.mean()), float(best.mean())
    constant = float(found.constant.mean())
    linear = not r.activations
    words = ("a linear model cannot fit this: use an MLP with hidden layers" if linear else
             "use a larger model (wider or deeper; descend fit: wider --hidden layers) or train longer with a "
             "higher lr")
    change = {"capacity": "larger"}
    return Finding("underfitting", "warning", None,
                   {"model_loss": model, "reference_loss": reference, "constant_baseline": constant},
                   f"underfitting: the model's loss {model:.4g} is clearly worse than a reference fitted on a "
                   f"sample of the same rows ({reference:.4g}; a constant prediction gets {constant:.4g})",
                   with_flags(words, change), change)


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


RULES = [bad_start, non_finite, lr_too_high, exploding_gradients, vanishing_gradients, dead_units, lr_too_low,
         not_converged, plateau, overfitting, underfitting, loss_metric_mismatch]


def rollbacks(r: Readings) -> list[Finding]:
    """One info finding per doctor='fix' rollback; the advice names an lr below every lr that diverged."""
    if not r.interventions:
        return []
    safe = min(i["lr"] for i in r.interventions)
    change = {"lr": safe}
    return [Finding("rollback", "info", (i["from_step"], i["at_step"]), dict(i),
                    f"rolled back at step {i['at_step']} ({i['why']}) to the state of step {i['from_step']} "
                    f"and cut the learning rate to {i['lr']:.2e}",
                    with_flags(f"start at lr {safe:.1e}, where the run finished without diverging again", change),
                    change) for i in r.interventions]
