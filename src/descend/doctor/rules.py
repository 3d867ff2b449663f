"""Rules about the steps: each turns the Readings of a finished run into at most one Finding, with numbers in
plain words (NaN/Inf, a bad start, an lr too high or too low, exploding or vanishing gradients, dead units).
data_rules.py holds the rules about data and loss, outcome_rules.py those about how far the run got.

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

from ..core.frontend import on_command_line
from .advice import (FIRST_ORDER, MIN_STEPS, SATURATING, TYPICAL_UPDATE, base_lr, coarse_adaptive_lr,
                     dead_from_start, early_steps_matter, finite, line_search, loss_ends, lr_change,
                     median_update_ratio, most_dead, no_better_than_constant, optimizer_name, setting,
                     stuck_at_constant, trains_at_constant, typed, with_flags, worse_than_reference)
from .curves import SWING, batch_noise, smoothed_share
from .findings import Finding
from .instruments import DEAD_SAMPLES, Readings

FLOAT32_MAX = 3.4e38
MAX_CUT = 3             # an lr that diverged is cut by at most 10**MAX_CUT
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
    """The fix for a learning rate that is too high: `factor` below it and below every lr the run saw diverge
    (with the optimizer named under optimizer="auto"). A line search (L-BFGS) has no lr to lower: the fix is a
    first-order optimizer whose lr a sweep picks."""
    if line_search(r):
        change = {"optimizer": FIRST_ORDER, "lr": "auto"}
        chose = f" ({r.auto_choice})" if r.auto_choice else ""
        return with_flags(f"L-BFGS sets its own step sizes by a line search{chose}, so there is no lr to lower: "
                          f"train with optimizer='{FIRST_ORDER}' and lr='auto' (its lr picked by a sweep)",
                          change), change
    safe = safer_lr(r, lr, factor)
    change = lr_change(r, safe)
    if r.interventions:
        return with_flags(f"start at lr {typed(safe)}, where doctor='fix' recovered the run (below every lr that "
                          f"diverged in it)", change), change
    try_it = with_flags(f"try lr {typed(safe)}", change)
    if r.auto_lr is not None:
        return (f"{try_it}: auto took lr_find's suggestion {typed(r.auto_lr)} from its sweep, too high for this "
                f"run", change)
    if r.auto_optimizer is not None:   # optimizer="auto" with a given lr: that lr was the caller's
        return try_it, change
    flag = " (--lr auto)" if on_command_line() else ""
    return f"{try_it}, or lr='auto'{flag} to let lr_find choose", change


def cut_for_growth(growth: float) -> float:
    """How far to cut an lr under which the loss grew `growth`x per step: on a quadratic, gradient descent
    multiplies the loss by (lr*curvature - 1)^2 per step, so lr*curvature = 1 + sqrt(growth), and dividing by
    that brings the step back to the curvature's scale. At least 10, in powers of 10, and at most 10**MAX_CUT: a
    loss that overflows grows faster than any quadratic (the gradients themselves blow up), which would otherwise
    ask for far too small an lr."""
    needed = 1 + math.sqrt(max(growth, 1.0))
    return 10.0 ** min(max(1, math.ceil(math.log10(needed))), MAX_CUT)


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
    """Per-step growth of the training loss from its lowest finite value up to the overflow: the last finite
    loss had to pass float32's largest value (3.4e38) by the step that was not finite, which bounds the growth
    from below when the run blew up within a few steps."""
    losses = [(x["step"], x["loss"]) for x in r.history if math.isfinite(x["loss"]) and x["loss"] > 0]
    if not losses or not r.history:
        return 1.0
    low_i = min(range(len(losses)), key=lambda i: losses[i][1])
    (s0, low), (s1, last) = losses[low_i], losses[-1]
    growth = (last / low) ** (1 / (s1 - s0)) if s1 > s0 else 1.0
    overflow_step = r.history[-1]["step"]
    if overflow_step > s1:
        growth = max(growth, (FLOAT32_MAX / last) ** (1 / (overflow_step - s1)))
    return growth


def bad_start(r: Readings) -> Finding | None:
    """The first loss is over 10x a constant prediction's and the run never recovered: it ended short of a linear
    reference (or, without one, never got below the constant). The initial outputs are far too large."""
    base = r.target_baseline
    if base is None or base <= 0 or not r.history:
        return None
    first = r.history[0]["loss"]
    reached = min(finite(val for _, val in r.finite("val_loss")) + finite(r.curve.smoothed))
    if math.isfinite(first) and first < 10 * base:
        return None
    short = worse_than_reference(r, own_kind=True)   # an affine model at the linear optimum has recovered
    if short is False or (short is None and reached < base):
        return None
    init, words = _start_fix(r, base)
    change = {"init": init} if init else {"grad_clip": 1.0} if r.recurrent and not setting(r, "grad_clip") else {}
    return Finding("bad_start", "warning", (1, r.history[-1]["step"]),
                   {"first_loss": first, "best_loss": reached, "constant_baseline": base,
                    **({"init_starts": r.init_starts} if r.init_starts else {})},
                   f"bad start: the first loss {first:.4g} is {first / base:.3g}x what a constant prediction "
                   f"reaches ({base:.4g}), and the run never recovered (best {reached:.4g}): the initial weights "
                   f"make outputs far too large", words, change)


def _start_fix(r: Readings, base: float) -> tuple[str | None, str]:
    """The init scheme to advise (the one that suits the activations first, never the one already set) and the
    words. When the doctor scored each scheme's start on a copy of the model (Readings.init_starts), only one that
    starts under 10x the constant's loss is advised; when none does, the build itself makes the outputs large
    (residual branches added up without normalization), and no init= fixes it."""
    if r.recurrent and not setting(r, "grad_clip"):   # fit's init= reaches linear and convolution layers only
        return None, ("a recurrent layer whose recurrent weights grow its state at each step (started above the "
                      "identity, or with a spectral radius over 1) compounds that over the sequence, and init= does "
                      "not reach recurrent weights: clip gradients (grad_clip=1.0) so the steps can bring them down, "
                      "and start them at or below the identity (nn.init.orthogonal_)")
    relu_like = not (SATURATING & set(r.activations))
    order = ["kaiming", "xavier", "orthogonal"] if relu_like else ["xavier", "orthogonal", "kaiming"]
    order = [name for name in order if name != setting(r, "init")]
    starts = r.init_starts
    if starts:
        order = [name for name in order if starts.get(name, math.inf) < 10 * base]
        if not order:
            tried = ", ".join(f"{name} {loss / base:.3g}x" for name, loss in starts.items())
            return None, (f"no init scheme fixes it: a copy of the model re-initialized by each starts far off too "
                          f"({tried} the constant's loss), so the build makes the outputs large: add normalization "
                          f"(LayerNorm) inside each block, or scale each residual branch down (start its last layer "
                          f"at zero)")
    return order[0], (f"initialize with init='{order[0]}' (fan-in scaled weights, zero biases) or shrink the last "
                      f"layer's weights")


SMALL_START = 0.1   # weights that start under this share of their layer's default scale pass next to nothing on


def small_start(r: Readings) -> Finding | None:
    """Most weights started under SMALL_START of their layer's default scale (see start_scale.py), and it cost the
    run: the gradient vanishes towards the input (or a sequence's first steps) or the loss hardly moved, and the
    model ended short of a linear reference (or with none to ask). Each layer scales the signal forward and the
    gradient back by its weights, so a start that small is a saddle at zero, whatever the activations. A bad start,
    the other way from outputs too large: init= re-draws linear and convolution layers at their scale, never
    recurrent or embedding weights. Weights at exactly zero are left to dead_units: their units start identical
    (a symmetric start), a cause of its own."""
    scales = r.start_scales
    small = [name for name, scale in scales.items() if 0 < scale < SMALL_START]   # all zeros: a symmetric start
    if len(small) < 2 or 2 * len(small) < len(scales) or worse_than_reference(r) is False:
        return None
    start, end = loss_ends(r)
    flat = abs(start - end) < 0.05 * abs(start)
    through_time = r.early_step_reach is not None and r.early_step_reach < FADED
    if not (flat or _gradients_vanish(r) or through_time):
        return None
    median = statistics.median(scales[name] for name in small)
    redrawn = not (r.recurrent or r.embedding_rows)
    init = ("kaiming" if not SATURATING & set(r.activations) else "xavier") if redrawn else None
    change = {"init": init} if init else {}
    words = (f"initialize with init='{init}' (PyTorch's default scale or above), or drop the code that shrinks the "
             f"weights" if init else "start the weights at their layers' defaults (drop the code that shrinks "
             "them, or call each layer's reset_parameters())")
    return Finding("bad_start", "warning", (1, r.history[-1]["step"]),
                   {"small_weights": len(small), "weights": len(scales), "median_start_scale": median},
                   f"bad start: {len(small)} of {len(scales)} weight tensors started under {SMALL_START:.0%} of "
                   f"their layers' default scale (median {median:.2g}x), so the signal and the gradient shrink "
                   f"through every layer and the run sits near the saddle at zero "
                   f"({'the loss hardly moved' if flat else 'the gradient vanishes on its way back'})",
                   with_flags(words, change), change)


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
    fallen = 0.05 * max(s[0] - s[lo], 0.0) + 1e-12
    at = next(i for i, x in enumerate(r.history) if x["step"] == steps[hi])
    # one spike is not divergence: the raw losses after the peak's own batch must stay up (near the run's end, its
    # last three losses, so that one batch on the last step cannot carry it alone), by as much as the rise must
    # matter: near a loss of 0, batches a few times the low are noise, not a climb
    after = finite(x["loss"] for x in r.history[at + 1:at + 1 + STAYED])
    if len(after) < 3:
        after = finite(x["loss"] for x in r.history[-3:])   # none finite: the loss overflowed, it stayed up
    stayed = not after or statistics.median(after) >= max(2 * s[lo], s[lo] + fallen)
    if ratio < RISE or s[hi] - s[lo] <= fallen or not stayed or _within_batch_noise(r, lo, hi, ratio):
        return None
    return lo, hi, ratio


NOISE_SE = 2   # a rise of the smoothed loss within this many standard errors of its ends is the batches' noise


def _within_batch_noise(r: Readings, lo: int, hi: int, ratio: float) -> bool:
    """Whether the smoothed loss's rise by `ratio` from index `lo` to `hi` is within NOISE_SE standard errors of
    the two smoothed values, in log terms (see curves.batch_noise, smoothed_share): a low that rests on one or two
    batches, as at a run's first steps, is one batch's loss, and a rise from a low batch is no divergence."""
    noise = batch_noise([loss for _, loss in r.finite("loss")]) * math.sqrt(smoothed_share(lo) + smoothed_share(hi))
    return math.log(ratio) <= NOISE_SE * noise


def _recovered(r: Readings, lo: int, hi: int) -> bool:
    """Whether the smoothed loss, after rising from index `lo` to `hi`, came back below where it rose from and
    ended there: a transient (such as the first steps of a fresh optimizer state at a large lr), not divergence."""
    s = r.curve.smoothed
    return min(s[hi:]) < s[lo] and s[-1] < s[lo]


def _harmless(r: Readings) -> bool:
    """Whether the run's result shows no cost of its swings: the validation loss ended within its noise of its
    best (unless it was still climbing back, see _still_recovering), or the trained model is no worse than the
    linear references fitted on the same rows."""
    return (_validation_unharmed(r) and not _still_recovering(r)) or worse_than_reference(r) is False


def _still_recovering(r: Readings) -> bool:
    """Whether the validation loss fell at each of its last three evaluations while the model ended clearly short
    of a linear reference: a loss still coming back down sits at its best only because it has not arrived, and
    the steps the rise cost are what the run lacks."""
    evals = [v for _, _, v in r.curve.gap][-3:]
    return len(evals) == 3 and evals[0] > evals[1] > evals[2] and bool(worse_than_reference(r))


def _validation_unharmed(r: Readings) -> bool:
    """Whether the validation loss ended within its own evaluation-to-evaluation noise of its best (so swings of
    the training loss cost the model nothing); False without validation."""
    values = [v for _, _, v in r.curve.gap]
    if len(values) < 4:
        return False
    noise = statistics.median(abs(b - a) for a, b in zip(values, values[1:]))
    return values[-1] - min(values) <= 2 * noise


def _overshoot(r: Readings) -> dict | None:
    """How the steps overshot: the loss diverged (see _diverged) or oscillated (see OSCILLATING), unless the run
    recovered and its result shows no cost (see _harmless): a rise the run came back from and a model as good as
    the references cost nothing. None when neither."""
    steps, s, swings = r.curve.steps, r.curve.smoothed, r.curve.swings
    if len(s) < 10 or min(s) <= 0:  # ratios of losses only mean something for positive losses
        return None
    diverged = _diverged(r)
    if diverged is not None and _recovered(r, diverged[0], diverged[1]) and _harmless(r):
        diverged = None
    if diverged is not None:
        lo, hi, rise = diverged
        first, last, low, peak = steps[lo], steps[hi], s[lo], s[hi]
        what = (f"the smoothed loss rose {rise:.3g}x between steps {first} and {last} (from {low:.4g} to "
                f"{peak:.4g}) and stayed up")
    elif len(swings) >= OSCILLATING and not _harmless(r):
        big = max(swings, key=lambda w: w.peak / w.low)
        first, last, low, peak, rise = swings[0].low_step, swings[-1].peak_step, big.low, big.peak, big.peak / big.low
        what = (f"the loss oscillated: the smoothed loss climbed back to {SWING:g}x its low or more {len(swings)} "
                f"times between steps {first} and {last}, at most {rise:.3g}x (from {low:.4g} at step "
                f"{big.low_step} to {peak:.4g} at step {big.peak_step})")
    else:
        return None
    return {"kind": "diverged" if diverged is not None else "oscillated", "first": first, "last": last,
            "low": low, "peak": peak, "rise": rise, "swings": len(swings), "what": what}


def _collapsed(r: Readings) -> dict | None:
    """The smoothed loss rose RISE x or more above its lowest value so far, came down again only to a constant
    prediction's level, and training ended there (see trains_at_constant) while a linear reference does clearly
    better: the steps threw the model off (one spike is enough to knock ReLUs out or saturate a softmax), and it
    never learnt again. A loss bounded by the constant's (cross-entropy falls back to it) cannot stay up the way
    _diverged asks. Not under a line search (it has no lr; line_search_on_batches reads its runs), nor where the
    gradients vanish: such a model learns nothing at any lr, and a sweep then picks an lr its last layer overshoots
    at."""
    s, steps = r.curve.smoothed, r.curve.steps
    if len(s) < 10 or min(s) <= 0 or line_search(r):
        return None
    low_i, worst = 0, (1.0, 0, 0)
    for t in range(len(s)):
        low_i = t if s[t] < s[low_i] else low_i
        worst = max(worst, (s[t] / s[low_i], low_i, t))
    rise, lo, hi = worst
    if rise < RISE or not (trains_at_constant(r) and worse_than_reference(r)) or _gradients_vanish(r):
        return None
    return {"kind": "collapsed", "first": steps[lo], "last": steps[hi], "low": s[lo], "peak": s[hi], "rise": rise,
            "swings": len(r.curve.swings),
            "what": (f"the smoothed loss rose {rise:.3g}x between steps {steps[lo]} and {steps[hi]} (from {s[lo]:.4g} "
                     f"to {s[hi]:.4g}), then settled at a constant prediction's loss and learnt nothing more")}


COLLAPSE_UPDATE = 0.1   # a first step that rewrites this share of each weight (100x a typical step) is no step


def _first_step_collapse(r: Readings) -> dict | None:
    """The first sampled step moved the weights by COLLAPSE_UPDATE of their size or more (median over layers) and
    the model ended at a constant prediction's loss on its own training rows (see stuck_at_constant): steps that
    large knock a model that could memorize its rows onto a constant output at once, so its loss never gets the
    chance to rise and fall (an adaptive optimizer's first step moves each weight by about its lr)."""
    if not r.update_ratios or not r.sampled_steps or not stuck_at_constant(r):
        return None
    first = [v for v in r.update_ratios[0].values() if math.isfinite(v)]
    ratio = statistics.median(first) if first else 0.0
    if ratio < COLLAPSE_UPDATE:
        return None
    step, loss = r.sampled_steps[0], r.curve.smoothed[-1]
    return {"kind": "collapsed", "first": step, "last": r.curve.steps[-1], "low": loss, "peak": loss, "rise": 1.0,
            "swings": len(r.curve.swings), "first_update": ratio,
            "what": f"step {step} changed the weights by {ratio:.0%} of their size (about {TYPICAL_UPDATE:g} is "
                    f"typical), and the model ended at a constant prediction's loss on its own training rows, "
                    f"where a model this size fits even random labels: the steps knocked it onto a constant output"}


def _coarse_steps(r: Readings) -> dict | None:
    """An adaptive optimizer ran at an lr above its working range (see coarse_adaptive_lr) and the model ended
    clearly short of a linear reference on the same rows: its loss need not rise at all (every step is as coarse
    as the last, so it hovers), which is why _overshoot does not see it."""
    s, steps = r.curve.smoothed, r.curve.steps
    if len(s) < 10 or not coarse_adaptive_lr(r) or not worse_than_reference(r):
        return None
    name = optimizer_name(r)
    return {"kind": "coarse", "first": steps[0], "last": steps[-1], "low": min(s), "peak": s[-1], "rise": 1.0,
            "swings": len(r.curve.swings),
            "what": (f"the model ended clearly short of a reference fitted on the same rows, and {name} moves every "
                     f"weight by about its lr each step, whatever the gradient: too coarse a step for weights of usual "
                     f"size")}


HELD = 0.02          # at a constant prediction's loss: the smoothed loss within 2% of it
LEFT = 0.9           # ... and left it: the run ended below 90% of it
DECAYED_FROM = 0.25  # ... only once the schedule had taken the lr below a quarter of its peak


def _held_until_decayed(r: Readings) -> dict | None:
    """The smoothed loss stayed at a constant prediction's loss (within HELD, never below it) past half the run,
    and left it (ending under LEFT of it) only once the schedule had taken the lr under DECAYED_FROM of its peak:
    the model learns at the lower lr and not at the higher, so more steps on the same schedule hold it at the
    constant longer (fit_held_out3's 2-layer LSTM: 20 epochs from lr 0.1 end at 0.89 nats, 80 at 1.10 = log 3).
    The fix is the lr in force where the loss left the constant. Not under a line search (no lr)."""
    base, s, steps = r.target_baseline, r.curve.smoothed, r.curve.steps
    if base is None or not base > 0 or len(s) < 10 or line_search(r) or not s[-1] < LEFT * base:
        return None
    below = next((t for t in range(len(s)) if s[t] < (1 - HELD) * base), len(s))
    held = [t for t in range(below) if s[t] <= (1 + HELD) * base]
    if not held or steps[held[-1]] - steps[0] < 0.5 * (steps[-1] - steps[0]):
        return None
    left = steps[held[-1]]
    peak = max(x["lr"] for x in r.history if math.isfinite(x.get("lr", math.nan)))
    escape = _lr_at(r.history, left)
    if not 0 < escape < DECAYED_FROM * peak:
        return None
    return {"kind": "held", "first": steps[0], "last": left, "low": s[-1], "peak": base, "rise": 1.0,
            "swings": len(r.curve.swings), "cut": peak / escape,
            "what": (f"the smoothed loss stayed at a constant prediction's loss ({base:.4g}) until step {left}, while "
                     f"the schedule took the lr from {peak:.2g} to {escape:.2g}, and fell (to {s[-1]:.4g}) only "
                     f"below that: the model learns at the lower lr, not at the higher one")}


def lr_too_high(r: Readings) -> Finding | None:
    """The steps overshot (see _overshoot) at the lr in force, threw the model onto a constant prediction's loss
    after a spike (see _collapsed), or were so large from the first step that it landed there at once (see
    _first_step_collapse), or were coarse all along (see _coarse_steps), or held the model at a constant
    prediction's loss until the schedule lowered the lr (see _held_until_decayed); a line search on mini-batches
    is named by line_search_on_batches instead."""
    found = _overshoot(r) or _collapsed(r) or (None if line_search(r) else _first_step_collapse(r)) \
        or _coarse_steps(r) or _held_until_decayed(r)
    if found is None or (line_search(r) and (steps_per_epoch(r) or 1) > 1):
        return None
    first, last, low, peak = found["first"], found["last"], found["low"], found["peak"]
    lr = _lr_at(r.history, first)
    growth = (peak / low) ** (1 / max(last - first, 1)) if found["kind"] not in ("oscillated", "coarse", "held") \
        else 1.0
    # a hundredth brings a rewriting first step near a typical one; a held model goes to the lr it left at
    cut = found.get("cut") or (100.0 if "first_update" in found else cut_for_growth(growth))
    return Finding("lr_too_high", "warning", (first, last),
                   {"kind": found["kind"], "rise": found["rise"], "low": low, "peak": peak, "swings": found["swings"],
                    "lr": lr, **({"first_update": found["first_update"]} if "first_update" in found else {})},
                   f"learning rate too high: {found['what']} at lr {lr:.2e}", *_lower_lr(r, lr, cut))


def steps_per_epoch(r: Readings) -> int | None:
    """Steps per pass over the training data: as fit counted them, else read from a history that spans two
    epochs or more (None otherwise); 1 means every step saw all of it."""
    if r.steps_per_epoch:
        return r.steps_per_epoch
    epochs = [x.get("epoch") for x in r.history]
    if len(set(epochs)) < 2 or None in epochs:
        return None
    return max(epochs.count(e) for e in set(epochs[1:-1]) or set(epochs))


def line_search_on_batches(r: Readings) -> Finding | None:
    """L-BFGS (a line search with a curvature memory, both made for one deterministic objective) ran on several
    batches per epoch, and its loss overshot (see _overshoot) or overflowed: each batch is another objective, so
    its line search fits one batch's loss and its curvature pairs mix batches."""
    per_epoch = steps_per_epoch(r)
    if not line_search(r) or not per_epoch or per_epoch < 2:
        return None
    found = _overshoot(r)
    overflow = r.stop_code == "non_finite" and not (r.non_finite_origin and r.non_finite_origin.from_data)
    if found is None and not overflow:
        return None
    what = found["what"] if found else f"the loss overflowed at step {r.history[-1]['step']}"
    change = {"optimizer": FIRST_ORDER, "lr": "auto"}
    steps = (found["first"], found["last"]) if found else (r.history[-1]["step"],) * 2
    return Finding("line_search_on_batches", "warning", steps,
                   {"batches_per_epoch": per_epoch, "kind": found["kind"] if found else "overflow"},
                   f"L-BFGS on mini-batches: {per_epoch} batches per epoch, and {what}; its line search fits each "
                   f"batch's loss on its own and its curvature memory mixes batches",
                   with_flags(f"train on all rows at once (batch_size at least the row count), or with "
                              f"optimizer='{FIRST_ORDER}' and lr='auto', whose steps average over batches", change),
                   change)


def _epoch_ends(r: Readings) -> int | None:
    """The length of an epoch whose last steps are left out (every multiple of it), when it is 10 steps or more:
    the last batch holds the rows left over, often a handful, whose gradient is a few rows' noise (a BatchNorm over
    3 rows spikes it every epoch), not a jump; None for no such epoch."""
    per_epoch = r.steps_per_epoch
    return per_epoch if per_epoch and per_epoch >= 10 else None


def exploding_gradients(r: Readings) -> Finding | None:
    """A gradient spike after the first steps (see _later_spike), else a blow-up at the start that cost the run
    (see _blowup_at_start)."""
    return _later_spike(r) or _blowup_at_start(r)


def _later_spike(r: Readings) -> Finding | None:
    """A gradient norm more than 100x the median of the 20 steps before it (after the first 10 steps) and above
    every norm of the first 10 steps (the size the run started at), unless the run came back from it and its
    result shows no cost (see _spike_recovered, _harmless). The last step of each epoch is left out (see
    _epoch_ends)."""
    per_epoch = _epoch_ends(r)
    records = [(step, norm) for step, norm in r.finite("grad_norm") if not (per_epoch and step % per_epoch == 0)]
    if len(records) < 31:
        return None
    norms = np.array([g for _, g in records])
    if norms[30:].max() <= max(norms[:10].max(), 100 * norms[10:-1].min()):
        return None   # no later norm rises above the first steps' or 100x the smallest a window holds (the common
                      # case): no rolling median could find a jump
    before = np.median(np.lib.stride_tricks.sliding_window_view(norms[:-1], 20), axis=1)  # before[i]: steps i..i+19
    jump = norms[20:] / np.maximum(before, 1e-12)
    i = int(np.argmax(jump[10:])) + 10
    step, peak = records[i + 20]
    if jump[i] <= 100 or peak <= norms[:10].max():  # tiny gradients near a minimum may jump and still be small
        return None
    if _spike_recovered(r, step) and _harmless(r):
        return None
    words, change = _tame(r, float(before[i]))
    return Finding("exploding_gradients", "warning", (step, step), {"peak": peak, "median_before": float(before[i])},
                   f"exploding gradients: the gradient norm jumped to {peak:.3g} at step {step}, "
                   f"{jump[i]:.3g}x its median over the 20 steps before ({before[i]:.3g})", with_flags(words, change),
                   change)


def _tame(r: Readings, usual: float) -> tuple[str, dict]:
    """Words and change for exploding gradients whose norm was `usual` before they blew up: loss='huber' when one
    row's target outweighs the rest under mse, else clipping at about that norm, which cuts the blow-ups and leaves
    the usual steps nearly whole (a fixed 1.0 cuts every step of a run whose norms sit at 10), or a tenth of the lr
    when gradients are clipped already. descend fit's own networks take no clip (see _tame_tables)."""
    clip, lr, outlier = setting(r, "grad_clip"), base_lr(r), r.outlier
    if r.member_loss:
        return _tame_tables(), {}
    if outlier is not None and setting(r, "loss") in ("mse", None):
        return (f"training row {outlier['row']} has target {outlier['value']:.4g}, which outweighs all other rows "
                f"together ({outlier['share']:.0%} of the target's spread): fix or drop it (a missing value "
                f"code?), or use loss='huber', which bounds each row's pull"), {"loss": "huber"}
    if clip is None:
        near = float(f"{usual:.1g}") if usual > 0 else 1.0   # one significant digit: 4, 10, 0.07
        return (f"clip gradients with grad_clip={near:g} (about their norm before the blow-up, so only blow-ups "
                "are cut), and look for outlier rows"), {"grad_clip": near}
    return f"gradients are clipped already (grad_clip={clip}): lower the lr to {typed(lr / 10)}", lr_change(r, lr / 10)


def _tame_tables() -> str:
    """What a user of `descend fit` (or fit_table) can do about its networks' blow-ups. It has no clip option, and
    none is advised: on the tables where its networks blew up (a Poisson count over donors whose last gift was
    1,000x the median), the blow-up was the model's output on rows with extreme inputs, not a step too long, and
    clipping at 1, 3 or 10 (the usual norm was about 3) made the test error worse (benchmarks/RESULTS.md)."""
    return ("descend fit clips no gradients and has no option to: its networks take numbers beyond the usual "
            "range as they are, so a blow-up like this one most often comes from a few training rows with extreme "
            "values in some column; look at the largest values of each column and fix or drop the rows that are "
            "errors (the test scores say whether the blow-up cost anything)")


EARLY = 10          # the first steps, before _later_spike's window of 20 has a median to compare with
EARLY_JUMP = 5      # a blow-up at the start: a gradient norm this many times the first step's ...
EARLY_TYPICAL = 20  # ... and this many times the median of every later step's


def _blowup_at_start(r: Readings) -> Finding | None:
    """Within the first EARLY steps the gradient norm jumped to EARLY_JUMP x the first step's and EARLY_TYPICAL x
    the median of the rest of the run, while the loss rose to RISE x its first value, and the model ended clearly
    short of a linear reference: the first steps threw the weights far off (a recurrence that compounds each step,
    a deep stack's product of weights) and the run never made up for it. No rolling median sees this: it has no
    steps before it."""
    records = [(x["step"], x["grad_norm"], x["loss"]) for x in r.history
               if math.isfinite(x.get("grad_norm", math.nan)) and math.isfinite(x["loss"])]
    if len(records) < 3 * EARLY:
        return None
    head = records[:EARLY]
    step, peak, _ = max(head, key=lambda record: record[1])
    typical = statistics.median(g for _, g, _ in records[EARLY:])
    rose = max(loss for _, _, loss in head) / max(head[0][2], 1e-12)
    if peak <= EARLY_JUMP * head[0][1] or peak <= EARLY_TYPICAL * typical or rose < RISE:
        return None
    if worse_than_reference(r) is not True:
        return None
    words, change = _tame(r, head[0][1])
    if r.recurrent:   # fit's init= does not reach recurrent weights: say what does
        words += ("; start the recurrent weights at or below the identity (nn.init.orthogonal_), since each step "
                  "of a sequence multiplies the state by them")
    return Finding("exploding_gradients", "warning", (step, step), {"peak": peak, "first": head[0][1],
                                                                    "median_after": typical, "loss_rise": rose},
                   f"exploding gradients at the start: the gradient norm jumped to {peak:.3g} at step {step} "
                   f"({peak / head[0][1]:.3g}x the first step's, {peak / typical:.3g}x the run's median after) "
                   f"and the loss rose {rose:.3g}x; the run never made up for it and ended clearly short of a "
                   f"linear model on the same rows", with_flags(words, change), change)


def _spike_recovered(r: Readings, step: int) -> bool:
    """Whether the smoothed training loss ended within 2x of where it stood just before `step` (a gradient spike's
    step): the run came back from the spike (a finished fit near its floor, where one batch's gradient can be
    many times the tiny median, has nothing to clip)."""
    if r.curve is None:   # the loss curve is not measured (the rule called on gradient norms alone)
        return False
    before = [v for t, v in zip(r.curve.steps, r.curve.smoothed) if t < step]
    return bool(before) and r.curve.smoothed[-1] <= 2 * before[-1]


def _input_to_output_ratio(r: Readings) -> float | None:
    """Median over sampled steps of (first layer's weight-gradient norm / last layer's), in the standardized
    target's terms when auto folded the target's sd into the last layer (which scales this ratio by the sd)."""
    folded = r.auto_target.get("sd", 1.0) if r.auto_target else 1.0
    ratios = []
    for sample in r.layer_grads:
        names, norms = list(sample), list(sample.values())
        if len(norms) >= 3 and norms[-1] > 0:
            scale = folded if names[-1] == f"{r.auto_target.get('layer')}.weight" else 1.0
            ratios.append(norms[0] / norms[-1] / scale)
    return statistics.median(ratios) if ratios else None


def _gradients_vanish(r: Readings) -> bool:
    """Whether the first layer's gradient is under 1e-3 of the last one's (see _input_to_output_ratio)."""
    ratio = _input_to_output_ratio(r)
    return ratio is not None and ratio < 1e-3


def _silent_layer(r: Readings) -> str | None:
    """A ReLU layer none of whose units fired for any example of its last sampled batches: no gradient passes it,
    so the layers before it get none whatever their depth or activations (dead units, not vanishing ones)."""
    return next((name for name, samples in r.dead.items()
                 if samples and not bool(torch.stack(samples[-DEAD_SAMPLES:]).any())), None)


FADED = 1e-3   # the gradient at one end this small a share of the other's: nothing learns from that end


def _vanishing_through_time(r: Readings) -> Finding | None:
    """The output's gradient with respect to a sequence's first quarter of steps is under FADED of that for its last
    quarter (see probes.early_step_reach), a linear model, which reads every step, does clearly better, and it does
    better than one without the first quarter: the early steps matter, and the model cannot learn from them (a
    target set by the last steps makes the linear model better whatever the early ones hold). Not when the steps
    hardly moved the weights (under 1e-4 of their size, lr_too_low's measure): an untrained recurrent model forgets
    early steps by its start, and training may teach it to keep them."""
    reach, moved = r.early_step_reach, median_update_ratio(r)
    if reach is None or reach >= FADED or (moved is not None and moved < 1e-4) or not worse_than_reference(r):
        return None
    if early_steps_matter(r) is False:
        return None
    return Finding("vanishing_gradients", "warning", None, {"early_to_late": reach, "through": "time"},
                   f"vanishing gradients through time: the output's gradient with respect to the first quarter of "
                   f"each sequence's steps is {1 / max(reach, 1e-300):.3g}x smaller than for the last quarter, so "
                   f"the model cannot learn from early steps, and a linear model that reads every step does clearly "
                   f"better on the same rows",
                   "give the early steps a short path to the output (attention over all steps, or fewer steps "
                   "between them and the output); gated cells (nn.LSTM, nn.GRU) carry gradients further than a plain "
                   "nn.RNN, but over long gaps they too may need many more steps")


def vanishing_gradients(r: Readings) -> Finding | None:
    through_time = _vanishing_through_time(r)
    if through_time is not None:
        return through_time
    ratio = _input_to_output_ratio(r)
    if ratio is None or ratio >= 1e-3 or _silent_layer(r) is not None:
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


def dead_units(r: Readings) -> Finding | None:
    """Over half the units of a ReLU layer never fire on the last sampled batches, and it costs: the model does
    worse than a linear reference (or, with no reference, the loss hardly fell from where the weights started: the
    first loss of auto's sweep when training went on from the sweep's weights, which learnt too)."""
    worst = most_dead(r)
    s = r.curve.smoothed
    if worst is None or not s:
        return None
    costs = True if no_better_than_constant(r) else worse_than_reference(r)
    fell = min(s) < 0.9 * (s[0] if r.sweep_start is None else r.sweep_start)
    if costs is False or (costs is None and fell):
        return None
    name, dead, units = worst
    from_start = dead_from_start(r, name)
    if from_start and still_where_gradients_flow(r):
        return None   # the steps hardly moved even the weights the loss reaches: lr_too_low's to name
    lr = base_lr(r)
    if from_start or line_search(r) or not math.isfinite(lr):   # the initialization switched them off
        change, words = {"init": "kaiming"}, "re-initialize with init='kaiming' (zero biases, fan-in scale)"
    else:      # alive at the first sampled step: steps too large knocked them out while training
        change, words = lr_change(r, lr / 10), f"lower the learning rate to {typed(lr / 10)}"
    return Finding("dead_units", "warning", None, {"layer": name, "dead_fraction": dead, "units": units},
                   f"dead units: {dead:.0%} of the {units} units after {name!r} output zero for every example "
                   f"in the last sampled batches", with_flags(words, change), change)


def still_where_gradients_flow(r: Readings) -> bool:
    """Whether the weights that got a gradient moved by under 1e-4 of their size per step (lr_too_low's measure,
    over the sampled steps and weights whose gradient was not zero): units dead from the start leave the weights
    around them without a gradient, but they do not keep the live ones from moving; steps that small do."""
    moved = [ratio for grads, ratios in zip(r.layer_grads, r.update_ratios) for name, ratio in ratios.items()
             if grads.get(name, 0.0) != 0 and math.isfinite(ratio)]
    return bool(moved) and statistics.median(moved) < 1e-4


DECAYED = 1e-2   # an lr below this share of its peak moves the weights by next to nothing


def lr_too_low(r: Readings) -> Finding | None:
    """Each step moves the weights by under 1e-4 of their size and the loss hardly changed; a line search (which
    takes tiny steps only where the objective wants them) is never too slow this way."""
    steps, s = r.curve.steps, r.curve.smoothed
    ratio = median_update_ratio(r)
    if len(s) < MIN_STEPS or ratio is None or ratio >= 1e-4 or line_search(r):
        return None
    went = _hardly_changed(r)
    if went is None:
        return None
    start, end, change = went
    lr = base_lr(r)
    what = (f"learning rate too low: each step changed the weights by only {ratio:.1e} of their size, and over "
            f"{steps[-1]} steps the loss went from {start:.4g} to {end:.4g} ({change:+.1%})")
    evidence = {"change": change, "update_ratio": ratio, "lr": lr}
    held = _schedule_held_low(r)
    if held is not None:   # the lr was fine; the schedule never let it act
        return Finding("lr_too_low", "warning", (steps[0], steps[-1]), {**evidence, "schedule_peak": held},
                       f"{what}: the schedule never took the lr above {held:.1e}, under {DECAYED:.0%} of the lr "
                       f"{setting(r, 'lr', lr):.1e} it scales (a warmup longer than the run?)",
                       "leave schedule out (fit's default warms up and decays within the run) or fit the schedule to "
                       "the run's length", {"schedule": None})
    chose = f": auto took lr_find's suggestion {typed(r.auto_lr)} from its sweep, too low here" if r.auto_lr else ""
    factor = min(max(TYPICAL_UPDATE / max(ratio, 1e-12), 10.0), 1e4)   # steps scale with the lr: aim at a
    # typical update (weights that never moved, such as an all-zero start, get the largest factor)
    fix = lr_change(r, lr * factor)
    return Finding("lr_too_low", "warning", (steps[0], steps[-1]), evidence, what,
                   with_flags(f"try lr {typed(lr * factor)}{chose}; about 1e-3 of the weights per step is typical",
                              fix),
                   fix)


def _hardly_changed(r: Readings) -> tuple[float, float, float] | None:
    """(from, to, relative change) of the training loss when it changed by under a fifth: the smoothed curve's
    ends, or else the mean losses of the run's first and last tenth. The smoothed curve starts at the first batch's
    loss alone, and one batch can sit far from the rest (a loss that jumps at the first step under any lr, a
    batch of easy rows), which the tenths average out; None when both moved by a fifth or more."""
    s = r.curve.smoothed
    for start, end in ((s[0], s[-1]), loss_ends(r)):
        change = (end - start) / max(abs(start), 1e-12)
        if abs(change) < 0.2:
            return start, end, change
    return None


def _schedule_held_low(r: Readings) -> float | None:
    """The highest lr the run recorded, when a schedule the caller gave kept every lr under DECAYED of the lr it
    scales (auto's pick or the caller's lr); None otherwise, and without a schedule or a known lr to scale."""
    scaled = r.auto_lr if r.auto_lr is not None else setting(r, "lr")
    if setting(r, "schedule") is None or not isinstance(scaled, (int, float)) or not scaled > 0:
        return None
    peak = max((x["lr"] for x in r.history if math.isfinite(x.get("lr", math.nan))), default=math.nan)
    return peak if peak < DECAYED * scaled else None


def lr_decayed_early(r: Readings) -> Finding | None:
    """The recorded lr fell below DECAYED of its peak before half the run's steps (a schedule too short or too
    steep for the run), and the model ended clearly short of a linear reference or no better than a constant.
    Only with a schedule the caller gave (the fix leaves it out); not under a line search (no lr) or after
    doctor='fix' rollbacks (they cut the lr on purpose)."""
    lrs = r.finite("lr")
    if len(lrs) < MIN_STEPS or line_search(r) or r.interventions or setting(r, "schedule") is None:
        return None
    peak_i = max(range(len(lrs)), key=lambda i: lrs[i][1])
    (peak_step, peak), (first, _), (last, end) = lrs[peak_i], lrs[0], lrs[-1]
    low = next((step for step, lr in lrs[peak_i:] if lr < DECAYED * peak), None)
    if peak <= 0 or low is None or low - first > 0.5 * (last - first):
        return None
    if not (worse_than_reference(r) or no_better_than_constant(r)):
        return None
    return Finding("lr_decayed_early", "warning", (low, last), {"peak": peak, "peak_step": peak_step, "below_at": low,
                                                                "final_lr": end},
                   f"learning rate decayed early: the schedule took the lr from {peak:.2g} at step {peak_step} to "
                   f"under {DECAYED:.0%} of it by step {low} of {last} (it ended at {end:.1e}); the last "
                   f"{(last - low) / max(last - first, 1):.0%} of the run barely moved the weights, and the model "
                   f"ended clearly short of a reference fitted on the same rows",
                   "leave schedule out (fit's default decays over the whole run) or stretch the schedule over the "
                   "run, e.g. schedule=descend.schedules.cosine()", {"schedule": None})


RULES = [bad_start, small_start, non_finite, line_search_on_batches, lr_too_high, exploding_gradients,
         vanishing_gradients, dead_units, lr_decayed_early, lr_too_low]


def rollbacks(r: Readings) -> list[Finding]:
    """One info finding per doctor='fix' rollback; the advice names an lr below every lr that diverged."""
    if not r.interventions:
        return []
    safe = min(i["lr"] for i in r.interventions)
    change = lr_change(r, safe)
    return [Finding("rollback", "info", (i["from_step"], i["at_step"]), dict(i),
                    f"rolled back at step {i['at_step']} ({i['why']}) to the state of step {i['from_step']} "
                    f"and cut the learning rate to {i['lr']:.2e}",
                    with_flags(f"start at lr {typed(safe)}, where the run finished without diverging again", change),
                    change) for i in r.interventions]
