"""What `fit(doctor=...)` attaches to a run: instruments, the fix-mode guard, and the findings at the end."""
from __future__ import annotations

import math
import sys

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from ..core.checks import unheld_parameters
from ..core.errors import DescendError
from ..core.loop import Callback, never
from .advice import MIN_STEPS
from .data_rules import KILLING_SIZE, TARGET_SIZE
from .diagnose import diagnose, guarded
from .findings import cut_short, summary, too_short
from .fix import Guard
from . import inputs, sizing
from .instruments import Instruments, Readings, trained_weights
from .output_function import last_bounded, output_bound
from .probes import (EMBEDDINGS, FAST_MOMENTUM, RANDOM_ROWS, batch_mixing, batch_normalized_loss, class_lean,
                     class_weights, early_step_reach, evaluate, fewest_ids, ids_seen, init_starts, is_activation,
                     last_activation, loss_scale, on_batch_statistics, order_blind, output_activation,
                     random_evaluation, sampling_layers, size_blind, started_far_off, summed_loss, unpaired_loss,
                     unread_outputs, weight_penalty)
from .reference import drowned_column, per_example, sample as reference_sample, unlike_columns

MODES = (True, False, "fix")
SETTINGS = ("loss", "optimizer", "lr", "max_epochs", "max_steps", "batch_size", "grad_clip", "weight_decay", "init",
            "stop", "schedule", "run_dir")   # fit arguments the fixes are phrased against (never advise what is on)


def check_mode(mode) -> None:
    """Refuse a `doctor=` that is not True, False or "fix"."""
    if mode not in MODES or isinstance(mode, int) and not isinstance(mode, bool):
        raise DescendError(f"doctor must be True (watch and report), 'fix' (also roll back divergence) or "
                           f"False (off), got {mode!r}")


def _idle_parameters(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
    """The model's trainable parameters that an optimizer instance never moves, by name: those it does not hold
    (core.checks.unheld_parameters) and those it holds only in param groups at lr 0, a freeze left in a fine-tuning
    script (fit's schedules scale each group's lr, so 0 stays 0). {"weights": [...], "of": n, "at_zero_lr": [...]}
    or None when every one can move."""
    unheld = unheld_parameters(model, optimizer) or {"weights": []}
    moved = {id(p) for group in optimizer.param_groups if group.get("lr", 0) != 0 for p in group["params"]}
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    at_zero = [name for name, p in trainable if id(p) in held and id(p) not in moved]
    if not unheld["weights"] and not at_zero:
        return None
    return {"weights": unheld["weights"] + at_zero, "of": len(trainable), "at_zero_lr": at_zero}


class Doctor(Callback):
    """Watches one run (doctor=True), also repairs divergence (doctor="fix"), or does nothing (doctor=False).

    `callbacks` go to the loop, `guard(task)` wraps the task in fix mode, `findings` is filled when the run ends
    and printed as a short summary when `progress` is on. `state_dict()` holds what was measured so far and the
    guard's memory, so that a resumed run reports what the uninterrupted one would. `sample` and `val_sample`
    are some (inputs, targets) rows of the training and validation data, `settings` fit's arguments (see
    SETTINGS), `steps_per_epoch` the steps one pass over the training data takes (when known), `drawn` what a
    custom sampler draws, `in_order` the targets of runs of consecutive rows when the user's loader does not
    shuffle, `planned_rows` the rows the whole run trains on (when known: the rows the doctor reads are sized to
    it, see sizing.py); a failure to read them becomes a `doctor_error` finding, never an error of the run.
    A loss with a `readings_view(x, y)` method says which part of a sample the data readings (leaks, scales,
    classes) and the references see: the features and the target, without columns that only route rows (descend
    fit's folds), its `reference_loss` the named loss the model's evaluation output is compared under, and
    its `input_names` (one per input column) name a leaking column by the table's name for it; one
    whose `validates_training_rows` is true scores training rows on purpose, each by the members that never
    learned from it (descend fit's forward-chained blocks), so they are not read as copied into validation; its
    `folds_view(x, y)` gives each such row's fold, and the references are fitted out of fold as the model is.
    """

    needs_sync = never   # reads the run when it ends

    def __init__(self, mode: bool | str, model: nn.Module, sample, loss, progress: bool | int = False,
                 every: int = 25, val_size: int | None = None, val_sample=None, settings: dict | None = None,
                 steps_per_epoch: int | None = None, drawn: dict | None = None, in_order=None,
                 planned_rows: int | None = None):
        self.mode, self.progress, self.findings, self.fixer = mode, progress, [], None
        self.planned_rows = planned_rows
        self.model, self.loss, self.train_sample, self.val_sample = model, loss, sample, val_sample
        self.readings = Readings(history=[], val_size=val_size, steps_per_epoch=steps_per_epoch,
                                 settings={k: v for k, v in (settings or {}).items() if k in SETTINGS})
        modules, parameters = list(model.modules()), list(model.parameters())   # walked once for the readings below
        self.readings.activations = sorted({type(m).__name__ for m in modules if is_activation(m)})
        self.readings.recurrent = any(isinstance(m, nn.RNNBase) for m in modules)
        self.readings.frozen = (sum(p.numel() for p in parameters if not p.requires_grad),
                                sum(p.numel() for p in parameters))
        norms = [m for m in modules if isinstance(m, _BatchNorm) and m.track_running_stats]
        self.readings.batch_norms = len(norms)
        self.readings.batch_norm_momentum = max((m.momentum for m in norms if m.momentum is not None), default=0.0)
        self.readings.trainable_weights = [name for name, _ in trained_weights(model)]
        given = self.readings.settings.get("optimizer")   # an instance the user built, or a name fit builds
        self.readings.unoptimized = _idle_parameters(model, given) if isinstance(given, torch.optim.Optimizer) \
            else None
        self.readings.embedding_rows = max((m.num_embeddings for m in modules if isinstance(m, EMBEDDINGS)), default=0)
        self.readings.dropout = max((m.p for m in modules if isinstance(m, _DropoutNd)), default=0.0)
        self.readings.narrowest_layer = min((m.out_features for m in modules if isinstance(m, nn.Linear)), default=None)
        last = _last_module(model)   # until the end's forward pass reads which activation made the output
        self.readings.output_activation = type(last).__name__ if is_activation(last) else None
        if mode and sample is not None:
            self.readings.errors += guarded("reading the training data", self._read, sample)
        if mode and self.readings.repeated is None and drawn is not None:
            self.readings.repeated = {**drawn, "sampler": True}
        if mode and in_order is not None:
            self.readings.errors += guarded("reading the stored order", self._read_order, in_order)
        self.callbacks = [Instruments(model, self.readings, every), self] if mode else []

    def _read(self, sample: tuple) -> None:
        view = getattr(self.loss, "readings_view", None)   # a loss whose inputs or targets carry bookkeeping
        x, y = view(*sample) if view else sample
        read = sizing.rows_read(self.planned_rows, len(x))
        for name, value in inputs.read(x[:read], y[:read], self.loss).items():
            setattr(self.readings, name, value)
        if self.readings.embedding_rows:
            self.readings.index_columns = inputs.index_columns(x[:read], self.readings.embedding_rows)
        _name_leak(self.readings.leak, getattr(self.loss, "input_names", None))
        if self.val_sample is not None and not getattr(self.loss, "validates_training_rows", False):
            self.readings.copied_validation = inputs.copied_validation(sample[0], self.val_sample[0])
            self.readings.val_target_percentiles = inputs.target_percentiles(self.val_sample[1])
            self.readings.unseen_classes = inputs.unseen_classes(y[:read], self.val_sample[1])

    def _read_order(self, in_order: torch.Tensor) -> None:
        self.readings.grouped_order = inputs.grouped_order(in_order)

    def guard(self, task, optimizer: torch.optim.Optimizer):
        """The task itself, or in fix mode the task wrapped so that divergence is rolled back."""
        if self.mode == "fix":
            self.fixer = Guard(task, optimizer, self.readings)
            return self.fixer
        return task

    def note_choice(self, choice) -> None:
        """What optimizer="auto" or lr="auto" chose (a descend.fit.auto.Choice): findings name the optimizer it
        trained with and quote the lr its sweep picked instead of suggesting the automatic choice the run already
        made; a checkpoint keeps it."""
        self.readings.auto_lr = choice.lr if choice.probe_steps else None   # a given lr is the caller's, not auto's
        self.readings.auto_choice = choice.line()
        self.readings.auto_optimizer = choice.optimizer
        self.readings.auto_limit = choice.limit
        self.readings.auto_target = choice.observed.get("target", {})   # fit trained as if standardized (units.py)

    def on_end(self, state) -> None:
        if state.stop_reason is None:   # Ctrl-C or an error is being raised: the run did not end, so no verdict
            if self.progress:
                print(cut_short(state.step), file=sys.stderr, flush=True)
            return
        self.readings.errors += guarded("measuring the model against references", self._compare)
        self.findings = diagnose(self.readings)
        if self.progress:
            short = not self.findings and state.step < MIN_STEPS
            print(too_short(state.step, MIN_STEPS) if short else summary(self.findings), file=sys.stderr, flush=True)

    def state_dict(self) -> dict:
        """For a checkpoint: the readings measured so far and, in fix mode, the guard's memory."""
        return {"readings": self.readings.state_dict(), "guard": self.fixer.state_dict() if self.fixer else None}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()` after a resume."""
        self.readings.load_state_dict(state["readings"])
        if self.fixer is not None and state["guard"] is not None:
            self.fixer.load_state_dict(state["guard"])

    def _compare(self) -> None:
        """The trained model's loss per example on the rows the references are compared on, the activation (module or
        bounded function, see output_function.py) that made its output in that forward pass, and the probes of the
        trained model (see _probe); none of these for a model that returns several outputs (a tuple or dict)."""
        r = self.readings
        r.frozen_untrained = bool(r.frozen[0]) and untrained(self.model)
        r.sample = reference_sample(self.train_sample, self.val_sample, getattr(self.loss, "readings_view", None),
                                    getattr(self.loss, "folds_view", None), r.index_columns)
        weights = next((p for p in self.model.parameters() if p.dtype.is_floating_point), None)
        if r.sample is None or weights is None:
            return
        with ids_seen(self.model) as seen, last_activation(self.model) as last, last_bounded() as bounded:
            out = evaluate(self.model, r.sample.model_eval.to(weights.device, weights.dtype))
        r.embedding_ids = fewest_ids(seen, len(r.sample.model_eval))
        r.member_loss = hasattr(self.loss, "readings_view")   # descend fit's own networks
        if not isinstance(out, torch.Tensor):   # a tuple or dict of outputs: the references compare one tensor
            return
        bound = output_bound(bounded, out)   # a module's or a function's: nn.Sigmoid calls torch.sigmoid
        r.output_activation, r.output_range = (bound[0], bound[1:]) if bound else (output_activation(last, out), None)
        if not _descends_own(self.loss):
            self._read_penalty(out, r.sample.y_eval.to(out.device))
        out = out.cpu()
        r.model_losses = per_example(r.judged_loss or self.loss, out, r.sample.y_eval)
        if r.target_size is not None and not r.reconstruction and (r.target_size > TARGET_SIZE
                                                                   or unlike_columns(r.sample.y)):
            r.drowned_column = drowned_column(out, r.sample)
        if not _descends_own(self.loss):   # the user's own loss: does it pair rows, does it lean to a class
            r.unpaired_loss = unpaired_loss(self.loss, out[:RANDOM_ROWS], r.sample.y_eval[:RANDOM_ROWS])
            r.unread_outputs = unread_outputs(self.loss, out[:RANDOM_ROWS], r.sample.y_eval[:RANDOM_ROWS])
            r.class_lean = class_lean(out, r.sample.y_eval)
            r.class_weights = class_weights(self.loss, out, r.sample.y_eval)
            r.batch_normalized_loss = batch_normalized_loss(self.loss, out, r.sample.y_eval)
            r.loss_scale = loss_scale(self.loss, out[:RANDOM_ROWS], r.sample.y_eval[:RANDOM_ROWS])
            r.summed_loss = summed_loss(self.loss, out[:RANDOM_ROWS], r.sample.y_eval[:RANDOM_ROWS])
            r.output_center = _center(out, r.sample.y_eval)
        if not r.activations:   # no activation module: a linear model, or nonlinear inside (a GRU, F.relu)
            r.affine = _affine(self.model, r.sample.model_eval, weights)
        r.majority_predicted = _majority_predicted(out, r.sample.y) if r.model_losses is not None else None
        if (r.majority_predicted or 0.0) >= ALL_COMMON and out.dim() == 2 and not r.sample.y.dtype.is_floating_point:
            r.rare_ranking = _rare_ranking(out, r.sample.y_eval, torch.bincount(r.sample.y.long()).argmax())
        if r.model_losses is not None and started_far_off(r):
            r.init_starts = init_starts(self.model, self.loss, r.sample, weights)
        if r.model_losses is not None and r.batch_norm_momentum >= FAST_MOMENTUM:
            batch_out = on_batch_statistics(self.model, r.sample.model_eval.to(weights.device, weights.dtype))
            r.batch_statistics_losses = per_example(self.loss, batch_out.cpu(), r.sample.y_eval)
        self._probe(r.sample.model_eval[:RANDOM_ROWS].to(weights.device, weights.dtype))

    def _read_penalty(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """The part of the user's loss that reads the weights directly (see probes.weight_penalty); where the rest
        is a named loss, the model and the references are judged by that loss."""
        r = self.readings
        r.weight_penalty = weight_penalty(self.loss, self.model, out, y)
        r.judged_loss = r.weight_penalty["same_as"] if r.weight_penalty else None

    def _probe(self, rows: torch.Tensor) -> None:
        """On a few comparison rows (see probes.py): is evaluation random, and if so by dropout layers built to stay
        on; else does a row's output depend on the other rows of its batch; for sequences read row by row, does
        the model ignore the steps' order, and how far back its gradient reaches."""
        r = self.readings
        if max(r.input_scales, default=0.0) > KILLING_SIZE:   # only there would unscaled_inputs blame a size
            r.size_blind = size_blind(self.model, rows)
        r.random_evaluation = random_evaluation(self.model, rows)
        if r.random_evaluation is not None:
            r.sampling_layers = sampling_layers(self.model, rows)
        else:
            r.batch_mixing = batch_mixing(self.model, rows)
        if r.random_evaluation is not None or r.batch_mixing is not None:
            return
        if rows.dim() == 3 and rows.dtype.is_floating_point and rows.shape[1] >= 4:
            r.order_blind = order_blind(self.model, rows)
            r.early_step_reach = early_step_reach(self.model, rows)


def _center(out: torch.Tensor, y: torch.Tensor) -> float | None:
    """The median of the trained outputs, where they are one float per target value (a regression's predictions),
    for the target's own units to be set against; where a one-column target meets several output columns per row
    (a mean beside a log variance, a mixture's parameters), the median of the column whose median lies nearest the
    target's (the model's best guess at its units). None otherwise or when no output is finite."""
    if not (y.dtype.is_floating_point and out.dtype.is_floating_point):
        return None
    if out.numel() == y.numel():
        columns = out.reshape(-1, 1)
    elif y.numel() == len(y) == len(out) and out.dim() == 2:
        columns = out
    else:
        return None
    medians = [float(c[torch.isfinite(c)].double().median()) for c in columns.T if bool(torch.isfinite(c).any())]
    middle = float(y.double().median())
    return min(medians, key=lambda m: abs(m - middle)) if medians else None


def untrained(model: nn.Module) -> bool:
    """Whether every frozen weight of an nn.Linear, convolution or embedding is still at PyTorch's own random
    initialization (within five standard errors of its mean and variance, inside its bounds), and there is one:
    frozen weights nobody trained. Weights trained and then frozen have moved away from that distribution."""
    checked = [_at_init(module, p) for module in model.modules() for name, p in module.named_parameters(recurse=False)
               if name == "weight" and not p.requires_grad and isinstance(module, INITIALIZED)]
    return bool(checked) and all(checked)


INITIALIZED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding, nn.EmbeddingBag)


def _at_init(module: nn.Module, weight: torch.Tensor) -> bool:
    """Whether `weight` looks drawn from its module's default initialization: N(0, 1) for embeddings, U(-b, b) with
    b = 1/sqrt(fan_in) for linear and convolution weights (kaiming_uniform with a = sqrt(5))."""
    w = weight.detach().double().reshape(-1)
    n = len(w)
    if n < 100:
        return False
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        mean, variance, spread = 0.0, 1.0, math.sqrt(2 / n)
    else:
        bound = 1 / math.sqrt(weight[0].numel())
        if float(w.abs().max()) > bound * (1 + 1e-6):
            return False
        mean, variance, spread = 0.0, bound ** 2 / 3, math.sqrt(4 / 45 / n) * bound ** 2
    return abs(float(w.mean()) - mean) < 5 * math.sqrt(variance / n) and abs(float(w.var()) - variance) < 5 * spread


def _affine(model: nn.Module, x: torch.Tensor, weights: torch.Tensor, pairs: int = 8) -> bool | None:
    """Whether the model's output at the midpoint of two inputs is the mean of its outputs at them, for `pairs`
    pairs of comparison rows (up to float rounding): true of every affine model and of no model with a
    nonlinearity the rows cross. None for integer inputs (ids), whose midpoints mean nothing."""
    if len(x) < 2 or not x.dtype.is_floating_point:
        return None
    x = x.to(weights.device, weights.dtype)
    a, b = x[:pairs], x.roll(1, 0)[:pairs]
    out = evaluate(model, torch.cat([a, b, (a + b) / 2]))
    if not isinstance(out, torch.Tensor) or not out.dtype.is_floating_point:
        return None
    out = out.double()
    ends, middle = out[:2 * len(a)], out[2 * len(a):]
    error = (middle - (ends[:len(a)] + ends[len(a):]) / 2).abs().max()
    return bool(error <= 1e-4 * float(ends.std()) + 1e-5 * float(ends.abs().max()) + 1e-6)


def _majority_predicted(out: torch.Tensor, y: torch.Tensor) -> float | None:
    """The share of outputs that predict the most common class of `y` (class indices, or 0/1 floats for one
    logit); None for other targets."""
    if not y.dtype.is_floating_point and y.dim() == 1 and out.dim() == 2 and out.shape[1] > 1:
        return float((out.argmax(dim=1) == torch.bincount(y.long()).argmax()).double().mean())
    if y.dtype.is_floating_point and out.numel() == len(out) and inputs.zero_one(y):
        common = float(y.double().mean() >= 0.5)
        return float(((out.reshape(-1) > 0).double() == common).double().mean())
    return None


def _name_leak(leak: dict | None, names: list[str] | None) -> None:
    """Give a leaking input column its table name (`names`: one per input feature, from descend fit's loss), so
    the finding says 'price', not 'input column 4'."""
    if leak is not None and names and leak.get("column", len(names)) < len(names):
        leak["name"] = names[leak["column"]]


def _descends_own(loss) -> bool:
    """A loss named by its string, or descend fit's member loss (it has a `readings_view`: its targets carry the
    rows' folds or blocks beside the answer), whose pairing and class weights are descend's, not the user's."""
    return isinstance(loss, str) or hasattr(loss, "readings_view")


ALL_COMMON = 0.98   # a share of rows given the common class from which the class-imbalance rule looks further


def _rare_ranking(out: torch.Tensor, y: torch.Tensor, common: torch.Tensor) -> dict | None:
    """How well the model's scores rank rows of the other classes above rows of the common class, whatever it
    predicts: {"auc": the area under the ROC curve of (minus) the common class's log-probability, from ranks (ties
    averaged), "rare", "common": the rows on each side}; None with fewer than 10 rows on either side."""
    score = -(out.double().log_softmax(dim=1)[:, common])
    rare = y != common
    if int(rare.sum()) < 10 or int((~rare).sum()) < 10:
        return None
    values, inverse, counts = torch.unique(score, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks = (ends - (counts.double() - 1) / 2)[inverse]   # 1-based ranks, ties given their mean rank
    positives, negatives = int(rare.sum()), int((~rare).sum())
    auc = float((ranks[rare].sum() - positives * (positives + 1) / 2) / (positives * negatives))
    return {"auc": auc, "rare": positives, "common": negatives}


def _last_module(model: nn.Module) -> nn.Module:
    """The model's last registered module without children: for a Sequential the one that makes the output, for
    other models a guess (the head may be built first), kept only where no forward pass on comparison rows is made."""
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    return leaves[-1] if leaves else model
