"""`lr_find`: an exponential learning-rate sweep that suggests a learning rate and leaves the model untouched.

The sweep trains for up to `steps` mini-batches while the learning rate grows geometrically from `start_lr` to
`end_lr`, smooths the loss with a bias-corrected exponential moving average, and stops once the smoothed loss
exceeds `diverge` times its best value. It runs on the same step loop as `fit`.

Suggestion rule: two classic readings of the curve, combined.
- steepest: the lr where the smoothed loss fell fastest per unit of log(lr), measured over WINDOW consecutive
  steps (the geometric middle of that window), before the curve's lowest point and after the first SKIP steps
  (where the moving average is still settling). It is where learning is fastest over the sweep's short horizon,
  which tends to be a little too bold for a full run.
- a tenth of the lr at the lowest point, the conservative rule; it only exists when the sweep found a minimum,
  i.e. stopped at divergence.
The suggestion is their geometric mean when the sweep diverged, else the steepest point. If the curve never falls
after SKIP steps, it is a tenth of the lowest point's lr. benchmarks/lr_auto_quality.py validates the rule against
a 9-point grid on three workloads and three seeds.
"""
from __future__ import annotations

import copy
import math
import numbers
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .. import losses
from ..data import BatchStream, batches
from ..errors import DescendError, DescendTypeError, check_positive_int
from ..loop import Loop
from ..stop import MaxSteps, Rule, with_defaults

WINDOW = 5        # sweep steps over which the slope is measured
SKIP = 10         # first sweep steps left out of the slope (the moving average settles)
DIVISOR = 10.0
MIN_SWEEP = 2 * WINDOW  # the fewest sweep steps that make a curve


@dataclass
class LRFindResult:
    """The sweep's curve (learning rates, raw and smoothed losses), the suggested lr and why the sweep ended
    (`diverged`: it stopped before its last step because the loss blew up)."""

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
        best = min(range(len(self.smoothed)), key=self.smoothed.__getitem__)
        return (f"swept lr {self.lrs[0]:.1e} .. {self.lrs[-1]:.1e} over {len(self.lrs)} steps "
                f"({self.stop_reason})\n"
                f"lowest smoothed loss {self.smoothed[best]:.4g} at lr {self.min_loss_lr:.2e}\n"
                f"suggested lr {self.suggestion:.2e} ({self.rule})")


class _Divergence(Rule):
    """Smooths the loss into each record and stops once it exceeds `factor` times its best value."""

    def __init__(self, beta: float, factor: float):
        self.beta, self.factor = beta, factor

    def setup(self, state):
        self.average, self.best, self.fired = 0.0, math.inf, False

    def check(self, state, record):
        self.average = self.beta * self.average + (1 - self.beta) * record["loss"]
        smooth = self.average / (1 - self.beta ** state.step)
        record["smoothed"] = smooth
        self.best = min(self.best, smooth)
        if smooth > self.factor * self.best:
            self.fired = True
            return f"stopped at divergence: smoothed loss {smooth:.4g} > {self.factor:g} x best {self.best:.4g}"
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
            start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100, batch_size: int = 64,
            weight_decay: float | None = None, smoothing: float = 0.9, diverge: float = 4.0, seed: int = 0,
            device: str = "cpu") -> LRFindResult:
    """Sweep the learning rate exponentially and suggest one; the model, the optimizer, the global RNG and a given
    DataLoader's generator are restored afterwards.

    `data` is what `fit` takes as `train`. The same seed gives the same curve. See the module docstring for the
    suggestion rule.
    """
    if not isinstance(model, nn.Module):
        raise DescendTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_settings(start_lr, end_lr, steps, batch_size, smoothing, diverge)
    from ..fit import FitTask, make_optimizer  # fit imports the doctor; import here to keep the graph acyclic
    generator = torch.Generator().manual_seed(seed)
    source = batches(data, batch_size=batch_size, shuffle=True, generator=generator, name="lr_find data")
    opt = make_optimizer(model, optimizer, lr=start_lr, weight_decay=weight_decay)
    divergence = _Divergence(smoothing, diverge)
    with _restored_afterwards(model, opt, source):
        torch.manual_seed(seed)
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
    found = _result(state.history, state.stop_reason, diverged)
    if found.suggestion < start_lr:
        warnings.warn(_outside_warning(found), stacklevel=2)
    return found


def _outside_warning(found: LRFindResult) -> str:
    """Why a suggestion below the swept range is a guess, and which end of the range to move."""
    rose = found.diverged or found.smoothed[-1] > 1.5 * min(found.smoothed)
    widen = ("lower start_lr: the loss rose from the first steps on" if rose
             else "raise end_lr: the loss barely moved over the whole range")
    return (f"lr_find: the smoothed loss never fell between lr {found.lrs[0]:.1e} and {found.lrs[-1]:.1e}, so the "
            f"suggestion {found.suggestion:.1e} lies below the swept range and is a guess; {widen} (or check that the "
            "model can learn from this data)")


def steepest(lrs: list[float], smoothed: list[float]) -> float | None:
    """The lr of the steepest fall of the smoothed loss before its minimum, or None when it never falls."""
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    starts = range(SKIP, low - WINDOW + 1)
    if not starts:
        return None
    slope = lambda i: (smoothed[i + WINDOW] - smoothed[i]) / math.log(lrs[i + WINDOW] / lrs[i])
    i = min(starts, key=slope)
    return math.sqrt(lrs[i] * lrs[i + WINDOW])


def suggest(lrs: list[float], smoothed: list[float], diverged: bool) -> tuple[float, str]:
    """The suggestion rule of the module docstring: the lr and which reading of the curve gave it."""
    tenth_of_min = lrs[min(range(len(smoothed)), key=smoothed.__getitem__)] / DIVISOR
    steep = steepest(lrs, smoothed)
    if steep is None:
        return tenth_of_min, "a tenth of the lowest point (the loss never fell)"
    if diverged:
        return math.sqrt(steep * tenth_of_min), "geometric mean of the steepest descent and a tenth of the lowest point"
    return steep, "steepest descent (the sweep found no minimum before its end)"


def _result(history: list[dict], stop_reason: str, diverged: bool) -> LRFindResult:
    usable = [r for r in history if "smoothed" in r and math.isfinite(r["smoothed"])]
    if len(usable) < 2 * WINDOW:
        raise DescendError(f"lr_find could not measure a curve ({stop_reason}) in {len(usable)} steps; "
                           "lower start_lr or check the data")
    lrs, smoothed = [r["lr"] for r in usable], [r["smoothed"] for r in usable]
    best = min(usable, key=lambda r: r["smoothed"])
    suggestion, rule = suggest(lrs, smoothed, diverged)
    return LRFindResult(lrs=lrs, losses=[r["loss"] for r in usable], smoothed=smoothed, suggestion=suggestion,
                        min_loss_lr=best["lr"], stop_reason=stop_reason, diverged=diverged, rule=rule)
