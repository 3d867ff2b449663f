"""Instruments: cheap measurements taken while a run goes, for the rules to read when it ends.

Loss, gradient norm and validation metrics are already in the history; every step the instruments only count
non-finite values. On sampled steps (every `every` steps for the first DENSE samples, then twice as far apart
after each further DENSE: a long run's later steps change slowly, and each sample costs several steps' worth of
a small model's time) they also take per-layer gradient norms and update-to-weight ratios (through optimizer
step hooks) and the fraction of ReLU units that output zero for a whole batch (through forward hooks); all
those hooks are registered for the sampled step only, so the other steps pay for one callback. Inputs are read
once, at the start (see inputs.py); the loss trend, its swings and the train/validation gap come from the
history at the end (see curves.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.loop import Callback, NonFiniteOrigin, host_values, never
from .curves import Curve, finite_pairs
from .reference import References, Sample
from .start_scale import start_scales

DENSE = 10          # samples taken at each interval before it doubles
DEAD_SAMPLES = 5    # sampled batches per ReLU layer that the dead-units rule looks at (older ones are dropped)


@dataclass
class Readings:
    """Everything the rules look at: the history plus the measurements and what the run was told."""

    history: list[dict]
    stop_reason: str = ""
    stop_code: str = ""                                        # the stopping rule's code (Rule.code)
    restored_step: int | None = None                           # the step whose weights a rule put back at the end
    non_finite_origin: NonFiniteOrigin | None = None           # where NaN/Inf appeared, when that stopped the run
    input_scales: list[float] = field(default_factory=list)    # typical |x| per input column
    input_varying: list[bool] = field(default_factory=list)    # per column: not one value in nearly every row
    missing_codes: dict[int, dict] = field(default_factory=dict)  # the largest column's code far from its values
    embedding_rows: int = 0                                    # the most rows of the model's embedding tables
    index_columns: list[int] = field(default_factory=list)     # input columns of whole numbers that fit those tables
    embedding_ids: dict | None = None                          # the fewest distinct ids an embedding saw at the end
    member_loss: bool = False                                  # descend fit's member loss: its own networks
    target_baseline: float | None = None                       # loss of the best constant prediction, if known
    majority_share: float | None = None                        # share of the most common class (class targets)
    val_size: int | None = None                                # validation examples (a metric's resolution)
    steps_per_epoch: int | None = None                         # steps one pass over the training data takes
    auto_lr: float | None = None                               # the lr auto's sweep picked (None: no sweep picked it)
    auto_choice: str | None = None                             # what optimizer/lr "auto" chose, in one line
    auto_optimizer: str | None = None                          # the optimizer "auto" chose (a registry name)
    auto_limit: dict = field(default_factory=dict)             # how auto's choice ends the run (its Choice.limit)
    auto_target: dict = field(default_factory=dict)            # the target's scale auto folded into the last layer
    layer_grads: list[dict[str, float]] = field(default_factory=list)   # per sampled step: weight name -> norm
    update_ratios: list[dict[str, float]] = field(default_factory=list)  # per sampled step: name -> |dw|/|w|
    sampled_steps: list[int] = field(default_factory=list)
    dead: dict[str, list[torch.Tensor]] = field(default_factory=dict)   # ReLU module -> per sample: unit active
    dead_first: dict[str, torch.Tensor] = field(default_factory=dict)   # ReLU module -> the first sample of those
    non_finite: dict = field(default_factory=lambda: {"count": 0, "first_step": None})  # steps with NaN/Inf
    interventions: list[dict] = field(default_factory=list)    # doctor="fix" rollbacks
    curve: Curve | None = None                                 # set from the history when the run ends
    sweep_start: float | None = None                           # the left-out lr sweep's first finite loss
    settings: dict = field(default_factory=dict)               # fit's arguments the fixes depend on (lr, loss, ...)
    activations: list[str] = field(default_factory=list)       # class names of the model's activation modules
    recurrent: bool = False                                    # the model holds a recurrent layer (nn.RNN, GRU, LSTM)
    affine: bool | None = None                                 # the trained model is affine in its inputs (tested)
    output_activation: str | None = None                       # the model's last module, when an activation
    output_range: tuple[float, float] | None = None            # its range, when read from the function it called
    sample: Sample | None = None                               # rows the references are fitted and compared on
    model_losses: torch.Tensor | None = None                   # the trained model's loss per comparison row
    majority_predicted: float | None = None                    # share of those rows it gives the common class
    rare_ranking: dict | None = None                           # when ~all: how its scores rank the rarer rows (AUC)
    references: References | None = None                       # fitted when a rule first asks (see rules.refs)
    constant_losses: torch.Tensor | None = None                # the constant's per comparison row (advice.py)
    target_kind: str | None = None                             # "binary" or "one-hot" for 0/1 float targets
    outlier: dict | None = None                                # a target row that outweighs all others in mse
    leak: dict | None = None                                   # an input column that holds the target
    reconstruction: bool = False                               # the targets are the inputs (an autoencoder)
    repeated: dict | None = None                               # the first rows read repeat a few distinct ones
    frozen: tuple[int, int] = (0, 0)                           # parameters with requires_grad=False, of all
    frozen_untrained: bool = False                             # frozen weights all at PyTorch's random init
    target_size: float | None = None                           # a numeric target's typical size (mean or spread)
    target_percentiles: list[float] | None = None              # a numeric target's 0th..100th percentiles
    val_target_percentiles: list[float] | None = None          # the same of the validation target
    copied_validation: dict | None = None                      # validation rows that are training rows
    random_evaluation: float | None = None                     # largest output change between two evaluations
    sampling_layers: str | None = None                         # dropout layers kept on at evaluation on purpose
    order_blind: bool | None = None                            # sequence outputs unchanged when steps are shuffled
    early_step_reach: float | None = None                      # output gradient at a sequence's first steps / last
    start_scales: dict[str, float] = field(default_factory=dict)  # weight -> its start's RMS / its layer's default
    grouped_order: dict | None = None                          # an unshuffled loader's order groups the target
    init_starts: dict[str, float] | None = None                # after a bad start: the loss each init scheme starts at
    batch_norms: int = 0                                       # BatchNorm layers that train (track statistics)
    batch_norm_momentum: float = 0.0                           # the largest momentum of those layers
    batch_statistics_losses: torch.Tensor | None = None         # the loss per comparison row, BatchNorm on its batch
    trainable_weights: list[str] = field(default_factory=list)  # names of the weights the instruments sample
    dropout: float = 0.0                                       # the largest p of the model's dropout layers
    narrowest_layer: int | None = None                         # the fewest outputs of the model's Linear layers
    batch_mixing: float | None = None                          # output change when a batch's other rows change
    size_blind: bool | None = None                             # outputs unchanged when every input is scaled up
    unpaired_loss: dict | None = None                          # the loss ignores which output meets which target
    unread_outputs: dict | None = None                         # output columns the user's loss never reads
    drowned_column: dict | None = None                         # a target column fitted far worse than a linear fit
    class_lean: dict | None = None                             # a user loss's binary scores: called vs actual share
    batch_normalized_loss: dict | None = None                  # a user class loss normalized over the batch
    loss_scale: dict | None = None                             # a user loss that is a named loss times a factor
    summed_loss: dict | None = None                            # a user loss summed over rows, not averaged
    output_center: float | None = None                         # the trained outputs' median (one per target value)
    class_weights: dict | None = None                          # a user class loss's weight and recall per class
    unoptimized: dict | None = None                            # trainable weights the user's optimizer does not hold
    unseen_classes: dict | None = None                         # validation classes training all but lacks
    weight_penalty: dict | None = None                         # a user loss's part that reads the weights directly
    judged_loss: str | None = None                             # the named loss a user loss is, but for that part
    multi_hot: float | None = None                             # share of 0/1 target rows not holding a single 1
    errors: list = field(default_factory=list)                 # doctor_error findings from reading the run
    _finite: dict = field(default_factory=dict, repr=False, compare=False)   # see finite

    MEASURED = ("layer_grads", "update_ratios", "sampled_steps", "dead", "dead_first", "non_finite", "interventions",
                "start_scales", "auto_lr", "auto_choice", "auto_optimizer", "auto_limit", "auto_target")

    def saw_non_finite(self, step: int) -> None:
        """Count one step whose loss or gradient was NaN/Inf (recorded, or rolled back by doctor="fix")."""
        self.non_finite["count"] += 1
        if self.non_finite["first_step"] is None:
            self.non_finite["first_step"] = step

    def finite(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of each record of the history whose `key` is a finite number, in order: the losses,
        gradient norms and lrs many rules read, gone through once for them all (again only when the history is
        another or longer: the diagnosis leaves auto's sweep out by replacing it)."""
        found = self._finite.get(key)
        if found is None or found[0] is not self.history or found[1] != len(self.history):
            found = self._finite[key] = (self.history, len(self.history), finite_pairs(self.history, key))
        return found[2]

    def state_dict(self) -> dict:
        """What was measured so far (plain data and bool tensors) and what "auto" chose (which findings quote),
        for a checkpoint; the history is saved apart."""
        return {name: getattr(self, name) for name in self.MEASURED}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()` after a resume."""
        for name in self.MEASURED:
            setattr(self, name, state.get(name, getattr(self, name)))   # a checkpoint from before a reading: as new


def sampled(step: int, every: int) -> bool:
    """Whether the step after `step` steps done is sampled: steps 0, every, 2 every, ... for DENSE samples, then
    DENSE at twice that interval, and so on (a function of the step alone, so a resumed run samples the same)."""
    stage = (step // (DENSE * every) + 1).bit_length() - 1   # intervals doubled so far
    offset = step - DENSE * every * ((1 << stage) - 1)
    return offset % (every << stage) == 0


def next_sampled(step: int, every: int) -> int:
    """The first step from `step` on that `sampled` takes: a stage's length is a whole number of its intervals, so
    rounding up to the interval of the stage `step` is in lands on a sampled step of it or on the next stage's
    first step (sampled too)."""
    stage = (step // (DENSE * every) + 1).bit_length() - 1
    start, interval = DENSE * every * ((1 << stage) - 1), every << stage
    return start + -(-(step - start) // interval) * interval


def trained_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The weights (two or more dimensions) that require a gradient, by name: what the instruments sample."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]


def active_units(output: torch.Tensor) -> torch.Tensor:
    """Per unit (feature or channel: dimension 1): did it output anything above zero in this batch? Its largest
    output, NaN read as 0, is above zero exactly when one is: one reduction over the other dimensions, where
    comparing everything and moving the channels first took 1.5-3x as long (2.9x on a 64-channel conv batch)."""
    out = output.detach()
    if out.numel() == 0:   # no rows: nothing fired (a reduction over nothing has no largest value)
        return torch.zeros(out.shape[1], dtype=torch.bool, device=out.device)
    return out.nan_to_num(0.0).amax(dim=[0, *range(2, out.dim())]) > 0


class Instruments(Callback):
    """Collects Readings during a run; `every` sets how often the per-layer measurements are taken."""

    def __init__(self, model: nn.Module, readings: Readings, every: int = 25):
        self.model, self.readings, self.every = model, readings, every
        self.weights = trained_weights(model)
        self.relus = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
        self.optimizer = None
        self.step_hooks: list = []
        self.relu_hooks: list = []
        self.sampling, self.before = 0, None
        self.next_sample = 0   # the next step `sampled` takes (from on_start on): one comparison a step
        self.measured: list[tuple] = []   # (kind, names, norms[, step]): read as numbers once the loop settles

    needs_sync = never   # measures during the step itself and reads the numbers whenever the loop settles

    def on_start(self, state):
        self.readings.history = state.history
        self.optimizer = state.optimizer
        self.next_sample = next_sampled(state.step, self.every)
        if not state.history:   # a resumed run keeps the scales its checkpoint measured at the true start
            self.readings.start_scales = start_scales(self.model)

    def on_step_begin(self, state):
        if self.step_hooks:
            self._disarm()   # after the measured step (torch is iterating over its hooks during it)
        if state.step < self.next_sample:
            return
        self.next_sample = next_sampled(state.step + 1, self.every)
        if sampled(state.step, self.every):  # step count + 1 is measured. Armed only now, after the previous step's
            self.sampling = state.step + 1   # evaluation, so validation batches never count as training
            self._arm()

    @torch.no_grad()   # the weights are read as they are, without a detached view of each (one operation each)
    def _pre_step(self, optimizer, args, kwargs) -> None:
        self._remove(self.relu_hooks)  # the forward pass of this step is done
        named = [(n, p) for n, p in self.weights if p.grad is not None]
        norms = torch._foreach_norm([p.grad for _, p in named]) if named else []
        self.measured.append(("grads", [n for n, _ in named], norms))
        self.before = [p.clone() for _, p in self.weights] if self.weights else None

    @torch.no_grad()
    def _post_step(self, optimizer, args, kwargs) -> None:
        if self.before is not None:
            now = [p for _, p in self.weights]
            torch._foreach_sub_(self.before, now)   # the update, sign aside: its norm is the change's
            norms = torch._foreach_norm(self.before + now)   # changes, then sizes, in one call
            self.measured.append(("ratios", [n for n, _ in self.weights], norms, self.sampling))
            self.before = None

    def _read(self) -> None:
        """Turn the measurements taken since the loop last settled into numbers in the readings, in order, with
        one copy to the host for all of them."""
        values = iter(host_values([t for _, _, norms, *_ in self.measured for t in norms]))
        for kind, names, norms, *step in self.measured:
            numbers = [next(values) for _ in norms]
            if kind == "grads":
                self.readings.layer_grads.append(dict(zip(names, numbers)))
            else:
                changes, sizes = numbers[:len(names)], numbers[len(names):]
                self.readings.update_ratios.append({n: d / max(s, 1e-12) for n, d, s in zip(names, changes, sizes)})
                self.readings.sampled_steps.append(step[0])
        self.measured.clear()

    def on_step(self, state, record):
        if not (math.isfinite(record["loss"]) and math.isfinite(record.get("grad_norm", 0.0))):
            self.readings.saw_non_finite(state.step)
        if self.measured:
            self._read()

    def _arm(self) -> None:
        """Register the hooks that measure the next step; the next on_step_begin removes them."""
        self.step_hooks = [self.optimizer.register_step_pre_hook(self._pre_step),
                           self.optimizer.register_step_post_hook(self._post_step)]
        self.relu_hooks = [module.register_forward_hook(self._relu_hook(name)) for name, module in self.relus]

    def _disarm(self) -> None:
        self._remove(self.step_hooks)
        self._remove(self.relu_hooks)   # still armed when the step had no update (non-finite, host-side skip)

    def _relu_hook(self, name: str):
        def hook(module, inputs, output):
            if output.dim() >= 2:
                samples = self.readings.dead.setdefault(name, [])
                samples.append(active_units(output))
                self.readings.dead_first.setdefault(name, samples[-1])
                del samples[:-DEAD_SAMPLES]
        return hook

    @staticmethod
    def _remove(handles: list) -> None:
        for handle in handles:
            handle.remove()
        handles.clear()

    def on_end(self, state):
        self._disarm()
        self._read()
        self.readings.stop_reason, self.readings.stop_code = state.stop_reason or "", state.stop_code or ""
        self.readings.restored_step = state.restored_step
        if state.stop_code == "non_finite":
            self.readings.non_finite_origin = state.task.non_finite_origin
