"""Runs the benchmark: every entrant on every workload for every seed, and keeps the results."""
from __future__ import annotations

import difflib
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence, TextIO

import torch
from torch import nn

from ... import fit, optim
from ...core.checks import check_positive_int
from ...core.errors import DescendError
from . import bikeshare, charlm, images, logistic, quadratic, rosenbrock, synthetic, tabular
from .protocol import ONE_ITERATION, Entrant, Trial, entrants, run_entrant, warm_up
from .workload import Workload

WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    quadratic.WORKLOAD, logistic.WORKLOAD, *tabular.WORKLOADS, *rosenbrock.WORKLOADS, charlm.WORKLOAD,
    bikeshare.WORKLOAD, images.WORKLOAD, *synthetic.WORKLOADS]}
DEFAULT_OPTIMIZERS = ("adamw", "sgd", "rmsprop")


@dataclass
class Cell:
    """One entrant on one workload: the best trial of each seed, and every trial run."""

    best: list[Trial]
    trials: list[Trial]

    @property
    def steps(self) -> float:
        """Median over seeds of the best trial's steps to target: infinite when most seeds missed."""
        return statistics.median(t.steps_to_target for t in self.best)

    @property
    def seconds(self) -> float:
        """Median over seeds of the best trial's seconds to target."""
        return statistics.median(t.seconds_to_target for t in self.best)

    @property
    def lr(self) -> float | str:
        """The learning rate the seeds picked most often."""
        return Counter(t.lr for t in self.best).most_common(1)[0][0]


@dataclass
class BenchResult:
    """Everything one run produced: what ran, and a Cell per (entrant label, workload name)."""

    workloads: list[Workload]
    entrants: list[Entrant]
    seeds: int
    quick: bool
    cells: dict = field(default_factory=dict)   # (entrant label, workload name) -> Cell
    elapsed: float = 0.0

    def times(self, unit: str = "seconds") -> dict[str, dict[str, float]]:
        """times[entrant label][workload name], median over seeds, inf for a miss."""
        return {e.label: {w.name: getattr(self.cells[e.label, w.name], unit) for w in self.workloads}
                for e in self.entrants}


def check_usable(name: str) -> None:
    """Refuse an optimizer that cannot train an ordinary model (a linear layer with a bias) in one step, before
    any work starts: SparseAdam needs sparse gradients, Muon takes 2-D weights only, and so on."""
    if "lr" not in optim.entry(name).defaults():
        raise DescendError(f"optimizer {name!r} takes no learning rate, so the bench cannot tune it; "
                           "leave it out of --optimizers")
    model = nn.Linear(3, 2)
    try:
        built = optim.create(model, name, **ONE_ITERATION.get(name, {}))
        fit(model, (torch.ones(4, 3), torch.zeros(4, 2)), optimizer=built, lr=built.defaults["lr"], max_steps=1,
            progress=False, doctor=False)
    except (RuntimeError, ValueError, TypeError) as err:
        raise DescendError(f"optimizer {name!r} cannot train the bench's workloads (they have 1-D parameters and "
                           f"dense gradients); one step on a linear layer failed: {err}. Leave it out of --optimizers, "
                           "or benchmark it on your own model with descend.fit") from err


def resolve(workloads: Sequence[str] | None, optimizers: Sequence[str] | None) -> tuple[list[Workload], list[str]]:
    """Check names before any work starts: unknown workloads and unknown or unusable optimizers are refused with
    the reason; a name given twice (in any letter case) runs once."""
    chosen = list(dict.fromkeys(workloads or WORKLOADS))
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        near = difflib.get_close_matches(unknown[0], list(WORKLOADS), n=1, cutoff=0.6)
        raise DescendError(f"unknown workload {unknown[0]!r}; " + (f"did you mean {near[0]!r}? " if near else "")
                           + f"available: {', '.join(WORKLOADS)}")
    names = list(dict.fromkeys(optim.entry(name).name for name in (optimizers or DEFAULT_OPTIMIZERS)))
    for name in names:
        check_usable(name)
    return [WORKLOADS[w] for w in chosen], names


def run(workloads: Sequence[str] | None = None, optimizers: Sequence[str] | None = None, seeds: int = 3,
        quick: bool = False, log: TextIO | None = sys.stderr) -> BenchResult:
    """Run the benchmark and return its results; torch uses one thread so trials do not fight over cores.

    Tuned AdamW runs even when `optimizers` leaves it out: it is the reference of every ratio."""
    seeds = check_positive_int(seeds, "seeds")
    chosen, names = resolve(workloads, optimizers)
    result = BenchResult(chosen, entrants(names, quick), seeds, quick)
    threads, started = torch.get_num_threads(), time.perf_counter()
    torch.set_num_threads(1)
    try:
        for workload in chosen:
            warm_up(workload, result.entrants)
            for entrant in result.entrants:
                per_seed = run_entrant(workload, entrant, seeds, quick)
                cell = Cell([best for best, _ in per_seed], [t for _, trials in per_seed for t in trials])
                result.cells[entrant.label, workload.name] = cell
                if log:
                    print(f"{workload.name:>22}  {entrant.label:<16} {describe(cell)}", file=log, flush=True)
    finally:
        torch.set_num_threads(threads)
    result.elapsed = time.perf_counter() - started
    return result


def lr_text(lr: float | str) -> str:
    """A learning rate for people: 0.003, 1e-04, or "auto"."""
    return f"{lr:g}" if isinstance(lr, (int, float)) else str(lr)


def lr_picked(cell: Cell) -> str:
    """The learning rate the seeds picked; for "auto", what it chose (the algorithm most seeds chose, the median
    lr over seeds)."""
    if cell.lr != "auto":
        return f"lr {lr_text(cell.lr)}"
    return auto_text(Counter(t.chose for t in cell.best).most_common(1)[0][0],
                     statistics.median(t.lr_used for t in cell.best))


def auto_text(chose: str, lr: float) -> str:
    """What auto chose, in a few words: 'auto: lbfgs' (a line search has no lr) or 'auto: adamw lr 0.03'."""
    return f"auto: {chose}" + (f" lr {lr:.2g}" if math.isfinite(lr) else "")


def describe(cell: Cell) -> str:
    """One cell in words: median steps and seconds to the target, or the median best value of a miss."""
    sweep = statistics.median(t.sweep_steps for t in cell.best)
    if math.isinf(cell.steps):
        best = statistics.median(t.best for t in cell.best)
        return f"miss (best {best:.4g}, {lr_picked(cell)}" + (f", {sweep:.0f} steps of sweep)" if sweep else ")")
    steps = f"{cell.steps:.0f} steps" + (f" ({sweep:.0f} of sweep)" if sweep else "")
    return f"{steps}, {cell.seconds:.3g} s ({lr_picked(cell)})"
