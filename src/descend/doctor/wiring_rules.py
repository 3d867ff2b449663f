"""Rules about how the user's own code wires the run together: weights the loss never reaches (a .detach() or a
no_grad in forward), rows of a batch that leak into each other's outputs, a loss that never pairs an output with
its own target, dropout that drowns the signal, an adaptive optimizer whose eps swamps the gradient, and a loss
that weighs one of two balanced classes more. Each reads
one probe or setting that the run itself shows, and most fire only at a cost (short of a reference or of a
constant prediction), so a random-features layer fixed on purpose or a loss that pairs rows stay silent."""
from __future__ import annotations

import math
import statistics

from .advice import no_better_than_constant, setting, with_flags, worse_than_reference
from .findings import Finding
from .instruments import Readings
from .outcome_rules import falling_rate

FADED = 1e-3  # one layer's gradient this small a share of another's: it fades through the layers (vanishing)
SAMPLES = 3   # sampled steps the gradient census needs before a weight that never got a gradient says anything


def _at_a_cost(r: Readings) -> bool:
    return bool(worse_than_reference(r) or no_better_than_constant(r))


def _fully_dead(r: Readings) -> bool:
    """Whether a ReLU layer had no active unit in its last sampled batch: that alone zeroes the gradients below."""
    return any(not bool(samples[-1].any()) for samples in r.dead.values() if samples)


def _fading(r: Readings) -> bool:
    """Whether the gradients that did arrive fade through the layers: at some sampled step the smallest non-zero
    layer norm is under FADED of the largest. Gradients that shrink layer by layer underflow to exactly zero
    before the first layers (a deep sigmoid stack): vanishing gradients, not a cut graph."""
    for sample in r.layer_grads:
        arrived = [norm for norm in sample.values() if norm > 0 and math.isfinite(norm)]
        if len(arrived) >= 2 and min(arrived) < FADED * max(arrived):
            return True
    return False


def detached_parameters(r: Readings) -> Finding | None:
    """Weights that require a gradient received none (no gradient, or exactly zero) at every sampled step, no ReLU
    layer was entirely dead (which zeroes gradients too), and the model falls short: the loss does not reach them
    through autograd (a .detach(), torch.no_grad() or a NumPy round trip in forward, or a layer built but never
    called), so they keep their initial values. A gradient of exactly zero counts only when the gradients that
    arrived do not fade through the layers (see _fading)."""
    if len(r.layer_grads) < SAMPLES or not r.trainable_weights or _fully_dead(r):
        return None
    reached = {name for sample in r.layer_grads for name, norm in sample.items() if norm != 0}
    present = set() if not _fading(r) else {name for sample in r.layer_grads for name in sample}
    missing = [name for name in r.trainable_weights if name not in reached | present]
    if not missing or not _at_a_cost(r):
        return None
    shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    return Finding("detached_parameters", "warning", None, {"weights": missing, "of": len(r.trainable_weights)},
                   f"weights the loss never reaches: {len(missing)} of the model's {len(r.trainable_weights)} "
                   f"trainable weights ({shown}) received no gradient (none, or exactly zero) at any sampled "
                   f"step, so they kept their initial values, and the model ended clearly short of a reference "
                   f"fitted on the same rows",
                   "look in forward for what cuts the graph between these weights and the output: a .detach(), a "
                   "torch.no_grad() block, .item() / .numpy() and back, or a layer that is built but never called")


BATCH_DECIDES = 0.5   # a row's output moving by half the outputs' size with its batch: the batch sets it


def batch_mixing(r: Readings) -> Finding | None:
    """In eval mode, a row's output changes when the other rows of its batch change (see probes.batch_mixing), and
    the model falls short, or the change is BATCH_DECIDES of the outputs' size or more: rows leak into each other,
    so what it learns for one row depends on its batch, and a prediction made for one row (or in another batch)
    is not the one validation measured, whatever a reference could show."""
    if r.batch_mixing is None:
        return None
    short = _at_a_cost(r)
    if not short and r.batch_mixing < BATCH_DECIDES:
        return None
    cost = ("the model ended clearly short of a reference fitted on the same rows" if short else
            "its predictions for new rows depend on whatever rows share their batch, not on those rows alone")
    return Finding("batch_mixing", "warning", None, {"change": r.batch_mixing, "short_of_reference": short},
                   f"rows mix within a batch: in eval mode the model's output for a row changed by "
                   f"{r.batch_mixing:.0%} of the outputs' size when its batch was cut (to half its rows, or to "
                   f"two), so each row's prediction depends on its batch, and {cost}",
                   "find the layer that works across dimension 0: a recurrent layer (nn.GRU, nn.LSTM, nn.RNN) or "
                   "attention given (batch, steps, features) needs batch_first=True; a BatchNorm built with "
                   "track_running_stats=False normalizes by its batch in eval mode too (keep the default True); a "
                   "softmax, normalization or reshape over dim 0 mixes rows too")


def loss_unpaired(r: Readings) -> Finding | None:
    """The user's loss gives the same value when the outputs are moved against the targets (see
    probes.unpaired_loss): it compares every output with every target (broadcasting), so the best the model can
    do is predict the targets' mean for every row. Offered fix: the named loss it equals once shapes agree."""
    found = r.unpaired_loss
    if found is None:
        return None
    change = {"loss": found["same_as"]} if found["same_as"] else {}
    shapes = f"outputs of shape {tuple(found['output'])} against targets of shape {tuple(found['target'])}"
    named = f"use loss={found['same_as']!r}, which aligns the shapes, or " if change else ""
    return Finding("loss_unpaired", "warning", None, found,
                   f"the loss does not pair outputs with targets: it gave the same value when the outputs were moved "
                   f"one row against their targets ({shapes}: broadcasting compares every output with every "
                   f"target), so the model can only learn the targets' mean",
                   with_flags(f"{named}make the shapes agree in the loss (output.squeeze(-1), or target[:, None])",
                              change), change)


FEW_IDS = 2   # distinct ids, of an embedding table of 20 rows or more, that say the ids lost their values


def embedding_ids(r: Readings) -> Finding | None:
    """An embedding table of 20 rows or more was given at most FEW_IDS distinct ids, none above 1, on 100
    comparison rows or more (see probes.ids_seen): the id column was scaled into [0, 1] with the features, so that
    .long() turns it into 0 and 1, and every row looks up the same vector or two. No reference can show the cost (a
    linear model reads the scaled ids as a number, no better), so the count decides. Not for descend fit's own
    networks (their category tables follow the data, however skewed a column is)."""
    seen = r.embedding_ids
    if seen is None or seen["table_rows"] < 20 or seen["rows"] < 100 or seen["distinct"] > FEW_IDS \
            or seen["largest"] > 1 or r.member_loss:
        return None
    return Finding("embedding_ids", "warning", None, seen,
                   f"the embedding's ids lost their values: a table of {seen['table_rows']} rows was given only "
                   f"{seen['distinct']} distinct id(s) over {seen['rows']} rows, so every row looks up the same "
                   f"vector or two",
                   "pass the id column as raw whole numbers 0..n-1 (leave it out of scaling or standardization, and "
                   "cast it with .long() only)")


def unread_outputs(r: Readings) -> Finding | None:
    """The user's loss never reads some output columns of a model whose outputs have the targets' shape, or reads
    them only through fewer combinations than there are columns (see probes.unread_outputs): those targets, or
    those differences between them, are never fitted (a loss written for one target indexing column 0, a slice one
    short, an error averaged over the columns before squaring). Offered fix: mse, when the loss is mse on the
    columns it reads."""
    found = r.unread_outputs
    if found is None:
        return None
    if not found["unread"]:
        return _unread_combinations(found)
    change = {"loss": found["same_as"]} if found["same_as"] else {}
    shown = ", ".join(map(str, found["unread"]))
    return Finding("unread_outputs", "warning", None, found,
                   f"the loss never reads output column(s) {shown} of {found['columns']}: their gradient is zero "
                   f"for every row, so the targets in those columns are never fitted",
                   with_flags(("use loss='mse', which reads every column, or " if change else "") +
                              "make the loss cover every output column (output[:, 0] reads one)", change), change)


def _unread_combinations(found: dict) -> Finding:
    k, read = found["columns"], found["read"]
    return Finding("unread_outputs", "warning", None, found,
                   f"the loss reads the {k} output columns only through {read} combination(s) of them: its gradient "
                   f"takes the same {read} direction(s) on every row, so the other {k - read} are never fitted "
                   f"(errors of opposite sign in different columns cancel)",
                   "compute the error of each column on its own (square or take the absolute value of each column's "
                   "error, then average), or use loss='mse'")


HEAVY_DROPOUT = 0.5   # a dropout p from which most of a layer's units are dropped at every step


def dropout_too_strong(r: Readings) -> Finding | None:
    """A dropout layer drops half or more of its units and the model falls clearly short of a reference fitted on
    the same rows: the noise, not the model's size, holds it back."""
    if r.dropout < HEAVY_DROPOUT or not worse_than_reference(r):
        return None
    change = {"dropout": 0.1}
    return Finding("dropout_too_strong", "warning", None, {"dropout": r.dropout},
                   f"dropout too strong: a dropout layer drops {r.dropout:.0%} of its units at every training step, "
                   f"and the model ends clearly short of a reference fitted on the same rows",
                   with_flags("lower dropout to 0.1-0.3 (nn.Dropout(p=0.1)), or leave it out", change), change)


SWAMPED = 10   # eps this many times the gradient's typical size per weight: the adaptive scaling is gone


def optimizer_eps(r: Readings) -> Finding | None:
    """An adaptive optimizer (Adam, RMSprop, Adagrad, ...) whose eps is over SWAMPED times the gradient's typical
    size per weight: each step is divided by eps instead of the gradient's own scale, so it moves the weights by
    lr x gradient / eps, a sliver; fires at a cost."""
    groups = getattr(setting(r, "optimizer"), "param_groups", None) or []
    eps = max((g["eps"] for g in groups if isinstance(g.get("eps"), float)), default=None)
    norms = [norm for _, norm in r.finite("grad_norm")]
    trainable = r.frozen[1] - r.frozen[0]
    if eps is None or len(norms) < 10 or trainable <= 0:
        return None
    per_weight = statistics.median(norms) / math.sqrt(trainable)
    cost = _eps_cost(r) if eps >= SWAMPED * per_weight else None
    if cost is None:
        return None
    change = {"optimizer_eps": 1e-8}
    return Finding("optimizer_eps", "warning", None, {"eps": eps, "gradient_per_weight": per_weight},
                   f"the optimizer's eps swamps the gradient: eps={eps:g} is {eps / per_weight:.0f}x the gradient's "
                   f"typical size per weight ({per_weight:.2g}), so each step is divided by eps rather than by the "
                   f"gradient's own scale and moves the weights by a sliver; {cost}",
                   "build the optimizer with its default eps (1e-8 for Adam), or leave optimizer to fit", change)


def _eps_cost(r: Readings) -> str | None:
    """What slivers of steps cost the run, in words: the model ended short of a reference or a constant; or, under a
    loss no reference can judge (the user's own), the loss was still falling when the run ended, so the steps were
    too small for the run to finish. None when neither shows."""
    if _at_a_cost(r):
        return "the model ended clearly short of a reference fitted on the same rows"
    if worse_than_reference(r) is None and falling_rate(r)[0]:
        return "the loss was still falling when the run ended: its steps were too small to finish"
    return None


LEAN = 4                # standard errors of a share between the share called positive and the positive share
THRESHOLD_GAIN = 0.03   # accuracy that moving the threshold from 0 would add on the same rows


def _leans(lean: dict) -> bool:
    """Whether the share called positive is over LEAN standard errors (and 5 points) from the positive share."""
    p, n = lean["actual"], lean["rows"]
    return abs(lean["predicted"] - p) > max(LEAN * math.sqrt(p * (1 - p) / n), 0.05)


def class_weighting(r: Readings) -> Finding | None:
    """Under the user's own loss on about balanced 0/1 classes (see probes.class_lean), the share of rows the
    model calls positive is LEAN standard errors from the share that are, and a threshold other than 0 would be
    THRESHOLD_GAIN more accurate: its scores are shifted towards one class, as a loss that weighs that class more
    (pos_weight, class weights) makes them. On imbalanced classes such a weight has a purpose, and the rule does
    not look."""
    lean = r.class_lean
    if lean is None or not _leans(lean) or lean["best_accuracy"] - lean["accuracy"] < THRESHOLD_GAIN:
        return None
    change = {"loss": "bce"}
    return Finding("class_weighting", "warning", None, lean,
                   f"the scores lean to one class: the model calls {lean['predicted']:.0%} of the rows positive where "
                   f"{lean['actual']:.0%} are, and a threshold other than 0 would be right on "
                   f"{lean['best_accuracy']:.0%} of them instead of {lean['accuracy']:.0%}; a loss that weighs one "
                   f"class more (pos_weight, class weights) shifts the scores so, and these classes are about "
                   f"balanced",
                   "drop the class weight from the loss (loss='bce' weighs both classes alike), or keep it and move "
                   "the decision threshold", change)


WIRING_RULES = [detached_parameters, batch_mixing, embedding_ids, loss_unpaired, unread_outputs, dropout_too_strong,
                optimizer_eps, class_weighting]
