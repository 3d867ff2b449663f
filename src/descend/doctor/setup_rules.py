"""Rules about how the user set the run up around a sound model: an optimizer instance that does not hold the model's
weights (built on a copy, or on one layer only) or whose betas are swapped, a schedule that raises the lr, a loss
scaled down under plain SGD, a softmax loss on multi-label targets, a class loss that hides a class (weights that
shrink a class instead of lifting it, an ignore_index that is a real class) or normalizes over the batch, and a
split that put whole classes on one side. Each reads what the run was given (the optimizer's param groups, the
targets, the loss on chosen outputs), so it names the setting itself rather than the symptom (a loss that never
moves, a class the model never predicts, a validation loss that climbs)."""
from __future__ import annotations

import math

import torch
from torch import nn

from .advice import (adaptive, dead_from_start, lr_change, median_update_ratio, most_dead, no_better_than_constant,
                     optimizer_name, setting, typed, with_flags, worse_than_reference)
from .findings import Finding
from .inputs import constant_baseline
from .instruments import Readings
from .rules import still_where_gradients_flow


def _shown(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def optimizer_misses_weights(r: Readings) -> Finding | None:
    """The user's optimizer instance never moves some of the model's trainable weights, and the model falls short of
    a reference or of a constant prediction: the weights it leaves out, or holds only in param groups at lr 0, keep
    their initial values (a head-only optimizer on a model whose body was meant to train, a freeze by lr 0 never
    undone). One that holds none is refused before the run (fit.preflight)."""
    missing = r.unoptimized
    if not missing or not missing["weights"] or not (worse_than_reference(r) or no_better_than_constant(r)):
        return None
    at_zero = missing.get("at_zero_lr", [])
    left_out = [name for name in missing["weights"] if name not in at_zero]
    parts = ([f"leaves out {len(left_out)} ({_shown(left_out)})"] if left_out else []) + \
        ([f"holds {len(at_zero)} only in param groups at lr 0 ({_shown(at_zero)})"] if at_zero else [])
    return Finding("optimizer_misses_weights", "warning", None, missing,
                   f"the optimizer never moves some of the model's weights: of the model's {missing['of']} trainable "
                   f"parameters it {' and '.join(parts)}, so those keep their initial values and the model ended "
                   f"clearly short of a reference fitted on the same rows",
                   "build the optimizer on model.parameters() of the model you pass to fit (after any copy, .to() or "
                   "rebuild) with an lr above 0 in every param group, or leave optimizer to fit; freeze layers on "
                   "purpose with requires_grad_(False)",
                   {"optimizer": "auto"})


def swapped_betas(r: Readings) -> Finding | None:
    """The user's Adam-type optimizer has beta1 >= sqrt(beta2): its momentum remembers gradients longer than its
    second moment remembers their size, and |m| / sqrt(v) is bounded (by Cauchy-Schwarz, a multiple of the lr that
    holds for every gradient sequence) only when beta1^2 / beta2 < 1, the condition of Reddi et al.'s (2018) analysis;
    past it a step can be many times the lr, and the steps overshoot. (0.999, 0.9) is the defaults swapped."""
    groups = getattr(r.settings.get("optimizer"), "param_groups", None) or []
    betas = next((tuple(g["betas"]) for g in groups if isinstance(g.get("betas"), (tuple, list))
                  and len(g["betas"]) == 2 and g["betas"][0] >= g["betas"][1] ** 0.5 > 0), None)
    if betas is None:
        return None
    change = {"optimizer": "auto"}
    return Finding("lr_too_high", "warning", None, {"betas": list(betas)},
                   f"the steps overshoot: the optimizer's betas {betas} put beta1 at or above the square root of "
                   f"beta2 ({betas[1] ** 0.5:.3g}), so its momentum outlasts its memory of the gradients' size and a "
                   f"step can be many times the lr (a step stays within a fixed multiple of it only for beta1 < "
                   f"sqrt(beta2))",
                   "build the optimizer with its default betas (0.9, 0.999), or leave optimizer to fit", change)


RISEN = 10   # a schedule that takes the lr this many times above the lr it scales raises it, not decays it
ROSE = 2     # a training loss that ends this many times above its lowest went up with the lr


def _scaled_lr(r: Readings) -> float | None:
    """The lr the run's schedule scales: auto's pick, the lr given, or the user's optimizer's own."""
    groups = getattr(r.settings.get("optimizer"), "param_groups", None) or [{}]
    given = r.auto_lr or r.settings.get("lr") or groups[0].get("initial_lr", groups[0].get("lr"))
    return given if isinstance(given, float) and given > 0 else None


def rising_schedule(r: Readings) -> Finding | None:
    """The user's schedule took the lr over RISEN times above the lr it scales (a step or exponential schedule
    with gamma above 1, read as a divisor), and the training loss ended ROSE times above its lowest (smoothed): the
    steps overshoot because the schedule keeps raising them, so a lower lr only delays it."""
    scaled, rose = _scaled_lr(r), _rose(r)
    lrs = [lr for _, lr in r.finite("lr")]
    if r.settings.get("schedule") is None or scaled is None or not lrs or max(lrs) < RISEN * scaled or rose is None:
        return None
    change = {"schedule": None}
    return Finding("lr_too_high", "warning", None, {"lr": scaled, "schedule_peak": max(lrs), "rose": rose},
                   f"the steps overshoot: the schedule raised the lr from {scaled:.2g} to {max(lrs):.2g} "
                   f"({max(lrs) / scaled:.0f}x), and the training loss ended {rose:.1f}x above "
                   f"its lowest",
                   "leave schedule out, or give it a factor below 1 (step(every, gamma=0.1) divides the lr by 10)",
                   change)


SHRUNK = 1e-2    # a loss this many times smaller than the named loss it scales shrinks every plain step as much
STILL = 1e-4     # steps that move the weights by under this share of their size (median) leave them where they were


def shrunk_loss(r: Readings) -> Finding | None:
    """The user's loss is a named loss times a fixed factor under SHRUNK (see probes.loss_scale: an average over the
    data set taken on top of the batch mean, a unit conversion), a plain optimizer (SGD: no adaptive scaling to undo
    the factor) took the steps, and they moved the weights by under STILL of their size: the factor divides the
    lr. Offered fix: the named loss itself, at the same lr."""
    found = r.loss_scale
    ratio = median_update_ratio(r)
    if found is None or found["factor"] >= SHRUNK or adaptive(optimizer_name(r)) or ratio is None \
            or ratio >= STILL:
        return None
    change = {"loss": found["same_as"]}
    return Finding("lr_too_low", "warning", None, {**found, "update_ratio": ratio},
                   f"learning rate too low in effect: the loss is {found['same_as']} times {found['factor']:.3g}, and "
                   f"under a plain optimizer that factor scales every step, which moved the weights by "
                   f"{ratio:.1e} of their size",
                   f"use loss='{found['same_as']}' (or drop the factor from the loss) at the same lr, or raise the lr "
                   f"by {1 / found['factor']:.3g}x", change)


def summed_loss(r: Readings) -> Finding | None:
    """The user's loss is summed over the batch's rows, not averaged (see probes.summed_loss: on the same rows given
    twice it doubles), so its gradient and every step grow with the batch size, and the run paid for it: it
    overflowed (a NaN or Inf the data did not bring), its training loss ended ROSE times above its lowest, or,
    under a plain optimizer (whose steps the sum scales, where an adaptive one divides it out), the steps knocked
    out most units of a ReLU layer that were alive at the start, while the weights still reached by a gradient
    kept moving (steps that leave them still overshoot nothing: lr_too_low's to name). The cause is the sum, not
    the lr the user picked for a mean, so the fix averages (or divides the lr by the rows)."""
    rows, scaled = setting(r, "batch_size"), _scaled_lr(r)
    paid = _summed_cost(r)
    if r.summed_loss is None or not isinstance(rows, int) or rows < 2 or not paid:
        return None
    change = lr_change(r, scaled / rows) if scaled else {}
    return Finding("lr_too_high", "warning", None, {"summed_over_rows": True, "batch_size": rows, "lr": scaled},
                   f"the steps overshoot: the loss is summed over the batch's rows, not averaged (given the same "
                   f"rows twice, its value doubles), so each step is about {rows} times (the batch size) a mean "
                   f"loss's step at the same lr, and {paid}",
                   with_flags(f"average the loss over the rows (reduction='mean', or divide the sum by the number "
                              f"of rows, and by the steps or pixels where it sums over them too), or divide the lr "
                              f"by {rows}" + (f" (lr {typed(scaled / rows)})" if scaled else ""), change), change)


def _summed_cost(r: Readings) -> str | None:
    """What overshooting steps cost the run, in words (see summed_loss); None when nothing shows."""
    if _overflowed(r):
        return "the run overflowed"
    if _rose(r):
        return f"the training loss ended {_rose(r):.1f}x above its lowest"
    name = optimizer_name(r)
    dead = most_dead(r) if name and not adaptive(name) else None
    if dead is not None and not dead_from_start(r, dead[0]) and not still_where_gradients_flow(r):
        return f"the steps knocked out {dead[1]:.0%} of the units after {dead[0]!r}, alive at the start"
    return None


def _overflowed(r: Readings) -> bool:
    """The run stopped on a NaN or Inf that the data did not bring (the steps' own overflow)."""
    return r.stop_code == "non_finite" and not (r.non_finite_origin and r.non_finite_origin.from_data)


def _rose(r: Readings) -> float | None:
    """How many times above its lowest the smoothed training loss ended, when over ROSE."""
    smoothed = r.curve.smoothed if r.curve else None
    if not smoothed or not min(smoothed) > 0 or not smoothed[-1] > ROSE * min(smoothed):
        return None
    return smoothed[-1] / min(smoothed)


def _cross_entropy(loss) -> bool:
    return loss == "cross_entropy" or isinstance(loss, nn.CrossEntropyLoss)


def multi_label_softmax(r: Readings) -> Finding | None:
    """cross_entropy (a softmax over the outputs) on 0/1 target rows of which some hold several 1s or none: the
    rows are multi-label tags, and a softmax makes the tags compete for one unit of probability, so a row's tags
    cannot all be called and a row without tags pulls nothing. bce scores each tag on its own."""
    share = r.multi_hot
    if share is None or not _cross_entropy(r.settings.get("loss")):
        return None
    change = {"loss": "bce"}
    return Finding("loss_target_mismatch", "warning", None, {"rows_not_one_hot": share, "loss": "cross_entropy"},
                   f"loss and targets disagree: {share:.0%} of the 0/1 target rows hold several 1s or none "
                   f"(multi-label tags), but cross_entropy's softmax makes the tags of a row share one unit of "
                   f"probability",
                   "train with loss='bce' (one sigmoid per tag), and call a tag present where its output is above 0",
                   change)


HIDDEN = 0.25   # a class weighed under this share of the average row's weight: the loss all but leaves it out
HALF = 0.5      # recall under which the hidden class costs the model


def hidden_class(r: Readings) -> Finding | None:
    """The user's class loss weighs some class at under HIDDEN of the average row (see probes.class_weights): class
    weights set to the class shares instead of their inverses, or an ignore_index copied from padded-token code
    that is a real class here; fires when the model recalls under HALF of that class's comparison rows."""
    found = r.class_weights
    hidden = [c for c, weight in (found or {}).get("weights", {}).items()
              if weight < HIDDEN and found["recall"][c] < HALF]
    if not hidden:
        return None
    change = {"loss": "cross_entropy"}
    classes = ", ".join(f"class {c} at {found['weights'][c]:.2g}x" for c in hidden)
    return Finding("class_weighting", "warning", None, {**found, "hidden": hidden},
                   f"the loss hides a class: it weighs {classes} the average row's weight, and the model recalls "
                   f"{min(found['recall'][c] for c in hidden):.0%} of that class's rows; class weights that "
                   f"give a class its share instead of its inverse, or an ignore_index that is a real class, do so",
                   "drop the weights and ignore_index from the loss (loss='cross_entropy'), or weigh each class by "
                   "the inverse of its share", change)


def batch_normalized_loss(r: Readings) -> Finding | None:
    """The user's class loss normalizes over the batch, not over the classes (see probes.batch_normalized_loss): it
    pairs each row with the other rows' scores for its class rather than with its own scores for the other
    classes, so nothing it rewards fixes how the classes compare within a row, which the predicted class reads."""
    found = r.batch_normalized_loss
    if found is None:
        return None
    return Finding("loss_unpaired", "warning", None, found,
                   f"the loss pairs rows, not classes: on outputs of shape {tuple(found['output'])} it keeps its "
                   f"value when one class's score moves alike on every row and changes when one row's scores all "
                   f"move, as a log_softmax or softmax over dim 0 (the batch) does; nothing it rewards fixes how a "
                   f"row's classes compare, which its predicted class reads",
                   "normalize over the classes (F.log_softmax(output, dim=1)), or use loss='cross_entropy'",
                   {"loss": "cross_entropy"})


COSTLY = 3   # a class's validation rows this many times as costly as the others: the model never learnt it


def unseen_classes(r: Readings) -> Finding | None:
    """Validation rows of classes that the training rows read all but lack (see inputs.unseen_classes), and the model's
    loss on them is COSTLY times its loss on the other validation rows (or, with none, above a constant
    prediction's): the split put whole classes on one side (rows sorted by label before the cut), so validation
    measures classes the model was never shown. The cost keeps a training sample that is only the first rows of
    a large sorted table, whose model did learn every class, from being read so; and so does a loss on those rows
    under the validation classes' own entropy (a constant prediction fitted on the validation rows themselves),
    which no model that never saw a class reaches on it: a near-perfect model shown by a shuffled loader every
    class of a table stored sorted, whose relative cost is a ratio of two near-zero losses."""
    found = r.unseen_classes
    if not found or r.model_losses is None or r.sample is None or not r.sample.held_out:
        return None
    unseen = torch.isin(r.sample.y_eval, torch.tensor(found["classes"], dtype=r.sample.y_eval.dtype))
    if not bool(unseen.any()):
        return None
    cost = float(r.model_losses[unseen].mean())
    hindsight = constant_baseline(setting(r, "loss"), r.sample.y_eval)
    if hindsight is not None and cost < hindsight:
        return None
    seen = float(r.model_losses[~unseen].mean()) if bool((~unseen).any()) else r.target_baseline
    if seen is None or cost < (COSTLY * seen if bool((~unseen).any()) else seen):
        return None
    classes = ", ".join(map(str, found["classes"]))
    return Finding("validation_unlike_training", "warning", None, {**found, "unseen_loss": cost},
                   f"validation unlike training: {found['share']:.0%} of the validation rows belong to class(es) "
                   f"{classes}, which training all but lacks, and the model's loss on them is {cost:.4g}: the split "
                   f"put whole classes on one side", "shuffle the rows before splitting them (or split per class, "
                   "stratified), so that every class is in training and in validation; no training setting fixes "
                   "this")


SETUP_RULES = [optimizer_misses_weights, swapped_betas, rising_schedule, shrunk_loss, summed_loss, multi_label_softmax,
               hidden_class, batch_normalized_loss, unseen_classes]
