"""The learning-rate sweep that trains: the first steps of the run raise the lr geometrically, and the run goes on
from the weights the sweep reached instead of starting over.

The sweep is lr_find's curve run inside the training loop. The lr grows from START_LR, a decade below AdamW's
calibrated default of 1e-3 (so the flat start of the curve is seen on models that want the default), by a factor
of 10 every PER_DECADE steps. The loss is smoothed with a moving average whose memory spans the same share of a
decade as lr_find's, so lr_find's valley rule (measured on full runs) reads the curve as it was calibrated. The
average is taken over the losses' logarithms when they are positive (a geometric mean, which heavy-tailed batch
losses move far less than an arithmetic one) and a batch enters it at most at OUTLIER times it, so noise alone
does not end the sweep. The
weights of the last KEEP steps are kept (fewer when they would pass SNAPSHOT_MEMORY). The sweep ends once the
smoothed loss has stayed at RISE times its lowest value for LASTING steps (past the valley's bottom), the lr
reaches END_LR, or it has used MAX_SHARE of the run's steps; and at once at a blow-up: a NaN/Inf loss or
gradient, or batch losses above BLOWUP times the lowest smoothed loss for LASTING steps (more than the
winsorizing lets into the average, so noise cannot fake it). A blow-up is the sweep's own doing and no reason to
end the run (a NaN/Inf at or below the optimizer's calibrated default lr, in the data, or before any finite step
is not the sweep's doing, and NonFinite ends the run there as always): its step took no update (fit skips updates on non-finite values), the record is marked `recovered`
so the NonFinite rule lets the run go on, and the kept weights of a safe lr come back as below. Then the valley rule picks the
lr from the curve up to its lowest point (counted, like the lowest value the endings compare with, from the
MEMORY-th step on: the first averages hold a batch or two, and a lucky one must not pass for the valley's bottom;
what follows is the deliberate overshoot, whose noise must not extend
the valley; a curve without a valley gives the lr BELOW_LOWEST sweep steps below its lowest point, or, when it stayed
flat long past that point, EDGE_MARGIN below where it starts to rise, and a flat curve, whose lowest point lies less
than FLAT below where it settled, EDGE_MARGIN below where it rises for good whatever its lowest point; no lower than
the optimizer's calibrated default), the weights of the
last step that trained at no more than that lr come back (the steps above it raised the lr past it on purpose and
are discarded) with a fresh optimizer state (the moments averaged gradients over lrs decades apart), and training
continues from there: a cosine decay to 0 over the remaining steps (the sweep up to the picked lr was an
exponential warmup), or, when the caller gave an lr schedule, that schedule times the picked lr. Every sweep step
is a training step of the run and counts as one. The first steps at the pick are watched (collapse.py): when the
network collapsed (one constant output for every input, or a ReLU layer silent), the run goes back to the restart
point's weights with the lr FALLBACK times lower (no lower than the calibrated default), and the choice says so.
"""
from __future__ import annotations

import functools
import math
from dataclasses import astuple

import torch
import torch.distributed as dist

from ..lr_find import FALL, NO_VALLEY, WINDOW, lowest, read
from ...core.loop import LR_SCALE, Callback, LoopState
from ...core.modes import Modules
from .choice import Choice
from .collapse import CHECKS, Reading, check_due, collapsed, read as read_model

START_LR, END_LR = 1e-4, 10.0
PER_DECADE = 5                 # sweep steps per tenfold lr increase
LR_FIND_DECADES = 0.8          # lr_find's averaging memory (10 steps at 12.4 steps per decade), in decades
SMOOTHING = 1 - 1 / (LR_FIND_DECADES * PER_DECADE)
MEMORY = round(1 / (1 - SMOOTHING))   # batches the average remembers: fewer make it too noisy to be the lowest
RISE = 2.0                     # the sweep is past the valley once the smoothed loss is RISE x its lowest ...
LASTING = 2                    # ... for this many steps in a row (a transient is not the valley's end), or RISE^2 x
MAX_SHARE = 0.25               # the sweep never takes more of the run's steps than this
OUTLIER = 4.0                  # a batch's loss enters the average at most at this multiple of it
BLOWUP = OUTLIER * RISE ** 2   # a batch loss this far above the lowest smoothed one is a blow-up, not noise
MIN_STEPS = 12                 # below this many sweep steps there is no curve to read
BELOW_LOWEST = 3               # without a valley, the pick is this many sweep steps below the curve's lowest point
                               # (10^(3/5) = 4x): the valley rule's median distance on 46 generated curves
EDGE_RISE = 0.05               # the smoothed loss this far above its lowest so far: where the curve starts to rise
FLAT = FALL / 2                # a curve whose lowest point lies less than this share below where it settled is flat
EDGE_MARGIN = 10 ** (1 + MEMORY / PER_DECADE)   # a flat curve's pick lies a decade below that edge (the range
                               # test's convention) plus the decades the average lags behind the lr (MEMORY steps)
FALLBACK = 10 ** (-BELOW_LOWEST / PER_DECADE)   # after a collapse, the lr falls by as many sweep steps as a pick
                               # lies below the curve's lowest point
KEEP = 3 * PER_DECADE          # steps whose weights are kept: the picked lr lies within 3 decades of the sweep's end
SNAPSHOT_MEMORY = 1 << 30      # bytes the kept weights may take


class Sweep(Callback):
    """Drives the lr through the loop's schedule (`multiplier`, with every group's initial_lr at 1, or at its
    LR_SCALE where units.py set one), watches the
    loss, keeps recent weights, and at the sweep's end restores those of the picked lr and fixes it (`choice`).

    `after` is the caller's lr schedule (bound to the run) or None for auto's cosine decay; `total_steps` may be
    None (then the picked lr stays constant). `on_choice(choice)` is told the decision once it is made.
    `default_lr`, the optimizer's calibrated default, is the floor of the pick when the curve shows no valley to read.
    `probe`, inputs of a training batch, lets the sweep watch the first steps at the pick for a collapse of the
    network to one constant output (collapse.py) and go back to the restart point with a lower lr.
    `run_limit` is what the choice sets about how the run ends (Choice.limit), e.g. that it keeps its best weights.
    """

    def __init__(self, model, optimizer: torch.optim.Optimizer, name: str, total_steps: int | None, after=None,
                 on_choice=None, observed: dict | None = None, default_lr: float | None = None,
                 probe: torch.Tensor | None = None, run_limit: dict | None = None):
        self.model, self.optimizer, self.name, self.total, self.after = model, optimizer, name, total_steps, after
        self.on_choice, self.observed = on_choice, dict(observed or {})
        self.run_limit = dict(run_limit or {})   # what the choice sets about the run's end (Choice.limit)
        self.limit = _sweep_limit(total_steps)
        self.average, self.best, self.best_step = RobustAverage(), math.inf, 0
        self.lrs: list[float] = []
        self.smoothed: list[float] = []
        self.kept: list[tuple[int, dict]] = []   # (step, weights after it), oldest first
        self._live: tuple[list[int], dict, int] | None = None   # see _state
        self.choice: Choice | None = None
        self.ended_at: int | None = None
        self.ending: str | None = None
        self.rises = 0            # consecutive steps the smoothed loss has been RISE x its lowest
        self.blowups = 0          # consecutive steps a batch loss has been BLOWUP x the lowest smoothed loss
        self.default_lr = default_lr
        self.probe = probe
        self.restart: tuple[int, dict, Reading] | None = None   # while the pick is watched: (step, weights, reading)
        for group in optimizer.param_groups:   # the multiplier is the lr itself (times a group's own scale,
            group["lr"] = group["initial_lr"] = group.get(LR_SCALE, 1.0)   # units.py's final layer)

    @property
    def sweeping(self) -> bool:
        return self.choice is None

    def needs_sync(self, state: LoopState) -> bool:
        """The sweep reads every step's loss and keeps its weights while it runs; after it, the output at the
        watch's checks."""
        return self.sweeping or self._check_due(state)

    def _check_due(self, state: LoopState) -> bool:
        return self.restart is not None and check_due(state.step - self.ended_at)

    def multiplier(self, step: int) -> float:
        """The lr of step `step` (0-based): the sweep's, then the picked lr times the schedule after it. Asked at
        every step of the run, so it reads the choice itself rather than through `sweeping`."""
        choice = self.choice
        if choice is None:
            return START_LR * 10 ** (step / PER_DECADE)
        lr, start = choice.lr, self.ended_at
        if self.after is not None:
            return lr * self.after(step)
        if self.total is None or self.total <= start:
            return lr
        return lr * 0.5 * (1 + math.cos(math.pi * (step - start) / (self.total - start)))

    def on_step(self, state: LoopState, record: dict) -> None:
        if not self.sweeping:
            if self.observed.get("collapses") and state.step == self.ended_at + 1:   # the first step after a
                record["restarted_from"] = self.observed["kept_step"]                # restart (the report marks it)
            return
        record["sweep"] = True
        loss = _agreed(record["loss"])
        if not math.isfinite(_agreed(record.get("grad_norm", 0.0))):
            loss = math.inf
        if math.isfinite(loss):
            smooth = record["smoothed"] = self.average.add(loss)
            self.lrs.append(record["lr"])
            self.smoothed.append(smooth)
            if smooth < self.best and self.average.count >= MEMORY:
                self.best, self.best_step = smooth, state.step
            self._keep(state.step)
        if not math.isfinite(loss) and (not self.kept or _from_data(state) or record["lr"] <= (self.default_lr or 0)):
            return   # NaN/Inf before any finite step, in the data, or at an lr no higher than the optimizer's
                     # calibrated default: not the sweep's overshoot, and NonFinite ends the run
        self.ending = self._ending(state, loss)
        if not math.isfinite(loss):
            record["recovered"] = True   # the sweep ends here and restores kept weights: the run goes on

    @torch.no_grad()   # copies without a detached view of each tensor first (one operation each)
    def _keep(self, step: int) -> None:
        state, most = self._state()
        self.kept.append((step, {k: v.clone() for k, v in state.items()}))
        del self.kept[:-most]

    def _state(self) -> tuple[dict, int]:
        """The model's state_dict with the parameters and buffers themselves (keep_vars), read once and reused
        while the model holds the same buffers (a module may replace one instead of updating it in place):
        state_dict() walks every module, half a snapshot's cost on a small model, and model.buffers() a third of
        one: the buffers are looked up in the modules collected once (core.modes). With it, how many snapshots of
        it are kept (KEEP, fewer when they would pass SNAPSHOT_MEMORY), summed once over the same tensors."""
        buffers = self._modules.buffer_ids()
        if self._live is None or self._live[0] != buffers:
            state = self.model.state_dict(keep_vars=True)
            self._live = (buffers, state, max(1, min(KEEP, SNAPSHOT_MEMORY // _size(state))))
        return self._live[1], self._live[2]

    def _ending(self, state: LoopState, loss: float) -> str | None:
        if not math.isfinite(loss):
            return "a blow-up: the loss or gradient turned NaN/Inf"
        self.blowups = self.blowups + 1 if self._above(loss, BLOWUP) else 0
        if self.blowups >= LASTING:
            return f"a blow-up: batch losses above {BLOWUP:g}x the lowest smoothed loss"
        self.rises = self.rises + 1 if self._above(self.smoothed[-1], RISE) else 0
        if self.rises >= LASTING or self._above(self.smoothed[-1], RISE ** 2):
            return f"the smoothed loss rose to {RISE:g}x its lowest and stayed there"
        if self.multiplier(state.step) > END_LR:
            return f"the lr reached {END_LR:g}"
        if state.step >= self.limit:
            return f"it used its share of the run ({self.limit} steps)"
        return None

    def _above(self, value: float, factor: float) -> bool:
        """Whether `value` is `factor` times the lowest smoothed loss: above it by (factor - 1) x its size, which
        reads the same for losses that go negative (a Gaussian log-likelihood) as for positive ones."""
        return value - self.best > (factor - 1) * abs(self.best)

    def on_step_end(self, state: LoopState, record: dict) -> None:
        if self.sweeping and self.ending and state.stop_reason is None:
            self._decide(state.step, self.ending)
        elif self._check_due(state) and not state.replaying and state.stop_reason is None:
            self._watch(state.step)
        if not self.sweeping and self.restart is None and state.step > self.ended_at:
            state.retire(self)   # picked, watched (and a restart marked): nothing to do at any later step

    def _decide(self, step: int, why: str) -> None:
        if len(self.smoothed) >= 2:   # the valley ends at the lowest point: past it is the sweep's overshoot
            lr, rule = read(self.lrs, self.smoothed, settled_from=MEMORY - 1)
            rule = f"lr by lr_find's rule, {rule}"
        else:
            lr, rule = START_LR, "the loss was NaN/Inf from the first steps, so the sweep's first lr"
        if rule.endswith(NO_VALLEY) and self.default_lr is not None:
            lr, rule = without_valley(self.lrs, self.smoothed, self.default_lr)
        at, weights = self._restore(lr)
        self.ended_at = step
        self._start_watch(at, weights, lr)
        given = f"the given {getattr(self.after, 'name', 'schedule')} schedule"
        schedule = given if self.after is not None else ("cosine to 0" if self.total else "constant")
        self.observed.update(sweep_steps=step, sweep_end=why, kept_step=at)
        self._choose(lr, f"{schedule} after a {step}-step sweep, going on from step {at}",
                     f"{rule}; the sweep ended as {why}", step)

    def _restore(self, lr: float) -> tuple[int | None, dict | None]:
        """Put back the weights of the last kept step whose lr was at most `lr` (else the oldest kept); its step
        and those weights."""
        if not self.kept:
            return None, None
        fitting = [(step, kept) for step, kept in self.kept if self.multiplier(step - 1) <= lr * (1 + 1e-9)]
        step, kept = fitting[-1] if fitting else self.kept[0]
        self._go_back(kept)
        self.kept = []
        return step, kept

    def _go_back(self, weights: dict) -> None:
        """Put `weights` back with a fresh optimizer state: moments averaged over other lrs describe them no more."""
        self.model.load_state_dict(weights)
        self.optimizer.state.clear()

    def _start_watch(self, at: int | None, weights: dict | None, lr: float) -> None:
        """Watch the pick's first steps when there is a probe, a restart point, and a lower lr to fall back to."""
        watched = self.probe is not None and at is not None and lr > self._floor()
        self.restart = (at, weights, self._read()) if watched else None

    def _floor(self) -> float:
        """The lowest lr a fallback goes to: the optimizer's calibrated default, else the sweep's first lr."""
        return self.default_lr or START_LR

    @functools.cached_property
    def _modules(self) -> Modules:
        """The model's modules, collected once for the run's snapshots and reads (core.modes)."""
        return Modules.of(self.model)

    def _read(self) -> Reading:
        """The model's reading on the probe, averaged over the processes of a distributed run."""
        reading = read_model(self._modules, self.probe)
        spread = None if reading.spread is None else _agreed(reading.spread)
        return Reading(spread, _agreed(reading.silent))

    def _watch(self, step: int) -> None:
        """Read the output at a check; on a collapse, go back to the restart point with a lower lr (and watch that
        one the same way while it lies above the floor)."""
        at, weights, reference = self.restart
        how = collapsed(self._read(), reference)
        if how is None:
            if step - self.ended_at >= 2 ** (CHECKS - 1):
                self.restart = None   # the last check passed: the pick trains
            return
        old, lr = self.choice.lr, max(self.choice.lr * FALLBACK, self._floor())
        self._go_back(weights)
        self.ended_at = step
        self.observed["collapses"] = self.observed.get("collapses", 0) + 1
        if lr <= self._floor():
            self.restart = None
        self._publish(Choice(self.name, lr, f"{self.choice.schedule}, restarted at step {step} from step {at}'s "
                             "weights", f"{self.choice.reason}; lr {old:.2g} silenced the network: by step {step} "
                             f"{how}, so back to step {at}'s weights at lr {lr:.2g}", step,
                             self.observed, self.run_limit))

    def _choose(self, lr: float, schedule: str, how: str, steps: int) -> None:
        context = self.observed.get("not_lbfgs")
        self._publish(Choice(self.name, lr, schedule, f"{context}; {how}" if context else how, steps, self.observed,
                             self.run_limit))

    def _publish(self, choice: Choice) -> None:
        self.choice = choice
        if self.on_choice is not None:
            self.on_choice(choice)

    def on_end(self, state: LoopState) -> None:
        """A run that ends during the sweep keeps its weights; the choice says so."""
        if self.sweeping and self.lrs:
            self.observed.update(sweep_steps=state.step, sweep_end="the run ended")
            self._choose(self.lrs[-1], "the sweep's rising lr", f"the run ended at step {state.step}, during the "
                         "sweep, before an lr was picked; the last lr swept is reported", state.step)

    def state_dict(self) -> dict:
        """Everything the sweep remembers, the kept weights included while it runs, for a checkpoint."""
        return {"average": self.average.state_dict(), "rises": self.rises, "blowups": self.blowups,
                "best": self.best, "best_step": self.best_step, "lrs": list(self.lrs),
                "smoothed": list(self.smoothed), "kept": list(self.kept), "ended_at": self.ended_at,
                "choice": None if self.choice is None else self.choice.to_dict(),
                "restart": None if self.restart is None else (*self.restart[:2], *astuple(self.restart[2]))}

    def load_state_dict(self, state: dict) -> None:
        self.average.load_state_dict(state["average"])
        self.rises, self.blowups = state["rises"], state["blowups"]
        self.best, self.best_step = state["best"], state["best_step"]
        self.lrs, self.smoothed, self.kept = list(state["lrs"]), list(state["smoothed"]), state["kept"]
        self.ended_at, restart = state["ended_at"], state.get("restart")   # no "restart": an older checkpoint
        self.restart = None if restart is None else (*restart[:2], Reading(*restart[2:]))
        self.choice = None if state["choice"] is None else Choice.from_dict(state["choice"])
        if self.choice is not None:
            self.observed = self.choice.observed
            if self.on_choice is not None:
                self.on_choice(self.choice)


class RobustAverage:
    """The bias-corrected moving average of batch losses the sweep reads (see the module docstring): geometric
    when the first loss is positive (later losses at or below 0 count as a trillionth of it), else arithmetic."""

    def __init__(self):
        self.total, self.count, self.floor = 0.0, 0, None   # floor: the smallest loss the log mode takes

    def add(self, loss: float) -> float:
        """Take one batch loss in; return the smoothed loss."""
        if self.count == 0 and loss > 0:
            self.floor = loss * 1e-12
        value = math.log(max(loss, self.floor)) if self.floor is not None else loss
        if self.count:
            value = min(value, self._limit(self.value()))
        self.count += 1
        self.total = SMOOTHING * self.total + (1 - SMOOTHING) * value
        return self.value()

    def _limit(self, average: float) -> float:
        if self.floor is not None:
            return math.log(OUTLIER * average)
        return OUTLIER * average if average > 0 else average / OUTLIER

    def value(self) -> float:
        mean = self.total / (1 - SMOOTHING ** self.count)
        return math.exp(mean) if self.floor is not None else mean

    def state_dict(self) -> dict:
        return {"total": self.total, "count": self.count, "floor": self.floor}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.count, self.floor = state["total"], state["count"], state["floor"]


def without_valley(lrs: list[float], smoothed: list[float], default_lr: float) -> tuple[float, str]:
    """The pick from a curve with no valley to read, and why, never below the optimizer's calibrated default nor
    above the last lr swept. A flat curve (its lowest point less than FLAT below where it settled) did not respond to
    the lr in the sweep's few steps (a recurrent net or a transformer on a plateau, a residual net at chance): its
    lowest point is the luckiest batch, wherever it fell, and what it shows is where the loss rises for good, so the
    pick is EDGE_MARGIN below that edge. Any other curve gives BELOW_LOWEST sweep steps below its lowest point (from
    the MEMORY-th value on), where the valley rule's picks typically sit, or at least EDGE_MARGIN below where it
    starts to rise when it stayed within EDGE_RISE of its lowest long past it."""
    head = f"no valley in the curve (it never fell steadily by {FALL:.0%} over {WINDOW} steps)"
    settled = MEMORY - 1
    bottom = lowest(smoothed, settled)
    edge = flat_edge(smoothed)
    if edge is not None:
        below = lrs[edge] / EDGE_MARGIN
        why = (f"{head} and its lowest point lies within {FLAT:.0%} of where it settled, a lucky batch rather than a "
               f"response to the lr; it rises for good from lr {lrs[edge]:.2g}, so {EDGE_MARGIN:.0f}x below that "
               f"edge: lr {below:.2g}")
    else:
        below = lrs[max(0, bottom - BELOW_LOWEST)]
        why = f"{head}, so {BELOW_LOWEST} sweep steps below its lowest point at lr {lrs[bottom]:.2g}: lr {below:.2g}"
        edge = rise_start(smoothed, settled)
        if edge is not None and lrs[edge] / EDGE_MARGIN > below:
            below = lrs[edge] / EDGE_MARGIN
            why = (f"{head} and it stayed within {EDGE_RISE:.0%} of its lowest up to lr {lrs[edge]:.2g}, where it "
                   f"starts to rise: the loss did not respond to the lr before, so {EDGE_MARGIN:.0f}x below that "
                   f"edge: lr {below:.2g}")
    lr = min(max(below, default_lr), lrs[-1])
    if lr > below:
        why += (f", raised to the optimizer's calibrated default {default_lr:g}" if lr == default_lr else
                f", raised toward the optimizer's calibrated default {default_lr:g} as far as the last lr swept")
    return lr, why


def flat_edge(smoothed: list[float]) -> int | None:
    """The index where a flat curve (its lowest point, from the MEMORY-th value on, less than FLAT below that value)
    rises for good; None for a curve that fell further or never rose at its end."""
    settled = MEMORY - 1
    if len(smoothed) <= settled:
        return None
    edge = final_rise(smoothed, settled)
    fell = smoothed[settled] - smoothed[lowest(smoothed, settled)]
    return edge if edge is not None and fell < FLAT * abs(smoothed[settled]) else None


def final_rise(smoothed: list[float], settled_from: int) -> int | None:
    """The index where the curve's last stretch above EDGE_RISE over its value at `settled_from` begins: where the
    loss rises for good at the sweep's end; None when the curve ends at or below that level."""
    level = smoothed[settled_from] + EDGE_RISE * abs(smoothed[settled_from])
    start = len(smoothed)
    while start > settled_from and smoothed[start - 1] > level:
        start -= 1
    return start if start < len(smoothed) else None


def rise_start(smoothed: list[float], settled_from: int) -> int | None:
    """The index (from `settled_from` on) of the first smoothed value EDGE_RISE above the lowest before it: where
    the curve starts to rise; None when it never does."""
    low = math.inf
    for i in range(settled_from, len(smoothed)):
        if smoothed[i] - low > EDGE_RISE * abs(low):
            return i
        low = min(low, smoothed[i])
    return None


def _sweep_limit(total_steps: int | None) -> int:
    """The most steps the sweep may take: MAX_SHARE of the run, at least MIN_STEPS, at most the full lr range."""
    full = math.ceil(PER_DECADE * math.log10(END_LR / START_LR))
    if total_steps is None:
        return full
    return max(MIN_STEPS, min(full, int(MAX_SHARE * total_steps)))


def _size(weights: dict) -> int:
    return max(1, sum(t.numel() * t.element_size() for t in weights.values()))


def _from_data(state: LoopState) -> bool:
    """Whether the task traced the step's NaN/Inf to the data (inputs or targets) rather than the model."""
    origin = getattr(state.task, "non_finite_origin", None)
    return origin is not None and origin.from_data


def _agreed(loss: float) -> float:
    """The loss averaged over the processes of a distributed run, so that every process decides alike."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return loss
    value = torch.tensor([loss], dtype=torch.float64)
    dist.all_reduce(value)
    return float(value) / dist.get_world_size()
