"""Rules about the data and the loss rather than the steps: inputs on wildly different scales, a target in raw
units, a column that is the target, validation rows copied from training, mse on class labels, repeated rows, a
model that is random at evaluation, validation data unlike training, no signal at all, and a model that only ever
predicts the common class.

The last three compare the trained model with references fitted on the same rows (see reference.py): "no signal"
means neither the model nor a linear model nor random features beat a constant prediction by more than the noise.
"""
from __future__ import annotations

import math
import shlex

import torch
from torch import nn

from ..core.frontend import on_command_line
from .advice import (constant_losses, no_better_than_constant, refs, setting, stuck_at_constant, typed, with_flags,
                     worse_than_reference)
from .findings import Finding
from .instruments import Readings
from .reference import accuracy_without, better, class_id_accuracies, in_sample_gain
from .rules import bad_start, dead_units
from .wiring_rules import batch_mixing


def unscaled_inputs(r: Readings) -> Finding | None:
    """The largest input column's typical size is over 1e3, or over 100x that of the smallest column that
    varies (near-constant columns, such as image borders, are no reference). Columns of whole numbers that fit
    the model's embedding tables are ids it looks up, not sizes: they are left out. Within those bounds a size is
    blamed only for a cost (dead units, a far start), and not where the model mixes rows within a batch (each
    row's output, and so the cost, depends on its batch rather than on the inputs' size) or where its outputs do
    not change when every input is scaled up (it divides each row's size away: probes.size_blind)."""
    scales = [0.0 if i in r.index_columns else s for i, s in enumerate(r.input_scales)]
    if not scales or max(scales) <= 0:
        return None
    varying = r.input_varying or [True] * len(scales)
    big_i = max(range(len(scales)), key=scales.__getitem__)
    big = scales[big_i]
    references = [(i, s) for i, s in enumerate(scales) if varying[i] and s > 0] or [(big_i, big)]
    small_i, small = min(references, key=lambda t: t[1])
    if big / small <= 100 and big <= 1e3:
        if batch_mixing(r) or r.size_blind:   # the cost rests on the batch, or the model divides the size away
            return None
        return _killing_units(r, big_i, big) or _starting_far(r, big_i, big)
    if big_i in r.missing_codes:
        return _missing_code(big_i, r.missing_codes[big_i])
    what = (f"input column {big_i} reaches {big:.3g} while column {small_i} stays near {small:.3g} "
            f"({big / small:.3g}x)" if big / small > 100 else f"input column {big_i} reaches {big:.3g}")
    return Finding("unscaled_inputs", "warning", None,
                   {"largest_column": big_i, "largest": big, "smallest_column": small_i, "smallest": small},
                   f"unscaled inputs: {what}", *_standardizing(r))


def _standardizing(r: Readings) -> tuple[str, dict]:
    """The fix's words and change: standardize the input columns the model reads as sizes. Columns of ids that
    its embedding tables look up are named and left out: standardized, they stop being whole numbers in the
    tables' range, and the lookup fails."""
    words = "(subtract its mean, divide by its standard deviation) before training"
    if not r.index_columns:
        return f"standardize each input column {words}", {"standardize_inputs": True}
    sizes = [i for i in range(len(r.input_scales)) if i not in r.index_columns]
    return (f"standardize input column{'s' if len(sizes) > 1 else ''} {typed(sizes)}, each {words}; leave the id "
            f"column{'s' if len(r.index_columns) > 1 else ''} {typed(r.index_columns)}, which the embedding tables "
            f"look up, as they are"), {"standardize_inputs": sizes}


KILLING_SIZE = 10   # inputs this large (10x a standardized column's) move a first layer's outputs 10x as far per step


def _killing_units(r: Readings, column: int, size: float) -> Finding | None:
    """Inputs within unscaled_inputs' bounds that still cost the run: a typical size over KILLING_SIZE, and over half
    the units of a ReLU layer dead at the end, at a cost (see rules.dead_units). A first layer's outputs, and how far
    each step moves them, grow with its inputs' size: steps that suit standardized inputs turn units off for every
    row."""
    dead = dead_units(r) if size > KILLING_SIZE else None
    if dead is None:
        return None
    layer, share = dead.evidence["layer"], dead.evidence["dead_fraction"]
    return Finding("unscaled_inputs", "warning", None, {"largest_column": column, "largest": size, "dead_layer": layer},
                   f"unscaled inputs: input column {column} reaches {size:.3g}, and {share:.0%} of the units after "
                   f"{layer!r} output zero for every example: a first layer's outputs, and each step's change to "
                   f"them, grow with its inputs' size", *_standardizing(r))


def _starting_far(r: Readings, column: int, size: float) -> Finding | None:
    """Inputs within unscaled_inputs' bounds whose size (over KILLING_SIZE) makes the start bad: the first loss is over
    10x a constant prediction's and the run never recovered (see rules.bad_start), and no init scheme the doctor
    tried on a copy of the model starts under 10x it. A first layer's outputs grow with its inputs' size (an offset
    such as temperatures in kelvin, all near 290, counts as size), so the inputs, not the weights, start it far."""
    bad = bad_start(r) if size > KILLING_SIZE else None
    if bad is None:
        return None
    base = bad.evidence["constant_baseline"]
    if any(loss < 10 * base for loss in (r.init_starts or {}).values()):
        return None   # a scheme starts fine on these inputs: the init is what to change (bad_start says so)
    return Finding("unscaled_inputs", "warning", None,
                   {"largest_column": column, "largest": size, "first_loss": bad.evidence["first_loss"],
                    "constant_baseline": base},
                   f"unscaled inputs: input column {column} is typically {size:.3g} in size, and the first loss "
                   f"{bad.evidence['first_loss']:.4g} is {bad.evidence['first_loss'] / base:.3g}x a constant "
                   f"prediction's, under every init scheme tried: a first layer's outputs grow with its inputs' size",
                   *_standardizing(r))


def _missing_code(column: int, code: dict) -> Finding:
    """unscaled_inputs where the column's size comes from one code value far from its measurements (-999 for
    missing): standardizing would keep the code as an extreme value, so the fix replaces it instead."""
    change = {"missing_code": {"column": column, "value": code["value"]}}
    return Finding("unscaled_inputs", "warning", None, {"column": column, **code},
                   f"unscaled inputs: input column {column} holds {code['value']:g} in {code['share']:.0%} of the "
                   f"rows, far from its other values: a code for a missing value, which the model reads as a "
                   f"measurement",
                   f"replace {code['value']:g} in column {column} by the column's median and add a 0/1 column that "
                   f"marks those rows (then standardize as usual)", change)


TARGET_SIZE = 100   # a target this large (median or spread) is in raw units: a network's outputs start near 0, spread 1
SIZED_LOSSES = ("mse", "mae", "huber")


def unscaled_target(r: Readings) -> Finding | None:
    """A numeric target in raw units (its median or spread over TARGET_SIZE) under a loss on raw differences, and a
    cost: the model ends clearly short of a reference it could match (for an affine model the linear one), or no
    better than a constant, or (several columns) it left a column unfitted that a linear fit predicts."""
    size = r.target_size
    if r.settings.get("loss", "mse") not in SIZED_LOSSES:
        return _unreached_target(r)
    if _narrow_column_drowned(r.drowned_column):   # auto's one spread for all columns leaves them as unlike
        return _drowned_column(r)
    if size is None or size <= TARGET_SIZE:
        return None
    if r.auto_target:
        return None   # fit already trained as if the target were standardized
    if not (worse_than_reference(r, own_kind=True) or no_better_than_constant(r)):
        return None
    return _raw_target(size, {}, "the model ended clearly short of a reference fitted on the same rows")


def _raw_target(size: float, evidence: dict, cost: str) -> Finding:
    """The unscaled_target finding for a whole target in raw units, with the `cost` the run showed."""
    return Finding("unscaled_target", "warning", None, {"target_size": size, **evidence},
                   f"unscaled target: the target's typical size is {size:.4g} (its median or spread), while a "
                   f"network's outputs start near 0 with a spread near 1; the steps spent the run reaching the "
                   f"target's scale, and {cost}",
                   "standardize the target (subtract its mean, divide by its standard deviation), train on it with "
                   "the same loss, and map predictions back (prediction x std + mean)", {"standardize_target": True})


UNREACHED = 1   # percent: trained outputs whose median lies below this percentile of the target (or above 100 less)


def _unreached_target(r: Readings) -> Finding | None:
    """Under a loss the user wrote (a quantile's pinball loss, a log-cosh): a target in raw units (typical size over
    TARGET_SIZE) and a cost the run shows (see _unreached_cost)."""
    size = r.target_size
    if isinstance(r.settings.get("loss"), str) or r.auto_target or size is None or size <= TARGET_SIZE:
        return None
    found = _unreached_cost(r)
    return _raw_target(size, found[0], found[1]) if found else None


def _unreached_cost(r: Readings) -> tuple[dict, str] | None:
    """What a raw-unit target cost a run under the user's own loss, as (evidence, words): the trained outputs'
    median still outside the values the target takes (below its UNREACHED-th percentile or above its (100 -
    UNREACHED)-th; any loss on a prediction of the target is least inside them); else the model short of a
    reference. A loss still falling at the end is no cost here: a raw-unit run that paid nothing falls as long."""
    center, spread = r.output_center, r.target_percentiles
    if center is not None and spread is not None and not spread[UNREACHED] <= center <= spread[100 - UNREACHED]:
        side, edge, rest = (("below", spread[UNREACHED], "over") if center < spread[UNREACHED]
                            else ("above", spread[100 - UNREACHED], "under"))
        return ({"output_median": center, "target_percentile": edge},
                f"the trained outputs' median ({center:.4g}) is still {side} {100 - UNREACHED}% of the target's "
                f"values (those are {rest} {edge:.4g})")
    if worse_than_reference(r, own_kind=True):
        return {}, "the model ended clearly short of a reference fitted on the same rows"
    return None


def _narrow_column_drowned(drowned: dict | None) -> bool:
    """Whether the column left unfitted is not the widest one: the widest left unfitted is a target in raw units
    that the steps never reached (the plain unscaled_target), not one drowned by another column."""
    return drowned is not None and drowned["spreads"][drowned["column"]] < max(drowned["spreads"])


def _drowned_column(r: Readings) -> Finding:
    """Target columns in unlike units under one loss: the widest column's errors are the loss, so a column on a
    small scale is left unfitted (see reference.drowned_column), whether the target is in raw units or was divided
    by one spread for all columns. Standardizing each column weighs them alike."""
    drowned = r.drowned_column
    spreads = drowned["spreads"]
    widest = max(range(len(spreads)), key=spreads.__getitem__)
    return Finding("unscaled_target", "warning", None, {"target_size": r.target_size, **drowned},
                   f"unscaled target: the target's columns are in unlike units (standard deviations "
                   f"{_listed(spreads)}), so the loss summed over them is nearly all column {widest}'s; target column "
                   f"{drowned['column']} was left unfitted: the model's squared error on it is "
                   f"{drowned['model']:.3g}, a linear fit's {drowned['linear']:.3g}, a constant's "
                   f"{drowned['constant']:.3g}",
                   "standardize each target column by its own mean and standard deviation (y.mean(0), y.std(0), not "
                   "one over all values) and map predictions back column by column (prediction x std + mean)",
                   {"standardize_target": True})


def _listed(values: list[float], shown: int = 4) -> str:
    """'1.5e+04, 0.0103 and 2.1': up to `shown` numbers, then how many more."""
    words = [f"{v:.3g}" for v in values[:shown]] + ([f"{len(values) - shown} more"] if len(values) > shown else [])
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]


def target_leak(r: Readings) -> Finding | None:
    """A column that is the target itself (a warning), or one that alone keeps the classes apart: that is also what
    a legitimately easy feature looks like, so it is an info finding, a question for whoever knows the column."""
    if r.leak is None:
        return _copying(r)
    if "position" in r.leak:
        return _position_leak(r.leak)
    column, certain = r.leak["column"], r.leak.get("one_value_per_class", True)
    alone = None if certain else _standing_alone(r)
    leak = {**r.leak, **(alone or {})}
    certain = certain or alone is not None
    words = (f"target leak: {_leak_words(leak)}; the model will lean on it and fail wherever the target is "
             f"unknown" if certain else f"possible target leak: {_leak_words(leak)}; if it is recorded after "
             f"the outcome, the model leans on it and fails wherever the target is unknown")
    flag = f" (descend fit: --drop {shlex.quote(leak['name'])})" if "name" in leak and on_command_line() else ""
    change = {} if leak.get("every_step") else {"drop_columns": [column]}   # no action drops a feature of each step
    return Finding("target_leak", "warning" if certain else "info", None, leak, words,
                   with_flags(f"{_leak_fix(leak)}{flag}", change), change)


def _position_leak(leak: dict) -> Finding:
    """One position of image or sequence inputs holds one value per class: the label itself was written into the
    inputs. No change is offered: dropping a pixel or step is an edit of the data pipeline, which the user makes."""
    where = ", ".join(str(i) for i in leak["position"])
    return Finding("target_leak", "warning", None, leak,
                   f"target leak: input position [{where}] (the index after the row's) holds one value per class "
                   f"across all {leak['separates_classes']} classes: the label is written into the inputs (a stamp "
                   f"or marker that differs by class or by source, a label token left in the sequence); the model "
                   f"will lean on it and fail wherever the label is unknown",
                   f"find where input position [{where}] gets its value and remove the label from it (blank the "
                   f"marker, crop it away, or leave the token out) in training and validation alike")


def _leak_fix(leak: dict) -> str:
    """What to do about the leaking column: leave it out, or for a mean-target encoding, compute it without the
    rows it is used on."""
    if leak.get("every_step"):
        return (f"leave feature {leak['feature']} out of every step, in training and validation alike (or check "
                f"that it is known before the outcome)")
    if "last_step" in leak:
        return ("end each input window one step before the value it forecasts (slice the series up to t, not "
                "t + 1), or leave the last step out")
    if "fit" in leak:
        return (f"compute {_column(leak)} from the training rows only, out of fold (each row's value from the other "
                f"folds' targets), and validation's from all training rows; or leave it out")
    return f"leave {_column(leak)} out (or check that it is known before the outcome)"


def _column(leak: dict) -> str:
    """The leaking column as the user knows it: its name in the table (descend fit) or its input position."""
    return f"column {leak['name']!r}" if "name" in leak else f"input column {leak['column']}"


COPIED = 0.01   # a final loss this share of the constant prediction's, or less: the targets were copied through


def _copying(r: Readings) -> Finding | None:
    """The inputs are the targets themselves and no Linear layer of the model is narrower than them, and the run
    ended with a loss under COPIED of a constant prediction's: the model learnt to copy its inputs, which is
    either the targets handed to fit as inputs too, or an autoencoder with no bottleneck (it learns nothing)."""
    columns, narrowest, last = len(r.input_scales), r.narrowest_layer, r.history[-1] if r.history else {}
    final = last.get("val_loss", last.get("loss"))
    if (not r.reconstruction or narrowest is None or narrowest < columns or r.target_baseline is None
            or final is None or not final <= COPIED * r.target_baseline):
        return None
    return Finding("target_leak", "warning", None,
                   {"columns": columns, "narrowest_layer": narrowest, "final_loss": final,
                    "constant_loss": r.target_baseline},
                   f"target leak: the inputs are the targets themselves (all {columns} columns), and no layer of the "
                   f"model is narrower than them (the narrowest has {narrowest} outputs), so it learnt to copy them: "
                   f"the loss ended at {final:.3g}, against {r.target_baseline:.3g} for a constant prediction; this "
                   f"looks too good because the answer is among the inputs",
                   "build the inputs from the feature columns only (the target columns left out); if this is an "
                   "autoencoder on purpose, give it a layer narrower than its inputs (a bottleneck) or corrupt the "
                   "inputs (denoising), or it learns nothing but the copy")


LEAK_GAP = 0.1      # a gap between the classes' ranges this share of the column's spread: two clusters, not a cut
LEAK_REST = 0.95    # the other columns' linear accuracy below which one column's perfect split stands alone
REST_SIGNAL = 0.05  # ... and above the common class's share by this much: they carry signal, so the task is noisy


def _standing_alone(r: Readings) -> dict | None:
    """For a column that alone keeps the classes apart: {"rest_accuracy"} when its classes sit in clusters apart
    (the gap between their ranges over LEAK_GAP of its spread, where a column the label is a cut of leaves a gap
    of a few rows' spacing) and a linear classifier on every other column stays below LEAK_REST while beating the
    common class's share by REST_SIGNAL: the other inputs carry signal and say the task is noisy, yet one column is
    never wrong, as the label copied with noise is. When the others say nothing, that column may simply be the one
    feature that matters; None then, and otherwise."""
    leak, data = r.leak, r.sample
    if data is None or "separates_classes" not in leak or leak["column"] >= data.x.shape[1]:
        return None
    spread = float(data.x[:, leak["column"]].std())
    rest = accuracy_without(data, leak["column"])
    if rest is None or not spread > 0 or leak["smallest_gap"] < LEAK_GAP * spread or rest >= LEAK_REST:
        return None
    if r.majority_share is None or rest < r.majority_share + REST_SIGNAL:   # the one column that says anything
        return None
    return {"rest_accuracy": rest}


def _leak_words(leak: dict) -> str:
    column = _column(leak)
    if leak.get("every_step"):
        return (f"feature {leak['feature']} of every step of every input sequence (first and last alike) is the "
                f"target itself, re-coded (correlation {leak['correlation']:.4f} at the last step on the training "
                f"sample): a value of the whole sequence or graph, copied onto each of its steps or nodes, that is "
                f"the outcome")
    if "last_step" in leak:
        return (f"the last step of every input sequence (step {leak['column']}, feature {leak['feature']}) is the "
                f"target itself, re-coded (correlation {leak['correlation']:.4f} on the training sample): the "
                f"window was sliced one step too far and holds the value to forecast")
    if "rest_accuracy" in leak:
        return (f"{column} alone keeps all {leak['separates_classes']} classes apart on the training "
                f"sample, in clusters a clear gap apart ({leak['smallest_gap']:.3g}), while a linear model on all "
                f"the other columns gets {leak['rest_accuracy']:.0%} right: it is the label, copied with noise, "
                f"more likely than a feature")
    if "fit" in leak:
        return (f"{column} follows the mean target of the rows sharing each of its values across {leak['groups']} "
                f"such groups of training rows, {1 / leak['fit']:.3g}x closer than those means' own noise allows: "
                f"it is a mean-target encoding computed over rows that include these (before the split, or "
                f"in-fold), so each row's value holds its own target")
    if "monotone" in leak:
        return (f"{column} {leak['monotone']} with the target across all {leak['rows']} training rows "
                f"read: it is the target under an order-preserving map (a rank, the row number of a table sorted "
                f"by the target, a log)")
    if leak.get("one_value_per_class"):
        return f"{column} holds one value per class: it is the label, re-coded"
    if "separates_classes" in leak:
        return (f"{column} alone keeps all {leak['separates_classes']} classes apart on the training "
                f"sample (their value ranges do not overlap, by {leak['smallest_gap']:.3g} at least)")
    target = f"target column {leak['target_column']}" if "target_column" in leak else "the target"
    return (f"{column} is {target} itself, re-coded (correlation {leak['correlation']:.4f} on the "
            f"training sample)")


def loss_target_mismatch(r: Readings) -> Finding | None:
    """mse on 0/1 labels, or a loss that takes raw scores (bce, cross_entropy) fed the output of a final Sigmoid or
    Softmax: either way the loss does not fit what the model outputs or the targets hold."""
    squashed = _squashed_output(r) or _bounded_output(r) or _probabilities_out_of_range(r)
    if squashed is not None:
        return squashed
    if setting(r, "loss", "mse") in SIZED_LOSSES and r.target_kind is None:
        return _class_ids(r)
    if r.settings.get("loss") != "mse" or r.target_kind is None:
        return None
    loss = "bce" if r.target_kind == "binary" else "cross_entropy"
    squash = [a for a in r.activations if a in SQUASHING]
    drop = f" and remove the final {squash[0]} (the loss takes raw scores)" if squash else ""
    return Finding("loss_target_mismatch", "warning", None, {"target_kind": r.target_kind, "loss": "mse"},
                   f"loss and targets disagree: the targets are {r.target_kind} 0/1 labels, but the loss is mse, "
                   f"which fits them as numbers (its gradient fades as outputs saturate, and accuracy lags)",
                   f"train with loss='{loss}'{drop}", {"loss": loss, **({"drop_output_activation": True} if squash
                                                                        else {})})


BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss)


def _probabilities_out_of_range(r: Readings) -> Finding | None:
    """A binary cross-entropy the user built (nn.BCEWithLogitsLoss(), nn.BCELoss()) on targets outside [0, 1]:
    it takes each target as a probability, and on a target of 255 (a mask read from an image) it falls without
    bound as the output grows, so the loss says nothing. Offered fix: divide the targets by their largest value."""
    top = r.target_percentiles
    if not isinstance(r.settings.get("loss"), BINARY_LOSSES) or not top or (top[0] >= 0 and top[-1] <= 1):
        return None
    change = {"target_divisor": top[-1]} if top[0] >= 0 else {}
    return Finding("loss_target_mismatch", "warning", None, {"loss": type(r.settings["loss"]).__name__,
                                                             "target_range": [top[0], top[-1]]},
                   f"loss and targets disagree: {type(r.settings['loss']).__name__} takes each target as a "
                   f"probability in [0, 1], but the targets run from {top[0]:.4g} to {top[-1]:.4g}; beyond 1 the "
                   f"loss falls without bound as the outputs grow",
                   f"divide the targets by {top[-1]:.4g} (a mask stored as 0/255 becomes 0/1)" if change else
                   "map the targets into [0, 1] (0/1 labels or probabilities)", change)


CLASS_GAP = 0.25   # accuracy a linear classifier gains over a rounded linear regression when the numbers are ids


def _class_ids(r: Readings) -> Finding | None:
    """A numeric target of a few consecutive integers under a loss on raw differences, where a linear classifier
    on the sample tells those values apart far better (CLASS_GAP, and twice as often) than a linear regression's
    rounded predictions: the numbers name classes (ids with no order), which a regression must place on a line.
    Ratings and counts, whose order means something, favour the regression or tie (measured 0.43 against 0.47 on
    ratings 1-5, 0.27 against 0.27 on counts)."""
    found = class_id_accuracies(r.sample) if r.sample is not None else None
    if found is None:
        return None
    as_classes, as_numbers, count = found
    if as_classes < as_numbers + CLASS_GAP or as_classes < 2 * as_numbers:
        return None
    loss, lowest = setting(r, "loss", "mse"), int(r.sample.y.min())
    shift = f"; subtract {lowest} first, so that {lowest}..{lowest + count - 1} become 0..{count - 1}" if lowest else ""
    return Finding("loss_target_mismatch", "warning", None,
                   {"loss": loss, "classes": count, "classifier_accuracy": as_classes,
                    "regression_accuracy": as_numbers},
                   f"loss and targets disagree: the target holds {count} consecutive whole numbers, and a linear "
                   f"classifier tells them apart on {as_classes:.0%} of the comparison rows where a linear regression "
                   f"rounds to the right one on {as_numbers:.0%}: these look like class ids, whose numbers mean no "
                   f"order, but {loss} fits them as amounts on a line",
                   f"treat them as classes: give the model {count} outputs, pass the targets as integer class ids "
                   f"(0..{count - 1}, torch.long{shift}) and train with loss='cross_entropy'; compare accuracy "
                   f"(argmax) "
                   f"with the rounded predictions of this run", {"loss": "cross_entropy", "class_outputs": count})


SQUASHING = ("Sigmoid", "Softmax")   # final activations that turn scores into probabilities
RAW_SCORE_LOSSES = ("bce", "cross_entropy")
RAW_SCORE_MODULES = {nn.BCEWithLogitsLoss: "bce", nn.CrossEntropyLoss: "cross_entropy"}


def raw_score_loss(loss) -> str | None:
    """'bce' or 'cross_entropy' for a loss that takes raw scores, by name or as the torch module a user built."""
    return loss if loss in RAW_SCORE_LOSSES else RAW_SCORE_MODULES.get(type(loss))


def _squashed_output(r: Readings) -> Finding | None:
    """A loss that takes raw scores (loss='bce' or 'cross_entropy', or nn.BCEWithLogitsLoss / nn.CrossEntropyLoss
    built by the user) fed the output of a final Sigmoid or Softmax, a module's or a function's."""
    loss, squash = raw_score_loss(r.settings.get("loss")), r.output_activation
    if loss is None or squash not in SQUASHING:
        return None
    given = r.settings["loss"]
    shown = f"loss='{given}'" if isinstance(given, str) else f"{type(given).__name__}()"
    return Finding("loss_target_mismatch", "warning", None, {"loss": loss, "output_activation": squash},
                   f"loss and model disagree: {shown} applies its own {'sigmoid' if loss == 'bce' else 'softmax'}"
                   f" to raw scores, but the model ends in {squash}, so the loss reads probabilities as scores (its "
                   f"outputs cannot grow confident, and the gradient stays small)",
                   f"remove the model's final {squash}; apply it only when you want probabilities out",
                   {"drop_output_activation": True})


# what a final activation can output (torch's defaults): a target beyond it cannot be reached by any weights
OUTPUT_RANGES = {"ReLU": (0.0, math.inf), "Softplus": (0.0, math.inf), "ReLU6": (0.0, 6.0), "Sigmoid": (0.0, 1.0),
                 "Hardsigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0), "Hardtanh": (-1.0, 1.0), "Softsign": (-1.0, 1.0),
                 "ELU": (-1.0, math.inf), "CELU": (-1.0, math.inf)}
UNREACHABLE = 0.05   # a share of target values beyond the output's range that the fit cannot ignore


def _bounded_output(r: Readings) -> Finding | None:
    """A loss on raw differences (mse, mae, huber) and a model that ends in an activation whose range leaves out
    UNREACHABLE or more of the target's values (beyond 1% of the target's spread): a final ReLU on a target with
    negative values, a Sigmoid or Tanh on a target beyond (0, 1) or (-1, 1)."""
    loss, last, q = r.settings.get("loss", "mse"), r.output_activation, r.target_percentiles
    low, high = r.output_range or OUTPUT_RANGES.get(last, (-math.inf, math.inf))
    if loss not in SIZED_LOSSES or q is None:
        return None
    margin = 0.01 * (q[-1] - q[0])
    below, above = sum(v < low - margin for v in q) / len(q), sum(v > high + margin for v in q) / len(q)
    if below + above < UNREACHABLE or _outputs_reach_past(r, low, high, margin):
        return None
    where = " and ".join(w for w, share in ((f"{below:.0%} lie below {low:g}", below),
                                            (f"{above:.0%} above {high:g}", above)) if share > 0)
    return Finding("loss_target_mismatch", "warning", None,
                   {"loss": loss, "output_activation": last, "output_range": [low, high], "beyond": below + above},
                   f"model and target disagree: the model ends in {last}, whose outputs are "
                   f"{_range_words(low, high)}, but of the "
                   f"training targets {where}: no weights can reach them, and the gradient through {last} fades "
                   f"where it saturates or switches off",
                   f"remove the model's final {last} (the {loss} loss takes raw outputs), or scale the target into "
                   f"its range", {"drop_output_activation": True})


def _range_words(low: float, high: float) -> str:
    """'0 or more', '1 or less' or 'between 0 and 1': what outputs in [low, high] can be."""
    return f"{low:g} or more" if high == math.inf else f"{high:g} or less" if low == -math.inf else \
        f"between {low:g} and {high:g}"


REACHED_PAST = 0.01   # a share of comparison rows whose mse error shows an output past the range: it is not bounded


def _outputs_reach_past(r: Readings, low: float, high: float, margin: float) -> bool:
    """Whether the trained model's outputs on the comparison rows lie beyond [low, high] by more than `margin` on
    REACHED_PAST of them, read from their mse errors: a row whose target lies a distance d past the range and
    whose error is under d - margin has an output past the range too. OUTPUT_RANGES holds torch's default ranges,
    and one built wider (nn.Hardtanh(-4, 4), nn.ELU(alpha=2)) reaches past them, so the range is checked against
    what the model gave."""
    if r.model_losses is None or r.sample is None or r.settings.get("loss", "mse") != "mse":
        return False
    y = r.sample.y_eval.double()
    if y.numel() != len(y) or len(y) != len(r.model_losses):
        return False
    y = y.reshape(-1)   # a (rows, 1) target against (rows,) errors would broadcast to every pair of rows
    past = torch.clamp(low - y, min=0.0) + torch.clamp(y - high, min=0.0)
    error = r.model_losses.double().clamp_min(0.0).sqrt()
    return float(((past > margin) & (error < past - margin)).double().mean()) >= REACHED_PAST


def repeated_rows(r: Readings) -> Finding | None:
    if r.repeated is None:
        return None
    return Finding("repeated_rows", "warning", None, dict(r.repeated), _repeated_words(r.repeated),
                   "check the Dataset's __getitem__ and the loader (an index wrapped at the wrong length, one batch "
                   "reused, a sampler drawing a few rows); no training setting fixes this")


def _repeated_words(repeated: dict) -> str:
    rows, distinct = repeated["rows"], repeated["distinct"]
    if repeated.get("sampler"):
        return (f"repeated rows: the loader's sampler drew {rows} row indices for its first batches but only "
                f"{distinct} distinct ones; training sees a fraction of the data, over and over")
    return (f"repeated rows: the first {rows} training rows read hold only {distinct} distinct ones, although a "
            f"measured column tells them apart; training sees a fraction of the data, over and over")


def unshuffled_data(r: Readings) -> Finding | None:
    """The user's loader serves rows in stored order and that order groups the target (see
    inputs.grouped_order): each stretch of steps sees one class, or one band of the target, and the model chases
    whichever came last. Class runs are a warning by themselves; a numeric target in order (a time series can be
    one) only with a cost, the model short of a reference or of a constant prediction."""
    found = r.grouped_order
    if found is None:
        return None
    if found["kind"] == "values" and not (worse_than_reference(r) or no_better_than_constant(r)):
        return None
    what = (f"neighbouring rows change class {found['within']:.0%} of the time, against {found['random']:.0%} in a "
            f"random order" if found["kind"] == "classes" else
            f"the target's spread within a run is {found['within']:.3g}, against {found['random']:.3g} over the data")
    return Finding("unshuffled_data", "warning", None, dict(found),
                   f"unshuffled data: the training loader serves rows in their stored order (shuffle=False), and "
                   f"that order is grouped by the target: in {found['runs']} runs of {found['rows']} consecutive "
                   f"rows, {what}; each stretch of steps fits one part of the target and undoes the last",
                   "shuffle the rows every epoch: DataLoader(dataset, batch_size=..., shuffle=True), or pass the "
                   "tensors to fit, which shuffles them", {"shuffle": True})


def validation_in_training(r: Readings) -> Finding | None:
    """Validation rows read are copies of training rows: half or more of them, or a tenth where the rows hold
    measured values that only copying repeats (see inputs.copied_validation)."""
    found = r.copied_validation
    if found is None:
        return None
    return Finding("validation_in_training", "warning", None, dict(found),
                   f"validation rows copied from training: {found['copies']} of the {found['rows']} validation rows "
                   f"read are also among the first {found['training_rows']} training rows; the validation loss "
                   f"measures memory, not how the model does on new rows, and cannot show overfitting",
                   "split the data once, and drop from validation every row that is also in training (a row "
                   "duplicated before the split lands on both sides); oversample or augment the training rows "
                   "only, after the split; no training setting fixes this")


def random_evaluation(r: Readings) -> Finding | None:
    """The model's outputs for the same rows differ between two evaluations in eval mode."""
    change = r.random_evaluation
    if change is None:
        return None
    if r.sampling_layers is not None:   # dropout layers built to stay on: Monte Carlo dropout, a choice
        return Finding("random_evaluation", "info", None, {"relative_change": change, "layers": r.sampling_layers},
                       f"random evaluation by design: the model's {r.sampling_layers} layers stay on in eval mode "
                       f"(outputs up to {change:.1%} apart for the same rows on two passes), so each validation "
                       f"loss is one random draw", "for Monte Carlo dropout, average several passes per row when "
                       "predicting; if it is not meant, make the layers' forward follow self.training")
    return Finding("random_evaluation", "warning", None, {"relative_change": change},
                   f"random evaluation: in eval mode the model gave outputs up to {change:.1%} apart for the same rows "
                   f"on two passes, so validation losses and predictions are random (dropout or noise that "
                   f"ignores model.eval())",
                   "use nn.Dropout (model.eval() turns it off) or F.dropout(x, p, training=self.training), and "
                   "make any noise in forward depend on self.training; if sampling at evaluation is intended (MC "
                   "dropout), average several passes")


NEGLIGIBLE = 0.05   # a gain on a constant prediction below this share of its loss is no signal worth the name


def upper_quantile(x: torch.Tensor, q: float) -> torch.Tensor:
    """torch.quantile(x, q) of a 1-D float tensor, for q near 1, from its top values (torch.topk) rather than a
    full sort: the same linear interpolation between the two order statistics around q (n - 1), an eighth of
    the time on 2000 rows."""
    rank = q * (len(x) - 1)
    below = int(rank)
    top = torch.topk(x, len(x) - below).values   # descending: the last is order statistic `below`
    above = top[-2] if len(top) > 1 else top[-1]
    return torch.lerp(top[-1], above, torch.tensor(rank - below, dtype=x.dtype))


def _gain_interval(a, constant) -> tuple[float, float, float]:
    """(lower end, upper end, constant's mean loss): the two-standard-error interval of per-example losses `a`'s
    mean gain on the constant's (same rows), on the rows other than the constant's worst 1% (a few outlier rows do
    not decide it)."""
    usual = constant <= upper_quantile(constant, 0.99)
    diff = (constant - a).double()[usual]
    mean, half = float(diff.mean()), 2 * float(diff.std()) / math.sqrt(len(diff))
    return mean - half, mean + half, float(constant[usual].mean())


def _at_most_negligible(a, constant) -> bool:
    """Whether per-example losses `a` beat the constant's (same rows) by less than NEGLIGIBLE of its loss, even at
    the upper end of the gain's interval (heavy-tailed losses give no such certainty)."""
    _, upper, level = _gain_interval(a, constant)
    return upper < NEGLIGIBLE * level


def _model_gains(model, constant) -> bool:
    """Whether the model's per-example losses beat the constant's by a share that matters: with confidence, or by
    NEGLIGIBLE or more on average though the rows are too few to confirm it (a weak signal on a few hundred
    rows: its absence is unproven, and "no better than a constant" would misstate the numbers)."""
    lower, upper, level = _gain_interval(model, constant)
    return (lower > 0 and upper >= NEGLIGIBLE * level) or (lower + upper) / 2 >= NEGLIGIBLE * level


def no_signal(r: Readings) -> Finding | None:
    """The linear references beat a constant prediction by no share that matters, with confidence, on held-out
    rows (in-sample when there are none: memorizing favours the model there), and the trained model does not
    beat it either (see _model_gains): confidently by no share that matters, or not confidently at all and by
    under a share that matters on average (a small gain within two standard errors of none is no evidence of
    signal, the less so as the kept weights may be the best of many evaluations on these very rows). Not when
    the model never fit its own training rows either (see stuck_at_constant): an optimization cause is not ruled
    out."""
    constant = constant_losses(r)
    if constant is None or len(constant) < 30 or stuck_at_constant(r):
        return None
    if _model_gains(r.model_losses, constant):
        return None   # the model itself beats a constant: there is signal (no reference needed)
    found = refs(r)
    best = found.best() if found is not None else None
    if best is None or not _at_most_negligible(best, found.constant):
        return None
    constant, model = float(found.constant.mean()), float(r.model_losses.mean())
    if r.sample.held_out:
        unlike = _unlike_training(r, model, constant)
        if unlike is not None:
            return unlike
    where = "validation" if r.sample.held_out else "training"
    return Finding("no_signal", "warning", None,
                   {"model_loss": model, "constant_baseline": constant, "linear_reference": float(best.mean()),
                    "rows": len(found.constant)},
                   f"no signal: on {len(found.constant)} {where} rows the model's loss {model:.4g} and a linear "
                   f"model's {float(best.mean()):.4g} are no better than a constant prediction's {constant:.4g}",
                   "check that the labels line up with the rows (not shuffled or shifted) and that the features "
                   "can carry information about the target; no training setting fixes this")


SAME_PREPARATION = ("check that validation is prepared exactly as training: the same label encoding (class order), "
                    "the same target scaling, the same columns in the same order and units, the same source; no "
                    "training setting fixes this")
CLEAR_GAIN = 0.2   # a linear model that beats a constant by this share of its loss on its own rows found signal


def _unlike_training(r: Readings, model: float, constant: float) -> Finding | None:
    """validation_unlike_training where no_signal would be named: a linear model fitted on training rows beats a
    constant clearly on them (by CLEAR_GAIN, with five rows or more per coefficient, so not by memorizing), yet
    neither it nor the model beats one on validation rows. The signal is in training; validation does not follow
    it (labels coded in another order, columns shuffled or scaled apart, another source)."""
    gain = in_sample_gain(r.settings.get("loss"), r.sample)
    if gain is None or gain < CLEAR_GAIN:
        return None
    return Finding("validation_unlike_training", "warning", None,
                   {"training_gain": gain, "model_loss": model, "constant_baseline": constant},
                   f"validation unlike training: a linear model fitted on training rows beats a constant prediction "
                   f"by {gain:.0%} of its loss on them, but on validation rows neither it nor the model does "
                   f"(model {model:.4g}, constant {constant:.4g}): the validation data do not follow the training "
                   f"data{_target_shift(r)}", SAME_PREPARATION)


AGAINST = 2   # training's loss cut by this factor while validation's ends this many times the untrained loss


def validation_against_training(r: Readings) -> Finding | None:
    """validation_unlike_training under a loss whose constant prediction is unknown (a user's loss, so no_signal's
    references cannot judge it): as the training loss fell under 1/AGAINST of the untrained model's, no validation
    evaluation got below that untrained loss and the last one ended AGAINST times above it. Fitting the training
    rows never helped the validation rows and ended up costing them: they follow another relation (labels coded
    the other way round, columns swapped), which overfitting, a drift after a first gain, does not reach."""
    gap = r.curve.gap
    untrained = r.sweep_start if r.sweep_start is not None else next((v for _, v in r.finite("loss")), None)
    if len(gap) < 3 or untrained is None or not untrained > 0 or constant_losses(r) is not None:
        return None
    best, last, train_last = min(v for _, _, v in gap), gap[-1][2], gap[-1][1]
    if best < untrained or last < AGAINST * untrained or train_last * AGAINST > untrained:
        return None
    return Finding("validation_unlike_training", "warning", (gap[0][0], gap[-1][0]),
                   {"val_best": best, "val_last": last, "train_last": train_last, "untrained_loss": untrained},
                   f"validation unlike training: the training loss fell from {untrained:.4g} untrained to "
                   f"{train_last:.4g}, but the validation loss never got below that untrained {untrained:.4g} (its "
                   f"best {best:.4g}) and ended at {last:.4g}: what the model learns on the training rows does not "
                   f"carry to the validation rows and costs them, so they follow another relation", SAME_PREPARATION)


APART = 3   # validation targets centred this many training spreads away, or spread this many times wider or
            # narrower, were scaled or recorded apart


def _target_shift(r: Readings) -> str:
    """Words on how the validation target's median and spread (interquartile, as a normal's standard deviation)
    stand apart from the training target's, when by APART or more; else nothing."""
    train, val = r.target_percentiles, r.val_target_percentiles
    if train is None or val is None:
        return ""
    (centre, spread), (val_centre, val_spread) = ((q[50], (q[75] - q[25]) / 1.349) for q in (train, val))
    if spread <= 0 or (abs(val_centre - centre) < APART * spread and 1 / APART < val_spread / spread < APART):
        return ""
    return (f"; the validation target centres on {val_centre:.4g} with a spread of {val_spread:.4g}, the training "
            f"target on {centre:.4g} with {spread:.4g}: one side was scaled or recorded apart")


IMBALANCED = 2 / 3   # the most common class's share from which a model may collapse onto it (twice the others)


def class_imbalance(r: Readings) -> Finding | None:
    """The model predicts the most common class for (nearly) every comparison row although a reference shows
    that the inputs tell classes apart."""
    share, common = r.majority_predicted, r.majority_share
    if share is None or share < 0.98 or common is None or not IMBALANCED <= common < 0.995:
        return None
    found = refs(r)
    best = found.best() if found is not None else None
    reference = best is not None and better(best, found.constant, by=0.02)
    if not (reference or _ranks_rare(r)):
        return None
    why = ("a linear model tells the classes apart better than that" if reference else
           f"its own scores rank the rarer rows above the common ones (area under the ROC curve "
           f"{r.rare_ranking['auc']:.2f}, where 0.5 is chance): the signal is there, but no score crosses the line")
    return Finding("class_imbalance", "warning", None,
                   {"majority_share": r.majority_share, "predicted_majority": share,
                    **({"rare_ranking": r.rare_ranking["auc"]} if r.rare_ranking else {})},
                   f"class imbalance: {r.majority_share:.0%} of the training rows are one class, and the model "
                   f"predicts it for {share:.0%} of the validation rows, although {why}", "draw the classes equally often (oversample the rare ones, e.g. a "
                   "WeightedRandomSampler) or weight the loss by inverse class frequency", {"resample": "balanced"})


RANKING = 0.6   # an area under the ROC curve that says the model's scores carry signal about the rarer classes


def _ranks_rare(r: Readings) -> bool:
    """Whether the model's scores rank the rarer classes' rows above the common class's by an area under the ROC
    curve of RANKING or more, and by over two standard errors (Hanley and McNeil's) above chance: it has learnt
    something about them, yet predicts the common class for every row."""
    found = r.rare_ranking
    if found is None or found["auc"] < RANKING:
        return False
    auc, rare, common = found["auc"], found["rare"], found["common"]
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (rare - 1) * (q1 - auc ** 2) + (common - 1) * (q2 - auc ** 2)) / (rare * common))
    return auc - 0.5 > 2 * se


GROSS = 6            # target values this many robust spreads from the median are errors more often than data
GROSS_SHARE = (0.02, 0.2)   # a share of such training values that pulls an mse fit, and is still "a few"
EXPECTED = 10        # such values validation would hold at training's share: fewer, and none there may be chance


def _beyond(percentiles: list[float], median: float, spread: float) -> float:
    return sum(abs(v - median) > GROSS * spread for v in percentiles) / len(percentiles)


def target_errors(r: Readings) -> Finding | None:
    """Under mse, a few percent of the training target (GROSS_SHARE) lie over GROSS robust spreads (interquartile
    range / 1.349) from its median while the validation target has under a quarter of that share there, and
    would hold EXPECTED such rows at training's share (so their absence is no chance of a small set): gross values
    that only training holds, most often entry errors, which mse weighs by their square. A heavy tail that
    validation shares (prices, incomes) is the data itself and stays silent."""
    train, val = r.target_percentiles, r.val_target_percentiles
    if train is None or val is None or setting(r, "loss") not in ("mse", None):
        return None
    median, spread = train[50], (train[75] - train[25]) / 1.349
    if not spread > 0:
        return None
    share, val_share = _beyond(train, median, spread), _beyond(val, median, spread)
    if not GROSS_SHARE[0] <= share <= GROSS_SHARE[1] or val_share > share / 4 or (r.val_size or 0) * share < EXPECTED:
        return None
    change = {"loss": "huber"}
    return Finding("target_errors", "warning", None, {"share": share, "val_share": val_share, "median": median,
                                                      "robust_spread": spread},
                   f"gross values in the training target: about {share:.0%} of it lies over {GROSS} robust spreads "
                   f"({GROSS * spread:.3g}) from its median ({median:.3g}), against {val_share:.0%} of the validation "
                   f"target; under mse these rows, weighed by their square, pull the fit away from the rest",
                   with_flags("check those rows for entry errors and fix or drop them, or train with loss='huber', "
                              "which weighs large errors linearly", change), change)


DATA_RULES = [unscaled_inputs, unscaled_target, target_errors, target_leak, validation_in_training,
              loss_target_mismatch,
              repeated_rows, unshuffled_data, random_evaluation, no_signal, validation_against_training,
              class_imbalance]
