"""The protocol: who runs (entrants), how one trial runs and is timed, and how trials become per-seed results.

Every trial is one `descend.fit` call with the workload's step budget and the doctor off (its instruments would
be on the clock). A `TargetClock` callback evaluates the workload's metric on the current weights every
`eval_every` steps with the clock paused, so time-to-target counts training only: everything from the trial's
start is on the clock (optimizer creation, lr_find for lr="auto", any compilation), evaluation is not.
`descend.stop.Target` ends the trial at the target. A trial that misses the target, or diverges, has
time-to-target infinity.

Steps are gradient evaluations: one per step of one mini-batch (the whole objective for full-batch workloads) for
every first-order entrant; L-BFGS is built with max_iter=1 (torch's default of 20 makes one step up to 20
iterations), and each evaluation of its line search counts as a step too. "descend auto" is fit with its own
defaults (optimizer="auto"): whatever it spends on choosing (a sweep's steps, line-search evaluations) is in its
steps and seconds, and comes out of the budget.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch

from ... import fit, optim
from ...core import stop
from ...core.loop import Callback, LoopState
from ...fit import losses
from . import grid
from .workload import Problem, Workload

# Hyperparameters other than lr that the tuned track fixes for an optimizer (its defaults otherwise).
TUNED_FIXED = {"sgd": {"momentum": 0.9, "nesterov": True}}
# Settings on both tracks that make one step one iteration.
ONE_ITERATION = {"lbfgs": {"max_iter": 1}}
REFERENCE_OPTIMIZER = "adamw"
REFERENCE = f"{REFERENCE_OPTIMIZER} tuned"   # every ratio is taken against this entrant; it always runs
DEFAULT_OPTIMIZER = inspect.signature(fit).parameters["optimizer"].default   # what fit uses when not told
METRIC_KEY = "bench_metric"


@dataclass(frozen=True)
class Entrant:
    """One contestant: an optimizer, the learning rates it may try (the grid for the tuned track), and fixed
    hyperparameters."""

    label: str
    optimizer: str
    lrs: tuple
    hyper: dict = field(default_factory=dict)
    track: str = "tuned"


def tuned(name: str, quick: bool = False) -> Entrant:
    """The optimizer searched over the shared grid, with the tuned track's fixed hyperparameters."""
    hyper = {**TUNED_FIXED.get(name, {}), **ONE_ITERATION.get(name, {})}
    return Entrant(f"{name} tuned", name, grid.QUICK_GRID if quick else grid.TUNED_GRID, hyper, "tuned")


def untuned(name: str) -> Entrant:
    """The optimizer with every default, the learning rate included (L-BFGS: one iteration per step)."""
    return Entrant(f"{name} default", name, (optim.entry(name).defaults()["lr"],), ONE_ITERATION.get(name, {}),
                   "untuned")


# Untuned entrants beyond each optimizer's defaults: fit with its own default choice (optimizer="auto"); "auto"
# in `lrs` means fit chooses the learning rate (lr=None for optimizer="auto", lr="auto" for a named optimizer).
UNTUNED_EXTRA: tuple[Entrant, ...] = (Entrant("descend auto", DEFAULT_OPTIMIZER, ("auto",), {}, "untuned"),)


def entrants(optimizers: list[str], quick: bool = False) -> list[Entrant]:
    """Tuned then untuned entrants for each optimizer, then the extra untuned ones; the reference (tuned AdamW)
    comes first when the optimizers leave it out."""
    reference = [] if REFERENCE_OPTIMIZER in optimizers else [tuned(REFERENCE_OPTIMIZER, quick)]
    out = reference + [tuned(name, quick) for name in optimizers] + [untuned(name) for name in optimizers]
    return out + list(UNTUNED_EXTRA)


@dataclass
class Trial:
    """One fit run: its learning rate, seed, when it reached the target and its evaluated curve."""

    lr: float | str                 # as the entrant asked: a number, or "auto"
    seed: int
    steps_to_target: float          # gradient evaluations, math.inf when missed; an auto sweep's included
    seconds_to_target: float        # math.inf when missed
    best: float                     # best metric seen
    curve: list                     # [(step, train seconds, metric), ...]
    stop_reason: str
    lr_used: float = math.nan       # the lr training ran with: `lr`, or auto's pick (nan for a line search)
    sweep_steps: int = 0            # steps auto's choice took (they trained, and count in the steps)
    chose: str = ""                 # for auto: the algorithm it chose

    @property
    def reached(self) -> bool:
        return math.isfinite(self.steps_to_target)


class TargetClock(stop.Rule, Callback):
    """Evaluates the metric after the first step, every `eval_every` steps and at the last, keeping evaluation time
    off the clock (the first point starts every curve, even of a trial that diverges at once), and ends the trial
    once its gradient evaluations reach the `budget`.

    The clock starts at `began`, before the trial's set-up (optimizer creation, fit's checks, auto's
    observations). Steps are the gradient evaluations `loss` counted since the loop started.
    """

    def __init__(self, workload: Workload, problem: Problem, budget: int, began: float, loss: "CountedLoss"):
        self.workload, self.problem, self.budget, self.loss = workload, problem, budget, loss
        self.curve: list = []
        self.excluded = 0.0
        self.hit: tuple | None = None
        self.began, self.set_up, self.before = began, 0.0, 0

    def on_start(self, state: LoopState) -> None:
        self.set_up, self.before = time.perf_counter() - self.began, self.loss.calls

    def evaluations(self) -> int:
        return self.loss.calls - self.before

    def on_step(self, state: LoopState, record: dict) -> None:
        step = self.evaluations()
        if state.step % self.workload.eval_every and step < self.budget and state.step != 1:
            return
        train_seconds = self.set_up + state.elapsed() - self.excluded
        started = time.perf_counter()
        value = self.problem.metric(self.problem.model)
        record[METRIC_KEY] = value
        self.curve.append((step, train_seconds, value))
        if self.hit is None and self.workload.reached(value) and step <= self.budget:
            self.hit = (step, train_seconds)
        self.excluded += time.perf_counter() - started

    def check(self, state: LoopState, record: dict) -> str | None:
        if self.evaluations() >= self.budget:
            return f"used the budget of {self.budget} gradient evaluations"
        return None


class CountedLoss:
    """A loss that counts its calls with gradients on: one per training step (evaluations run without)."""

    def __init__(self, loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        self.loss, self.calls = losses.get(loss), 0

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += torch.is_grad_enabled()
        return self.loss(output, target)


def build_optimizer(problem: Problem, workload: Workload, entrant: Entrant, lr: float):
    """The optimizer's name (fit builds it) or, with fixed hyperparameters, the optimizer itself."""
    if not entrant.hyper:
        return entrant.optimizer
    return optim.create(problem.model, entrant.optimizer, lr=lr, weight_decay=workload.weight_decay, **entrant.hyper)


def fit_lr(entrant: Entrant, lr: float | str) -> float | str | None:
    """What fit is told: the trial's lr, with "auto" meaning fit's own choice (None under optimizer="auto")."""
    return None if lr == "auto" and entrant.optimizer == "auto" else lr


def run_trial(workload: Workload, entrant: Entrant, lr: float | str, seed: int, quick: bool) -> Trial:
    """Train one seed's problem with one learning rate (a number, or "auto") until the target or the step budget."""
    problem, budget = workload.build(seed), workload.budget(quick)
    loss = CountedLoss(problem.loss)
    began = time.perf_counter()
    clock = TargetClock(workload, problem, budget, began, loss)
    asked = fit_lr(entrant, lr)
    optimizer = entrant.optimizer if lr == "auto" else build_optimizer(problem, workload, entrant, lr)
    result = fit(problem.model, problem.train, loss=loss, lr=asked, optimizer=optimizer,
                 weight_decay=workload.weight_decay, batch_size=workload.batch_size, max_steps=budget, max_epochs=None,
                 seed=seed, progress=False, doctor=False, callbacks=[clock],
                 stop=[stop.Target(workload.target, monitor=METRIC_KEY, mode=workload.mode), clock])
    values = [v for _, _, v in clock.curve if math.isfinite(v)]
    pick = min if workload.mode == "min" else max
    steps, seconds = clock.hit if clock.hit else (math.inf, math.inf)
    choice = result.choice
    return Trial(lr, seed, steps, seconds, pick(values) if values else math.nan, clock.curve, result.stop_reason,
                 _lr_used(result), choice.probe_steps if choice else 0,
                 choice.optimizer if choice else "")


def _lr_used(result) -> float:
    """The lr training ran with: what auto chose (nan for a line search, which has none), else fit's base lr."""
    lr = result.choice.lr if result.choice is not None else result.lr
    return math.nan if lr is None else lr


def warm_up(workload: Workload, entrants_: list[Entrant]) -> None:
    """Two untimed steps per optimizer before the timed trials, so one-time process costs (lazy imports, first
    kernel calls) are not charged to whichever entrant happens to run first."""
    for entrant in {e.optimizer: e for e in entrants_}.values():
        problem = workload.build(0)
        optimizer = build_optimizer(problem, workload, entrant, 1e-6)
        fit(problem.model, problem.train, loss=problem.loss, optimizer=optimizer, lr=1e-6,
            batch_size=workload.batch_size, max_steps=2, max_epochs=None, progress=False, doctor=False)


def best_trial(workload: Workload, trials: list[Trial]) -> Trial:
    """The trial that reached the target in the fewest steps (steps, unlike seconds, are free of timing noise);
    when none reached it, the one with the best metric."""
    reached = [t for t in trials if t.reached]
    if reached:
        return min(reached, key=lambda t: (t.steps_to_target, t.seconds_to_target))
    sign = 1 if workload.mode == "min" else -1
    return min(trials, key=lambda t: sign * t.best if math.isfinite(t.best) else math.inf)


def run_entrant(workload: Workload, entrant: Entrant, seeds: int, quick: bool) -> list[tuple[Trial, list[Trial]]]:
    """Per seed: (the best trial, every trial run). Tuned entrants search their grid, untuned ones run their lr."""
    out = []
    for seed in range(seeds):
        run = partial(run_trial, workload, entrant, seed=seed, quick=quick)
        if entrant.track == "tuned":
            out.append(grid.search(entrant.lrs, run, lambda trials: best_trial(workload, trials), lambda t: t.lr))
        else:
            trials = [run(lr) for lr in entrant.lrs]
            out.append((best_trial(workload, trials), trials))
    return out
