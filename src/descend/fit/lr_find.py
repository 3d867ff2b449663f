"""`lr_find`: an exponential learning-rate sweep that suggests a learning rate and leaves the model untouched.

The sweep trains for up to `steps` mini-batches while the learning rate grows geometrically from `start_lr` to
`end_lr`, smooths the loss with a bias-corrected exponential moving average, and stops once the smoothed loss
exceeds `diverge` times its best value. It runs on the same step loop as `fit`.

Suggestion rule (fastai's "valley" reading): the valley is the longest stretch of the curve over which the
smoothed loss keeps falling, found as its longest decreasing subsequence (which steps over noise) and taken to span
as many sweep steps as that subsequence has points, ending where it ends. The suggestion is the lr POSITION of the
way down the valley (in sweep steps, so in log(lr)): past the flat start, before the bottom, where a sweep that is
still speeding up turns into one about to overshoot. A valley shorter than WINDOW steps or shallower than FALL is
noise; without one the suggestion is a tenth of the lowest point's lr, and lr_find warns that it is a guess. The
rule reads the curve up to its lowest point only, counted from the step where the moving average first holds as
many batches as it remembers (`read`); fit's in-run sweep (fit/auto/sweep.py) reads its curve by the same `read`.
POSITION was chosen on seven workloads (AdamW, cosine schedule, full runs scored on held-out data) with five seeds
each; leaving each workload out in turn moved the choice only between 0.6 and 0.7. benchmarks/lr_auto_quality.py
measures the rule against a 9-point grid on descend.bench workloads.
"""
from __future__ import annotations

import copy
import math
import numbers
import statistics
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..core.checks import check_positive_int
from ..core.errors import DescendError, DescendTypeError, warn_user
from ..core.loop import Loop
from ..core.seeding import manual_seed
from ..core.stop import MaxSteps, Rule, with_defaults
from . import losses
from .data import BatchStream, batches, holds_batch_norm
from .preflight import optimizer_name
from .task import FitTask, make_optimizer

POSITION = 0.65   # where in the valley the suggestion sits: 0 at its top, 1 at its lowest point
WINDOW = 5        # a valley spans at least this many sweep steps ...
FALL = 0.2        # ... and falls by at least this share of its top value (shallower ones are noise)
DIVISOR = 10.0    # without a valley: this fraction of the lowest point's lr
NO_VALLEY = (f"a tenth of the lowest point (the smoothed loss never fell steadily by {FALL:.0%} over {WINDOW} steps "
             "or more)")
MIN_SWEEP = 2 * WINDOW  # the fewest sweep steps that make a curve
START_FLOOR = 1e-7  # the lowest start_lr worth advising: float32's resolution (1.2e-7) for a weight near 1
LOWER = "lower start_lr: "   # the advice to widen the sweep downward, dropped where start_lr is at START_FLOOR
FLAT_SPAN = 1000.0  # a curve flat over 3 decades of lr from start_lr began low enough (no advice to lower it)


@dataclass
class LRFindResult:
    """The sweep's curve (learning rates, raw and smoothed losses), the suggested lr and why the sweep ended
    (`diverged`: the loss blew up, rather than the sweep reaching its last step)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    min_loss_lr: float
    stop_reason: str
    diverged: bool
    rule: str

    def summary(self) -> str:
        """A few lines: the range swept, where the loss was lowest, and the suggestion."""
        best = min(range(len(self.lrs)), key=lambda i: abs(math.log(self.lrs[i] / self.min_loss_lr)))
        return (f"swept lr {self.lrs[0]:.1e} .. {self.lrs[-1]:.1e} over {len(self.lrs)} steps "
                f"({self.stop_reason})\n"
                f"lowest smoothed loss {self.smoothed[best]:.4g} at lr {self.min_loss_lr:.2e}\n"
                f"suggested lr {self.suggestion:.2e} ({self.rule})")

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        """One line: the suggestion and the sweep's extent, not the curve's hundred values each (they are in
        `.lrs`, `.losses` and `.smoothed`)."""
        return (f"LRFindResult(suggestion={self.suggestion:.3g}, min_loss_lr={self.min_loss_lr:.3g}, "
                f"{len(self.lrs)} steps over lr {self.lrs[0]:.1e} .. {self.lrs[-1]:.1e}, diverged={self.diverged}; "
                "the curve: .lrs, .losses, .smoothed)")


class _Divergence(Rule):
    """Smooths the loss into each record and stops once it exceeds `factor` times its best value, and so does the
    median of the batch losses over the smoothing's window. Data with a few huge targets (budgets, incomes) give
    a batch now and then a loss a hundred times the others, which lifts the average for many steps at any lr; a
    sweep that diverges lifts most batches'. The best is taken from the step `settle` on, where the average spans
    as many batches as its smoothing weighs (before, one batch without the huge targets set a best that the next
    batch with one 'diverged' from at lr 1e-7); the median spans as many batches too."""

    def __init__(self, beta: float, factor: float, settle: int):
        self.beta, self.factor, self.settle = beta, factor, settle

    def setup(self, state):
        self.average, self.best, self.fired = 0.0, math.inf, False
        self.recent = deque(maxlen=self.settle + 1)   # the batch losses of the smoothing's window

    def check(self, state, record):
        self.average = self.beta * self.average + (1 - self.beta) * record["loss"]
        smooth = self.average / (1 - self.beta ** state.step)
        record["smoothed"] = smooth
        self.recent.append(record["loss"])
        if state.step >= self.settle:
            self.best = min(self.best, smooth)
        if smooth > self.factor * self.best and statistics.median(self.recent) > self.factor * self.best:
            self.fired = True
            return (f"stopped at divergence: smoothed loss {smooth:.4g}, over {self.factor:g}x its lowest "
                    f"{self.best:.4g}")
        return None


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_settings(start_lr, end_lr, steps, batch_size, smoothing, diverge) -> None:
    """Every numeric setting of lr_find, checked before any work; each error names the setting and its range."""
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not _number(value) or value <= 0:
            raise DescendError(f"lr_find: {name} must be a finite number > 0, got {value!r}")
    if start_lr >= end_lr:
        raise DescendError(f"lr_find needs start_lr < end_lr (the sweep grows from one to the other), got "
                           f"start_lr={start_lr}, end_lr={end_lr}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < MIN_SWEEP:
        raise DescendError(f"lr_find: steps must be an integer >= {MIN_SWEEP} (the fewest that make a curve), "
                           f"got {steps!r}")
    check_positive_int(batch_size, "lr_find: batch_size")
    if not _number(smoothing) or not 0 <= smoothing < 1:
        raise DescendError(f"lr_find: smoothing must be in [0, 1) (the moving average's weight on the past; "
                           f"0.9 averages about 10 steps), got {smoothing!r}")
    if not _number(diverge) or diverge <= 1:
        raise DescendError(f"lr_find: diverge must be a number > 1 (the sweep stops once the smoothed loss "
                           f"exceeds diverge x its best), got {diverge!r}")


@contextmanager
def _restored_afterwards(model: nn.Module, opt: torch.optim.Optimizer, source):
    """Put the weights, optimizer state, global RNG, train/eval mode and a DataLoader's generator back exactly."""
    saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_opt, saved_rng, was_training = copy.deepcopy(opt.state_dict()), torch.get_rng_state(), model.training
    loader_rng = getattr(source, "generator", None)  # a user's DataLoader keeps its shuffle order for fit
    saved_loader_rng = loader_rng.get_state() if loader_rng is not None else None
    try:
        yield
    finally:
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
        torch.set_rng_state(saved_rng)
        if loader_rng is not None:
            loader_rng.set_state(saved_loader_rng)
        model.train(was_training)


def lr_find(model: nn.Module, data, loss: str | Callable = "mse", *, optimizer: str | torch.optim.Optimizer = "adamw",
            start_lr: float = START_FLOOR, end_lr: float = 10.0, steps: int = 100, batch_size: int = 64,
            weight_decay: float | None = None, decay_norms_and_biases: bool = False, smoothing: float = 0.9,
            diverge: float = 4.0, seed: int = 0, device: str = "cpu") -> LRFindResult:
    """Sweep the learning rate exponentially and suggest one; the model, the optimizer, the global RNG and a given
    DataLoader's generator are restored afterwards.

    `data` is what `fit` takes as `train`. The same seed gives the same curve. See the module docstring for the
    suggestion rule.
    """
    if not isinstance(model, nn.Module):
        raise DescendTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_settings(start_lr, end_lr, steps, batch_size, smoothing, diverge)
    optimizer_name(optimizer, weight_decay, model)
    generator = torch.Generator().manual_seed(seed)
    source = batches(data, batch_size=batch_size, shuffle=True, generator=generator, name="lr_find data",
                     fold_single=holds_batch_norm(model))
    opt = make_optimizer(model, optimizer, lr=start_lr, weight_decay=weight_decay,
                         decay_norms_and_biases=decay_norms_and_biases)
    settled = round(1 / (1 - smoothing)) - 1   # the steps the smoothed loss needs to span its window
    divergence = _Divergence(smoothing, diverge, settled)
    with _restored_afterwards(model, opt, source):
        manual_seed(seed)
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] = start_lr
        growth = (end_lr / start_lr) ** (1 / (steps - 1))
        task = FitTask(model, losses.get(loss), opt, BatchStream(source, torch.device(device)), None,
                       accumulate=1, clip=None, metric_fns={}, device=torch.device(device))
        model.train()
        # divergence is asked before the step limit, so the last step is smoothed (and judged) too
        loop = Loop(task, opt, with_defaults([divergence, MaxSteps(steps)]),
                    schedules={"lr": lambda step: growth ** step}, total_steps=steps)
        state = loop.run()
    last = state.history[-1]
    diverged = divergence.fired or not (math.isfinite(last["loss"]) and math.isfinite(last.get("grad_norm", 0.0)))
    found = _result(state.history, state.stop_reason, diverged, settled_from=settled)
    if found.rule == NO_VALLEY:
        warn_user(_guess_warning(found))
    return found


def _guess_warning(found: LRFindResult) -> str:
    """Why a suggestion without a valley is a guess, and which end of the range to move."""
    widen = _widen(found)
    if widen.startswith(LOWER) and found.lrs[0] <= START_FLOOR:
        widen = (f"{widen.removeprefix(LOWER)}, and start_lr {found.lrs[0]:.0e} is already float32's resolution for "
                 "a weight near 1: a lower one cannot help, the loss does not follow the lr; check that the target "
                 "can be predicted from the inputs (a target of noise gives such a curve)")
    else:
        widen += " (or check that the model can learn from this data)"
    first, last = _longest_fall(found)
    fell = 1 - found.smoothed[last] / found.smoothed[first]
    below = ", below the swept range," if found.suggestion < found.lrs[0] else ""
    return (f"lr_find: the smoothed loss never fell steadily by {FALL:.0%} over {WINDOW} steps between lr "
            f"{found.lrs[0]:.1e} and {found.lrs[-1]:.1e} (its longest steady fall, from {found.smoothed[first]:.4g} "
            f"to {found.smoothed[last]:.4g} over {last - first} steps, is {fell:.0%}), so the suggestion "
            f"{found.suggestion:.1e}{below} is a guess; {widen}")


def _longest_fall(found: LRFindResult) -> tuple[int, int]:
    """(first, last) sweep index of the valley the suggestion rule measured: up to the lowest point."""
    return valley(found.smoothed[:found.lrs.index(found.min_loss_lr) + 1])


def _widen(found: LRFindResult) -> str:
    """Which end of the swept range to move, read from where the curve fell and rose."""
    rose = found.diverged or found.smoothed[-1] > 1.5 * min(found.smoothed)
    start, low = found.smoothed[0], min(found.smoothed)
    if not rose:
        return "raise end_lr: the loss barely moved over the whole range"
    if low >= 0.98 * start:
        return f"{LOWER}the loss rose from the first steps on"
    if _fall_began(found) >= FLAT_SPAN * found.lrs[0]:
        return (f"the loss held at {start:.4g} up to lr {_fall_began(found):.1e}, then fell only to {low:.4g} before "
                "it rose: the valley is shallow, and a lower start_lr would add only flat steps")
    return f"{LOWER}the loss rose after falling only from {start:.4g} to {low:.4g}"


def _fall_began(found: LRFindResult) -> float:
    """The lr where the smoothed loss first fell 2% below its start: a sweep whose curve is flat for its first
    decades began low enough, and a lower start_lr would not show a fall it missed."""
    start = found.smoothed[0]
    return next(lr for lr, value in zip(found.lrs, found.smoothed) if value < 0.98 * start or lr == found.lrs[-1])


def valley(smoothed: list[float]) -> tuple[int, int]:
    """(first, last) sweep index of the valley of the module docstring; (i, i) when the curve never falls."""
    length, last = [1] * len(smoothed), 0
    for i in range(1, len(smoothed)):
        length[i] = 1 + max((length[j] for j in range(i) if smoothed[j] > smoothed[i]), default=0)
        if length[i] > length[last]:
            last = i
    return last - length[last] + 1, last


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float, str]:
    """The suggestion rule of the module docstring: the lr and which reading of the curve gave it."""
    first, last = valley(smoothed)
    if last - first < WINDOW or smoothed[last] > (1 - FALL) * smoothed[first]:
        return lrs[min(range(len(smoothed)), key=smoothed.__getitem__)] / DIVISOR, NO_VALLEY
    at = first + round(POSITION * (last - first))
    return lrs[at], f"{POSITION:.0%} of the way down the valley from lr {lrs[first]:.1e} to {lrs[last]:.1e}"


def read(lrs: list[float], smoothed: list[float], settled_from: int = 0) -> tuple[float, str]:
    """The reading of a sweep's curve that lr_find and fit's in-run sweep share: the suggestion rule over the curve
    up to its lowest point (what follows is overshoot, whose noise must not extend the valley), that point counted
    from index `settled_from` on, where the smoothed average has averaged as many batches as it remembers (a lucky
    first batch or two must not pass for the bottom)."""
    end = lowest(smoothed, settled_from) + 1
    return suggest(lrs[:end], smoothed[:end])


def lowest(smoothed: list[float], settled_from: int = 0) -> int:
    """The index of the curve's lowest point, counted from index `settled_from` on (all of a shorter curve)."""
    settled = range(settled_from, len(smoothed)) if len(smoothed) > settled_from else range(len(smoothed))
    return min(settled, key=smoothed.__getitem__)


def _result(history: list[dict], stop_reason: str, diverged: bool, settled_from: int) -> LRFindResult:
    usable = [r for r in history if "smoothed" in r and math.isfinite(r["smoothed"])]
    if len(usable) < MIN_SWEEP:
        raise DescendError(f"lr_find could not measure a curve ({stop_reason}) in {len(usable)} steps; "
                           "lower start_lr or check the data")
    lrs, smoothed = [r["lr"] for r in usable], [r["smoothed"] for r in usable]
    best = usable[lowest(smoothed, settled_from)]   # not a first batch's loss, before the average settled
    suggestion, rule = read(lrs, smoothed, settled_from)
    return LRFindResult(lrs=lrs, losses=[r["loss"] for r in usable], smoothed=smoothed, suggestion=suggestion,
                        min_loss_lr=best["lr"], stop_reason=stop_reason, diverged=diverged, rule=rule)
