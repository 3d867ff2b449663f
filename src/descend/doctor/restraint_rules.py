"""Rules about what holds a model back by the user's own setting or build rather than by its size or its steps:
parameters frozen (requires_grad=False), weight decay strong enough to pull the weights towards zero faster than
the loss can move them, gradients clipped to a sliver, BatchNorm on batches too small for its statistics, and a
sequence model with no positional information. Each fires only when the run shows a cost: the model falls
clearly short of a reference fitted on the same rows (see advice.worse_than_reference), so frozen layers of a
trained body, a decay that does its job or a set model on a task where order does not matter are left alone."""
from __future__ import annotations

import math
import statistics

from .advice import (base_lr, constant_losses, no_better_than_constant, order_free_signal, setting, stuck_at_constant,
                     with_flags, worse_than_reference)
from .findings import Finding
from .instruments import Readings

DECAY_PER_STEP = 1e-2   # lr x weight_decay: the share of each weight that decay alone takes away in one step


def frozen_parameters(r: Readings) -> Finding | None:
    """Some of the model's parameters have requires_grad=False and the model falls short of a reference; where no
    reference can be fitted (token ids, other losses), when the frozen weights are still at PyTorch's random
    initialization (never trained, so frozen by mistake)."""
    frozen, total = r.frozen
    short = worse_than_reference(r) if frozen else False
    if not frozen or short is False or (short is None and not r.frozen_untrained):
        return None
    why = ("the model does clearly worse than a reference fitted on a sample of the same rows" if short else
           "the frozen weights are still at PyTorch's random initialization: nothing trained them")
    return Finding("frozen_parameters", "warning", None, {"frozen": frozen, "parameters": total,
                                                          "untrained": r.frozen_untrained},
                   f"frozen parameters: {frozen} of the model's {total} parameters have requires_grad=False, and "
                   f"{why}",
                   "unfreeze them (requires_grad_(True)) unless they hold trained weights you mean to keep",
                   {"unfreeze": True})


def weight_decay_too_strong(r: Readings) -> Finding | None:
    """The weight decay the user set takes over DECAY_PER_STEP of every weight each step (lr x weight_decay, for
    decoupled and L2 decay alike), and the model falls short of a reference."""
    decay, lr = setting(r, "weight_decay"), base_lr(r)
    if not decay:
        return _penalty_in_loss(r)
    if not math.isfinite(lr) or lr * decay < DECAY_PER_STEP or not worse_than_reference(r):
        return None
    lower = min(decay / 100, 1e-2)
    change = {"weight_decay": lower}
    return Finding("weight_decay_too_strong", "warning", None, {"weight_decay": decay, "lr": lr,
                                                                "shrink_per_step": lr * decay},
                   f"weight decay too strong: weight_decay={decay:g} at lr {lr:.2g} takes {lr * decay:.1%} of every "
                   f"weight each step, and the model does clearly worse than a reference fitted on a sample of the "
                   f"same rows", with_flags(f"lower weight_decay to {lower:g}", change), change)


PENALTY_SHARE = 0.5   # a penalty this share of the loss's data term or more weighs in the fit's balance


def _penalty_in_loss(r: Readings) -> Finding | None:
    """The user's loss adds a penalty on the weights written by hand (see probes.weight_penalty) that is at least
    PENALTY_SHARE of its data term, the rest of the loss, at the trained weights, and the model, judged by that
    data term, falls short of a reference: a penalty weight meant for a mean put on a sum, or simply too large."""
    found = r.weight_penalty
    if found is None or found["penalty"] < PENALTY_SHARE * found["data"] or not worse_than_reference(r):
        return None
    return Finding("weight_decay_too_strong", "warning", None, dict(found),
                   f"weight penalty too strong: the loss adds a penalty on the weights written in it "
                   f"({found['penalty']:.3g} at the end, {found['penalty'] / found['data']:.2g}x its "
                   f"{found['same_as'] or 'data'} term {found['data']:.3g}), and the model does clearly worse than a "
                   f"reference fitted on a sample of the same rows: the fit traded the data for small weights",
                   "lower the penalty's weight in the loss (a weight meant for a mean over the weights, put on "
                   "their sum, is as many times too large as there are weights), or drop it and pass "
                   "weight_decay=1e-4 to fit")


CLIPPED_TO_A_SLIVER = 100   # gradient norms this many times the clip: every step is cut to a hundredth or less


def _norm_clip(r: Readings) -> float | None:
    clip = setting(r, "grad_clip")
    if isinstance(clip, dict) and set(clip) == {"norm"}:
        clip = clip["norm"]
    return float(clip) if isinstance(clip, (int, float)) and not isinstance(clip, bool) else None


def grad_clip_too_small(r: Readings) -> Finding | None:
    """grad_clip (a norm) is under 1/CLIPPED_TO_A_SLIVER of the median gradient norm the run measured (before
    clipping), so every step is cut to a sliver of its size, and the model falls short of a reference or of a
    constant prediction (an optimizer that normalizes its steps, such as Adam, shrugs the cut off and stays
    silent)."""
    clip = _norm_clip(r)
    norms = [norm for _, norm in r.finite("grad_norm")]
    if clip is None or len(norms) < 10:
        return None
    typical = statistics.median(norms)
    if typical < CLIPPED_TO_A_SLIVER * clip or not (worse_than_reference(r) or no_better_than_constant(r)):
        return None
    suggested = 10.0 ** math.ceil(math.log10(typical))
    change = {"grad_clip": suggested}
    return Finding("grad_clip_too_small", "warning", None, {"grad_clip": clip, "median_grad_norm": typical},
                   f"gradient clipping too tight: grad_clip={clip:g} while the gradient norm was {typical:.3g} at the "
                   f"median step, so every step was cut to {clip / typical:.1e} of its size; the model ended clearly "
                   f"short of a reference fitted on the same rows",
                   with_flags(f"clip only the outliers: grad_clip={suggested:g} (about the typical norm), or leave "
                              f"grad_clip out", change), change)


SMALL_BATCH = 8   # rows per batch below which BatchNorm's batch statistics are noise (Wu & He 2018, group norm)


def batch_norm_small_batches(r: Readings) -> Finding | None:
    """The model has BatchNorm layers and trains on batches of fewer than SMALL_BATCH rows, and the model falls
    short of a reference or of a constant prediction: each batch is normalized by the mean and spread of a few
    rows, and eval mode's running averages describe none of them."""
    batch = setting(r, "batch_size")
    if not r.batch_norms or not isinstance(batch, int) or batch >= SMALL_BATCH:
        return None
    if not (worse_than_reference(r) or no_better_than_constant(r)):
        return None
    change = {"batch_size": 32}
    return Finding("batch_norm_small_batches", "warning", None, {"batch_size": batch, "layers": r.batch_norms},
                   f"BatchNorm on tiny batches: {r.batch_norms} BatchNorm layer(s) train on batches of {batch} rows, "
                   f"whose mean and spread are mostly noise, and the running averages used in eval mode match none "
                   f"of them; the model ended clearly short of a reference fitted on the same rows",
                   with_flags("train on batches of 32 rows or more, or replace BatchNorm by LayerNorm or GroupNorm, "
                              "which do not depend on the batch", change), change)


STATISTICS_COST = 1.5   # eval mode's loss on training rows this many times their loss under their own statistics


def batch_norm_momentum(r: Readings) -> Finding | None:
    """BatchNorm layers whose momentum is FAST_MOMENTUM or more (PyTorch's momentum is the weight of the newest
    batch: Keras's momentum=0.99 is PyTorch's 0.01), and on the comparison rows eval mode, which normalizes by the
    running statistics, loses STATISTICS_COST times what the same rows lose when normalized by their own statistics
    (see probes.on_batch_statistics), by over a tenth of a constant prediction's loss: the running statistics are
    the last batch's or so, and validation and predictions pay for it."""
    if r.batch_statistics_losses is None or r.model_losses is None:
        return None
    running, own = float(r.model_losses.double().mean()), float(r.batch_statistics_losses.double().mean())
    constant = constant_losses(r)
    scale = float(constant.double().mean()) if constant is not None else abs(own)
    if running < STATISTICS_COST * own or running - own < 0.1 * scale:
        return None
    change = {"batch_norm_momentum": 0.1}
    return Finding("batch_norm_momentum", "warning", None,
                   {"momentum": r.batch_norm_momentum, "loss_running": running, "loss_own_statistics": own},
                   f"BatchNorm's running statistics are off: its momentum is {r.batch_norm_momentum:g}, and in "
                   f"PyTorch momentum is the weight of the newest batch, so the running mean and variance that eval "
                   f"mode uses are those of the last batch or so; on training rows the model's loss is {running:.4g} "
                   f"in eval mode against {own:.4g} when they are normalized by their own statistics",
                   "build BatchNorm with momentum=0.1 (PyTorch's default; Keras's momentum=0.99 is PyTorch's 0.01)",
                   change)


def order_blind(r: Readings) -> Finding | None:
    """The inputs are sequences, the model's outputs do not change when their steps are shuffled (see
    probes.order_blind), and a linear model, which weighs every step by its position, does clearly better: the
    order the model cannot see matters here. When the model ended at a constant prediction's loss on its own
    training rows (see stuck_at_constant), only where references reading each sequence as a set find nothing to
    learn either (see advice.order_free_signal): the order held all there was, so being blind to it left nothing;
    else a model that learnt nothing is blind to every input, order included, and the steps are to blame."""
    if not r.order_blind or not worse_than_reference(r):
        return None
    if stuck_at_constant(r) and order_free_signal(r) is not False:
        return None
    return Finding("order_blind", "warning", None, {},
                   "the model cannot see order: its outputs stay the same when the steps of each input sequence are "
                   "shuffled, so it treats a sequence as a set, and a linear model that weighs each step by its "
                   "position does clearly better on the same rows",
                   "give the model the position of each step: add a positional encoding (a learnt position "
                   "embedding or sinusoids added to each step's embedding) before attention or pooling, or read the "
                   "sequence with a convolution or a recurrent layer")


MIN_DELTA_SHARE = 0.5   # a min_delta this share of the loss it guards or more asks each gain to halve the loss
SHORT_PATIENCE = 2   # evaluations without a new best after which a stop says little: one noisy evaluation


def _patience_rules(r: Readings) -> list:
    stop = setting(r, "stop", ())
    return [rule for rule in (stop if isinstance(stop, (list, tuple)) else [stop])
            if getattr(rule, "code", "") == "patience"]


def _patience(r: Readings) -> int | None:
    return min((rule.patience for rule in _patience_rules(r)), default=None)


def _planned_steps(r: Readings) -> int | None:
    if setting(r, "max_steps"):
        return int(setting(r, "max_steps"))
    return int(setting(r, "max_epochs", 20)) * r.steps_per_epoch if r.steps_per_epoch else None


def stopped_too_early(r: Readings) -> Finding | None:
    """Patience of SHORT_PATIENCE evaluations or fewer stopped the run within the first quarter of its planned
    steps, and the validation loss that stopped it rose together with the training loss (see _why_stopped): a
    fluctuation of training, not the turn of overfitting (validation rising while training falls), ended a run
    planned to go four times as long. Or, at any patience, a min_delta too large for the loss (see _uncounted_gains)
    stopped it in its first half."""
    patience, planned = _patience(r), _planned_steps(r)
    if r.stop_code != "patience" or patience is None or not planned:
        return None
    done = r.history[-1]["step"]
    uncounted = _uncounted_gains(r) if done <= planned / 2 else None
    if uncounted is not None:
        return uncounted
    if patience > SHORT_PATIENCE:
        return None
    why = _why_stopped(r) if done <= planned / 4 else None
    if why is None:
        return None
    change = {"patience": 10}
    return Finding("stopped_too_early", "warning", (done, done), {"patience": patience, "steps": done,
                                                                "planned_steps": planned},
                   f"stopped too early: Patience({patience}) ended the run at step {done} of the {planned} planned, "
                   f"after {patience} evaluation(s) without a new best; {why}",
                   with_flags("wait longer for a new best: stop=[Patience(10, restore_best=True)]", change), change)


def _uncounted_gains(r: Readings) -> Finding | None:
    """A Patience on a loss-like value (lower is better) with a min_delta of half or more of the best value it
    counted stopped the run (in its first half: the caller checks) although the value fell below that best while
    it waited: asking each gain to halve the loss is min_delta in the wrong units (an absolute 0.1 on a loss near
    0.1), not a guard against noise, and the run was still improving."""
    for rule in _patience_rules(r):
        key, delta, counted = rule.monitor or "val_loss", rule.min_delta, getattr(rule, "best", None)
        values = [x[key] for x in r.history if math.isfinite(x.get(key, math.nan))]
        if rule.mode != "min" or counted is None or not 0 < counted <= delta / MIN_DELTA_SHARE \
                or len(values) <= rule.patience:
            continue
        reached = min(values[-rule.patience:])
        if reached < counted:
            done, change = r.history[-1]["step"], {"patience": rule.patience}
            return Finding("stopped_too_early", "warning", (done, done),
                           {"patience": rule.patience, "min_delta": delta, "monitor": key, "counted_best": counted,
                            "reached": reached, "steps": done, "planned_steps": _planned_steps(r)},
                           f"stopped too early: Patience({rule.patience}, min_delta={delta:g}) ended the run at step "
                           f"{done} of the {_planned_steps(r)} planned, though {key} improved from {counted:.4g} to "
                           f"{reached:.4g} while it waited: each gain was smaller than min_delta, not absent",
                           with_flags(f"leave min_delta out (or set it far under the {key} values, "
                                      f"{reached:.3g} here): stop=[Patience({rule.patience}, restore_best=True)]",
                                      change), change)
    return None


def _why_stopped(r: Readings) -> str | None:
    """Why the evaluations that stopped a run say little, in words; None when they show overfitting (the training
    loss lower than at the best evaluation). With under two evaluations after auto's lr sweep,
    the run stopped on evaluations taken while the sweep raised the lr on purpose."""
    gap = [(train, val) for _, train, val in r.curve.gap if math.isfinite(val)]
    if len(gap) < 2:
        return "the evaluations it waited on were taken while the run was still starting (auto's lr sweep)"
    best = min(range(len(gap)), key=lambda i: gap[i][1])
    if gap[-1][0] < gap[best][0]:
        return None   # training fell while validation did not: the turn Patience is there to catch
    return f"the validation loss rose {gap[-1][1] / gap[best][1] - 1:.0%} above its best together with the " \
           f"training loss: a fluctuation of training, not overfitting"


RESTRAINT_RULES = [stopped_too_early, frozen_parameters, weight_decay_too_strong, grad_clip_too_small,
                   batch_norm_small_batches, batch_norm_momentum, order_blind]
