"""How long auto's L-BFGS runs: until it has converged, as scipy.optimize.minimize's L-BFGS-B does, under a cap.

A deterministic full-batch objective lets the loss itself say when the run is done, so auto's L-BFGS stops at the
first of (Converged below):
- the gradient norm is at most GTOL times max(1, |loss|) (scipy's gtol is 1e-5 on the largest component; 1 is the
  loss of a unit-scale problem, sd^power for a target in its own units trained as if standardized: units.py);
- the loss changed by less than the objective's float precision resolves over WINDOW steps (RELATIVE_EPS machine
  epsilons of the parameters' dtype per step, relative: 4.8e-7 a step in float32, 1e-9 at least);
- the loss came out bit-identical STILL times in a row: the same weights on the same data, so the line search
  can no longer move them (torch's L-BFGS then repeats a no-op step forever).
With no max_epochs or max_steps given, auto's L-BFGS goes on until one of these holds, at most CAP_STEPS steps or
CAP_SECONDS seconds so that a problem that never converges still ends; a limit the caller gave is kept, and a
converged run stops before it. An L-BFGS the caller names gets the same tests on a full batch (for_named), under
the caller's limit (fit's 20 epochs by default). A descend.stop.Converged the caller gives replaces the tests.

With validation data (and no limit given), the run also stops once val_loss has not improved for VAL_PATIENCE
steps, and keeps the weights of its best evaluation: tiny data and a large model overfit when run to convergence.
Measured (benchmarks/full_batch.py --validation, 4 small problems x 3 seeds), the held-out loss of the weights kept
that way was 2-460x lower than at convergence on every MLP problem, and lower on 2 of 3 seeds of an overdetermined
linear regression, at a tenth of the steps.
"""
from __future__ import annotations

import math

import torch

from ...core import stop as stop_lib

GTOL = 1e-5
RELATIVE_EPS = 4        # machine epsilons of relative decrease per step below which progress has stopped
FTOL_FLOOR = 1e-9       # float64 would otherwise ask for changes below what its own sums resolve
WINDOW = 10
STILL = 3
CAP_STEPS = 10_000      # scipy's L-BFGS-B allows 15,000 iterations by default
CAP_SECONDS = 600.0
VAL_PATIENCE = 100      # evaluations, one a step on a full batch; 20 stopped one seed of the sin fit too soon


def ftol_for(dtype: torch.dtype) -> float:
    """The relative decrease per step below which the loss has stopped moving, for parameters of `dtype`."""
    return max(RELATIVE_EPS * torch.finfo(dtype).eps, FTOL_FLOOR)


class Converged(stop_lib.Converged):
    """descend.stop.Converged's test of the loss's relative change over `window` steps (`ftol` a step), plus the
    two a line search needs (see the module notes): the gradient norm against the loss's scale, and a loss repeated
    bit for bit `still` times. A non-finite loss is left to NonFinite. `unit` is the loss of a unit-scale
    problem: sd^power for a target in its own units trained as if standardized (units.py), else 1."""

    def __init__(self, ftol: float, gtol: float = GTOL, window: int = WINDOW, still: int = STILL, unit: float = 1.0):
        super().__init__(rtol=ftol * window, gtol=None, window=window)
        self.scaled_gtol, self.still, self.unit = gtol, still, unit

    def check(self, state, record):
        loss, norm = record["loss"], record.get("grad_norm", math.inf)
        if not math.isfinite(loss):
            return None
        relative = super().check(state, record)   # remembers the loss; the relative-change test
        if norm <= self.scaled_gtol * max(self.unit, abs(loss)):
            return (f"converged: gradient norm {norm:.2e} at most {self.scaled_gtol:g} x max({self.unit:.3g}, |loss|) "
                    f"at step {state.step}")
        recent = list(self.losses)[-self.still:]
        if len(recent) == self.still and len(set(recent)) == 1:
            return (f"converged: the line search can no longer move the weights (loss {loss:.6g} unchanged over "
                    f"{self.still} steps) at step {state.step}")
        return relative


def until_converged(rules: list, default_limit, limit_given: bool, dtype: torch.dtype,
                    has_validation: bool, unit: float = 1.0) -> tuple[list, dict]:
    """The stopping rules of auto's L-BFGS run, from the spec's `rules`, and the limit they set, as data: the
    convergence tests always; with no limit given, the cap replaces fit's default epoch limit `default_limit` (the
    limit's "replaces" names that setting, so that config.json's run section is not read as the limit used), and
    with validation data a Patience rule on val_loss keeps the best weights (unless the caller has a Patience).
    `unit`: a unit-scale problem's loss (Converged)."""
    ftol = ftol_for(dtype)
    limit = {"until_converged": True, "gtol": GTOL, "ftol": ftol, "window": WINDOW}
    if unit != 1:
        limit["unit"] = unit
    rules = [*rules, *_tests(rules, ftol, unit)]
    if limit_given:
        return rules, {**limit, "cap": "the given limit"}
    rules = [rule for rule in rules if rule is not default_limit]
    rules += [stop_lib.MaxSteps(CAP_STEPS), stop_lib.MaxTime(CAP_SECONDS)]
    limit = {**limit, "max_steps": CAP_STEPS, "max_seconds": CAP_SECONDS, "replaces": default_limit.code}
    if has_validation and not any(isinstance(rule, stop_lib.Patience) for rule in rules):
        rules.append(stop_lib.Patience(VAL_PATIENCE, monitor="val_loss", restore_best=True))
        limit["val_patience"] = VAL_PATIENCE
    return rules, limit


def for_named(optimizer: torch.optim.Optimizer, rules: tuple, full_batch: bool) -> list | None:
    """The rules of a run with an L-BFGS the caller named, on a full batch: theirs plus the convergence tests, so
    that a converged run stops instead of repeating no-op steps until its limit; None (the caller's rules as they
    are) for any other optimizer or for mini-batches."""
    if not (isinstance(optimizer, torch.optim.LBFGS) and full_batch):
        return None
    return [*rules, *_tests(rules, ftol_for(optimizer.param_groups[0]["params"][0].dtype))]


def _tests(rules, ftol: float, unit: float = 1.0) -> list:
    """The convergence tests to add: none when the caller gave a Converged rule of their own (theirs decide)."""
    return [] if any(isinstance(rule, stop_lib.Converged) for rule in rules) else [Converged(ftol, unit=unit)]


def describe(limit: dict) -> str:
    """The limit in words, for the choice's line."""
    if "max_steps" not in limit:
        return "until converged or the given limit"
    words = f"until converged (at most {limit['max_steps']:,} steps or {limit['max_seconds']:g} s)"
    if "val_patience" in limit:
        words += f" or val_loss stalls for {limit['val_patience']} steps, keeping the best weights"
    return words
