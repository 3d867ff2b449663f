"""Findings: what the doctor concluded about a run, in plain words, with the evidence and a fix.

Codes are stable (tests, scripts and run directories rely on them). Findings are ordered root cause first:
a run with unscaled inputs usually also shows a too-high learning rate, and the inputs are what to fix.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import DescendError
from ..core.html import FONT, findings_table

# code -> what it means (what the rule in rules.py checks); the order is the order findings are reported in,
# root causes first (one exception: see `ordered`).
CODES: dict[str, str] = {
    "unscaled_inputs": "an input column's typical size is over 1e3, or over 100x that of the smallest column that "
                       "varies (named a missing-value code when one value far from the others fills 1% of it), or "
                       "over 10 (an offset such as kelvin near 290 counts) while the run starts over 10x a constant "
                       "prediction's loss under every init scheme tried",
    "unscaled_target": "an mse target's typical size (median or interquartile spread) is over 100 (raw units such "
                       "as dollars) and the model ends clearly short of a linear reference: the steps spend the run "
                       "reaching the target's scale; or, with several target columns, a linear fit predicts one of "
                       "them clearly better than a constant while the model misses over half that gain, and the "
                       "target's size is over 100 or its column spreads are over 10x apart (one loss over columns of "
                       "unlike sizes is all the largest column's, also after one spread divides them all); under a loss the "
                       "user wrote, a target over 100 in size whose values the trained outputs' median lies outside "
                       "(below 99% of them or above)",
    "target_leak": "an input column holds the target itself (up to an affine or order-preserving map, one value "
                   "per class, or the label with noise: one column keeps the classes apart, far ahead of all the "
                   "others; or a category's mean target computed over rows that include these, which follows the "
                   "groups' own mean targets closer than their noise allows), or the inputs are the targets and no "
                   "layer is narrower than them (the run copies them); or, for images and sequences, one position "
                   "(a pixel, a step's feature) holds one value per class (the label written into the inputs)",
    "loss_target_mismatch": "mse on targets that are all 0/1 (binary labels or one-hot rows), or on a few "
                            "consecutive whole numbers that a linear classifier tells apart far better than a rounded "
                            "regression (class ids): a classification loss fits them; or a final activation the loss does not take (a Sigmoid/Softmax under "
                            "bce/cross_entropy, or a ReLU/Sigmoid/Tanh whose range leaves out 5% or more of an mse "
                            "target)",
    "repeated_rows": "the training data read before the first step (or the row indices the loader's own sampler "
                     "draws) hold each distinct row three or more times over, rows a measured column tells apart: a "
                     "loader, sampler or Dataset that returns the same rows again",
    "unshuffled_data": "the user's DataLoader serves rows in stored order (no shuffle) and that order is grouped by "
                       "the target: runs of 32 rows hold far fewer classes (or a far narrower target range) than "
                       "the data, so each stretch of steps fits one part of the target",
    "random_evaluation": "the model gives different outputs for the same rows when evaluated twice in eval mode "
                         "(dropout or noise left on): validation losses and predictions are random",
    "validation_unlike_training": "a linear model fitted on training rows beats a constant prediction clearly on "
                                  "them but not on validation rows (or, under a loss with no known constant, the "
                                  "training loss halved while validation never got below the untrained loss and "
                                  "ended over twice it): validation data are prepared differently (label order, "
                                  "columns, source)",
    "no_signal": "the best validation loss sits at a constant prediction's, and neither a linear model nor random "
                 "features do better: the labels may be shuffled or the features hold no information",
    "class_imbalance": "the model predicts the most common class for (nearly) every row although the inputs carry "
                       "signal (a linear model, or its own scores ranking the rarer rows, says so)",
    "order_blind": "the inputs are sequences (batch, steps, features) and the model's output does not change when "
                   "their steps are shuffled (no positional information), while a linear model, which sees each "
                   "step's position, does clearly better",
    "bad_start": "the first losses are over 10x a constant prediction's and the run never got below it, or most "
                 "weights started under a tenth of their layers' default scale and the run stalled: the "
                 "initialization (output scale) is off",
    "batch_norm_small_batches": "BatchNorm layers train on batches of fewer than 8 rows: their batch statistics "
                                "are noise, and eval mode's running averages do not match what training saw",
    "batch_norm_momentum": "BatchNorm layers with a momentum of 0.5 or more (PyTorch's momentum weighs the newest "
                           "batch; Keras's 0.99 is PyTorch's 0.01), and eval mode's loss on training rows is 1.5x "
                           "their loss under their own batch statistics: the running statistics are the last batch's",
    "embedding_ids": "an embedding table of 20 rows or more was given at most 2 distinct ids on 100 rows: the id "
                     "column was scaled with the features, so .long() reads nearly every id as 0",
    "unread_outputs": "the user's loss gives a zero gradient to some output columns on every row, or its gradient "
                      "spans fewer directions than there are columns, though the targets have a column for each: "
                      "those targets (or differences between them) are never fitted",
    "loss_unpaired": "the user's loss gives the same value when the outputs are moved one row against their "
                     "targets: it compares every output with every target (a (batch, 1) output broadcast against a "
                     "(batch,) target), so the model can only learn the targets' mean; or, on class ids, it keeps its "
                     "value when a class's score moves alike on every row (a log_softmax over dim 0, the batch)",
    "detached_parameters": "weights that require a gradient received none at any sampled step (the graph is cut in "
                           "forward: .detach(), no_grad, a NumPy round trip, a layer never called), at a cost",
    "batch_mixing": "in eval mode a row's output changes when the other rows of its batch change (a recurrent layer "
                    "without batch_first, a softmax or normalization over dim 0), at a cost or by half the "
                    "outputs' size or more",
    "optimizer_misses_weights": "the user's optimizer instance leaves some of the model's trainable parameters out "
                                "(or holds them only at lr 0) and the model falls clearly short of a reference "
                                "(one holding none is refused)",
    "dropout_too_strong": "a dropout layer drops half or more of its units and the model falls clearly short of a "
                          "reference fitted on the same rows",
    "optimizer_eps": "an adaptive optimizer's eps is over 10x the gradient's typical size per weight, so its steps "
                     "are divided by eps instead of the gradient's scale, at a cost",
    "class_weighting": "under the user's own loss on about balanced 0/1 classes, the share of rows the model calls "
                       "positive is 4 standard errors from the share that are, and another threshold would be 3% "
                       "more accurate: the loss weighs one class more (pos_weight, class weights)",
    "stopped_too_early": "a patience of 1 or 2 evaluations stopped the run in its first quarter on a validation "
                         "loss that rose with the training loss (a fluctuation, not overfitting), or on evaluations "
                         "taken during auto's lr sweep; or a min_delta of half the loss or more stopped it in its "
                         "first half while the loss still fell below the best it counted",
    "target_errors": "a few percent of the training target lie over 6 robust spreads from its median while the "
                     "validation target has next to none there: under mse those rows (entry errors, most often) "
                     "pull the fit",
    "non_finite": "the run stopped at NaN or Inf in the inputs, the model output, the loss or a gradient "
                  "(origin named); NaN from the loss before any update points at the loss, not the lr",
    "line_search_on_batches": "L-BFGS ran on several batches per epoch and its loss overshot or overflowed: its "
                              "line search and curvature memory assume one deterministic objective",
    "lr_too_high": "the smoothed loss rose 2.5x or more above its lowest value and stayed up (diverged), or climbed "
                   "back to 2x its low at least twice (oscillated), at a cost (not both recovered from and no worse "
                   "than a linear reference at the end), or rose so and left training at a constant prediction's "
                   "loss that a linear reference beats (collapsed), or an adaptive optimizer ran at lr 0.03 or above "
                   "and fell short of a linear reference (coarse), or an Adam-type optimizer's beta1 is at or above "
                   "the square root of its beta2 (betas swapped), or the schedule took the lr over 10x above the lr "
                   "it scales and the loss ended 2x above its low, or the loss stayed at a constant prediction's "
                   "past half the run and left it only once the schedule took the lr under a quarter of its peak "
                   "(held), or a user's loss is summed over the batch's rows (it doubles on the same rows given twice) and the run "
                   "overflowed or its loss ended 2x above its low: the steps overshoot",
    "exploding_gradients": "a gradient norm jumped to more than 100x its median over the 20 steps before, and "
                           "above its size at the start",
    "vanishing_gradients": "the first layer receives gradients over 1000x smaller than the last",
    "dead_units": "over half the units of a ReLU layer output zero for every example of the last sampled batches, "
                  "and the model does worse than a linear reference",
    "frozen_parameters": "some parameters have requires_grad=False and the model does clearly worse than a linear "
                         "reference (or, with none, the frozen weights are still at PyTorch's random initialization)",
    "weight_decay_too_strong": "lr x weight_decay takes over 1% of every weight each step and the model does clearly "
                               "worse than a linear reference",
    "grad_clip_too_small": "grad_clip is below a hundredth of the gradient norms the run measured, so every step "
                           "is cut to a sliver, and the model ends clearly short of a reference",
    "lr_decayed_early": "the schedule took the lr below 1% of its peak before half the run, and the model ends "
                        "clearly short of a linear reference: the rest of the run barely moved the weights",
    "lr_too_low": "each step moves the weights by under 1e-4 of their size and the loss changed by under 20%",
    "not_converged": "the run hit its step limit while the loss was still falling well beyond its noise, short of "
                     "what a linear reference reaches or fast enough that another run as long would halve it",
    "plateau": "the loss changed by under 5% over the whole run although the weights kept moving",
    "overfitting": "the validation loss rose above its best by more than its noise while the training loss kept "
                   "falling (info when a stopping rule restored the best weights or no monitored metric got worse; "
                   "auto's kept best evaluation, which does not stop the run, stays a warning), or training ended "
                   "under a tenth of a constant prediction's loss while every validation evaluation stayed over "
                   "1.2x it",
    "underfitting": "the loss levelled off clearly worse than a reference fitted cheaply on a sample of the same "
                    "data (a linear model, or ridge on random features), with the training loss above it too",
    "loss_metric_mismatch": "the validation loss fell by a fifth while a metric got worse (by more than one "
                            "validation example's worth) or stayed at the most common class's share; or a score kept "
                            "one value, no better than that share, at every evaluation while the validation loss "
                            "ended under half a constant prediction's (a metric that does not read the output)",
    "validation_in_training": "half or more of the validation rows read are copies of training rows (whose rows are "
                              "otherwise distinct), or a tenth where some column tells every row apart (measured "
                              "values, repeated only by copying: oversampling or augmenting before the split); "
                              "validation that is the training data itself, row for row, is a choice: the "
                              "validation loss cannot show how the model does on new rows "
                              "(listed after whatever went wrong in training, which it does not explain)",
    "rollback": "doctor='fix' rolled the run back to its last good state and cut the learning rate",
    "doctor_error": "a rule of the doctor failed on this run (a bug in the doctor, not in the run); the rule is named",
}
# What a finding's `change` may hold besides fit() arguments (lr, loss, init, grad_clip, weight_decay, max_epochs,
# max_steps, schedule, patience: stop=[Patience(n, restore_best=True)]): actions on the data or the model.
ACTIONS = {
    "standardize_inputs": "subtract each input column's mean and divide by its standard deviation (True: every "
                          "column; a list of indices: only those, the others being ids an embedding looks up)",
    "drop_columns": "leave out these input columns (indices)",
    "resample": "'balanced': draw every class equally often (oversample the rare ones)",
    "activation": "use this activation in the hidden layers",
    "drop_output_activation": "remove the model's final activation (Sigmoid, Softmax, ReLU, Tanh: the loss takes raw "
                              "outputs)",
    "capacity": "'larger': a wider or deeper model (a linear model becomes a one-hidden-layer MLP)",
    "unfreeze": "set requires_grad=True on every parameter of the model",
    "shuffle": "shuffle the training rows every epoch (DataLoader(..., shuffle=True))",
    "standardize_target": "subtract the target's mean and divide by its standard deviation (map predictions back)",
    "dropout": "set every dropout layer's p to this value",
    "class_outputs": "treat the target as class ids: this many model outputs, integer targets 0..K-1",
    "optimizer_eps": "build the optimizer with this eps",
    "batch_norm_momentum": "build every BatchNorm layer with this momentum",
    "target_divisor": "divide the targets (training and validation) by this value",
    "missing_code": "{'column': j, 'value': v}: replace v in input column j by the median of its other training "
                    "values and append a 0/1 column marking those rows",
}
# fit() argument or action -> the `descend fit` option that sets it (fixes quote an option only when it exists)
# (not --drop: it takes column names, a finding knows encoded indices)
FLAGS = {"lr": "--lr", "weight_decay": "--weight-decay", "max_epochs": "--max-epochs", "patience": "--patience",
         "batch_size": "--batch-size", "optimizer": "--optimizer"}
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One diagnosis: `code` (see CODES), `severity` (error/warning/info), the `steps` (first, last) it is about,
    the `evidence` numbers behind it, a plain-words `message`, a suggested `fix` in words and the same fix as
    data in `change` ({fit argument or ACTIONS key: new value}; empty when no change of settings would fix it),
    so that a script (or the scenario suite) can apply it and check that it works."""

    code: str
    severity: str
    steps: tuple[int, int] | None
    evidence: dict = field(default_factory=dict)
    message: str = ""
    fix: str = ""
    change: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.code not in CODES:
            raise DescendError(f"unknown finding code {self.code!r}; codes: {', '.join(CODES)}")
        if self.severity not in SEVERITIES:
            raise DescendError(f"finding severity must be one of {SEVERITIES}, got {self.severity!r}")

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message

    def to_dict(self) -> dict:
        data = asdict(self)
        data["steps"] = list(self.steps) if self.steps else None
        data["evidence"] = {k: _jsonable(v) for k, v in self.evidence.items()}
        data["change"] = {k: _jsonable(v) for k, v in self.change.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        steps = data.get("steps")
        return cls(code=data["code"], severity=data["severity"], steps=tuple(steps) if steps else None,
                   evidence=dict(data.get("evidence") or {}), message=data.get("message", ""),
                   fix=data.get("fix", ""), change=dict(data.get("change") or {}))


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def ordered(findings: list[Finding]) -> list[Finding]:
    """Root causes first (the order of CODES), then by the step they start at. One exception: in a run whose
    learning rate was too high, a non-finite value that did not come from the data is the overflow the lr
    caused, so it follows lr_too_high."""
    rank = {code: float(i) for i, code in enumerate(CODES)}
    lr_caused = "lr_too_high" in {f.code for f in findings}

    def key(f: Finding) -> tuple[float, int]:
        overflow = lr_caused and f.code == "non_finite" and not f.evidence.get("from_data", True)
        return rank["lr_too_high"] + 0.5 if overflow else rank[f.code], f.steps[0] if f.steps else -1
    return sorted(findings, key=key)


class Findings(list):
    """A run's findings: a plain list of Finding that Jupyter shows as a table coloured by severity."""

    def _repr_html_(self) -> str:
        return f"<div style='{FONT}'>{findings_table([finding.to_dict() for finding in self])}</div>"

    def __str__(self) -> str:
        """What `print(result.findings)` shows: one line per finding with its severity and code."""
        return summary(self)


def summary(findings: list[Finding]) -> str:
    """A short block of text for the end of a run: one line per finding, or a line saying all looked healthy."""
    if not findings:
        return "doctor: no problems found"
    lines = [f"doctor: {len(findings)} finding(s)"]
    lines += [f"  [{f.severity}] {f} (code {f.code})" for f in findings]
    return "\n".join(lines)


def cut_short(step: int) -> str:
    """What the doctor says of a run stopped by Ctrl-C or an error: nothing about its health, since its rules read
    a run that ended (trends, the trained model against references); where to get a verdict instead."""
    return (f"doctor: no verdict: the run was cut short at step {step}, and the doctor reads a run that ends; "
            "resume it (or run it to its end) to have it diagnosed")


def too_short(step: int, needed: int) -> str:
    """What the doctor says of a run that ended sound before its trend readings could start: no finding, but not a
    clean bill either, since the learning rate, plateaus and overfitting were not judged."""
    steps = "1 step is" if step == 1 else f"{step} steps are"
    return (f"doctor: no problems found, but {steps} too few to judge the learning rate, plateaus or "
            f"overfitting ({needed} or more are needed)")


def save_findings(findings: list[Finding], path: str | Path) -> None:
    """Write findings to `path` as a JSON list of dicts (the format of a run directory's findings.json)."""
    Path(path).write_text(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")


def load_findings(path: str | Path) -> list[Finding]:
    """Read findings written by `save_findings`, or a run directory's findings.json; a missing or malformed file
    raises DescendError naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / "findings.json"
    if not path.is_file():
        raise DescendError(f"no findings file at {path}; fit writes one into its run_dir when the run ends")
    try:
        return Findings(Finding.from_dict(item) for item in json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise DescendError(f"{path} is not a findings file (a JSON list of findings): {err}") from err
