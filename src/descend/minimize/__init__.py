"""`minimize`: find the x that minimizes (or maximizes) a function written with torch operations.

It runs on the same step loop, stopping rules and history table as `fit`; only the task differs: one function
instead of mini-batches. x travels as one flat float vector (float64 unless x0 is a tensor of another float
dtype, so tolerances like gtol=1e-6 are reachable) and comes back in x0's shape: list/array -> numpy array,
tensor -> tensor, dict of named parts -> dict. The pieces: `layout` (x0 <-> flat vector), `settings` (arguments
checked and assembled before fun runs), `task` (evaluations and steps), `rules` (when to stop), `result`.

May import: core, optim.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..core import stop as stop_lib
from ..core.errors import DescendTypeError
from ..core.loop import Loop
from .layout import Layout
from .result import CONVERGED, DIVERGED, LIMIT, NO_PROGRESS, WORDS, MinimizeResult
from .rules import Jump, LineSearchFailed, MaxEvals, Runaway, Tagged, Tolerances, UserCallback, small_steps
from .settings import (METHODS, assemble_constraint, build_optimizer, check_settings, refuse_scipy_only,
                       split_callbacks)
from .task import MinimizeTask

__all__ = ["minimize", "MinimizeResult", "METHODS"]


def minimize(fun: Callable, x0, *, method: str = "lbfgs", lr: float | None = None, constraint=None, bounds=None,
             maximize: bool = False, gtol: float = 1e-6, ftol: float | None = 1e-15, xtol: float | None = 0.0,
             max_steps: int = 10_000, max_evals: int | None = None, callback=None,
             **scipy_only) -> MinimizeResult:
    """Minimize `fun(x)` (maximize with maximize=True) from `x0`; gradients come from autograd.

    Methods: "lbfgs" (strong-Wolfe line search; two-metric projection under constraints), "gd" (Armijo
    backtracking when lr is None), "momentum", "nesterov", "adam", or any descend.optim name (lr=None takes the
    optimizer's default; Schedule-Free and EMA optimizers return their averaged point). `constraint` (a
    descend.constraints set, or a dict of them by part of a dict x0) and `bounds` ((lo, hi), scipy-style pairs,
    an (n, 2) array, scipy.optimize.Bounds, or a dict) are enforced by projection, so every iterate is feasible.

    Stops at the first of: largest (projected) gradient component <= gtol; relative change of f <= ftol or
    largest change of x <= xtol over a step that moved x (these two only for the line-search methods, lbfgs and
    gd without lr: a fixed-step method may stand still for a step without having converged); a line search that
    finds no lower value, or f stalled within ftol/xtol beside a jump in fun (ceil, round) that blocks some of the
    components the gradient pushes, not all (status 2); f or its gradient non-finite, or f below -1e300 (status
    3); max_steps steps; max_evals evaluations of fun, a hard cap (a line search it interrupts is undone);
    `callback(x, record)` returning True. `callback` may also be a descend Callback, or a list of either.

    x is float64 unless x0 is a tensor of another float dtype: in float32 a gtol of 1e-6 is often out of reach.
    scipy's constraints=, jac=, hess=, args=, tol= and options= are refused, each saying what to give instead.
    """
    refuse_scipy_only(scipy_only)
    method = check_settings(method, lr, gtol, ftol, xtol, max_steps, max_evals, maximize)
    if not callable(fun):
        raise DescendTypeError(f"fun must be callable, got {type(fun).__name__}")
    hooks, functions = split_callbacks(callback)
    layout = Layout(x0)
    task = MinimizeTask(fun, layout, -1.0 if maximize else 1.0, assemble_constraint(layout, constraint, bounds))
    task.start(build_optimizer(method, task.x, lr, task.constraint), max_evals)
    first = task.grad_max()
    if first == 0.0 and _flat_around_x0(task):
        return _result(task, NO_PROGRESS, "stopped: the gradient is exactly zero at x0 and fun does not change "
                                          "nearby, so it gives no gradient information there (piecewise constant, "
                                          "rounded, or built from floor/argmax/comparisons); x0 may not be a "
                                          "minimum: use a smooth fun, or a method that needs no gradient", 0, [])
    if first <= gtol:
        return _result(task, CONVERGED, f"converged: {_start_words(task, bounds, constraint)} already meets gtol "
                                        f"{gtol:g} (largest {'projected ' if task.constraint else ''}gradient "
                                        f"component {first:.2e})", 0, [])
    if task.out_of_evaluations():
        return _result(task, LIMIT, f"stopped: reached max_evals ({max_evals} evaluations) at x0", 0, [])
    watchers = [UserCallback(function, task) for function in functions]
    rules = _rules(task, bool(maximize), gtol, ftol, xtol, max_steps, max_evals) + [Tagged(w, LIMIT) for w in watchers]
    start = task.x.detach().clone()
    state = Loop(task, task.optimizer, rules, callbacks=hooks + watchers, total_steps=max_steps).run()
    fired = next(rule for rule in rules if rule.fired)
    word = WORDS[fired.status]
    message = state.stop_reason if state.stop_reason.startswith(word) else f"{word}: {state.stop_reason}"
    if isinstance(fired.rule, (stop_lib.MaxSteps, MaxEvals)) and not task.searched:
        message += small_steps(start, task.x.detach(), state.step, float(task.optimizer.param_groups[0]["lr"]))
    return _result(task, fired.status, message, state.step, state.history)


def _start_words(task: MinimizeTask, bounds, constraint, shown: int = 4) -> str:
    """"x0", or where x0 lay outside the bounds or constraint and so was moved to the nearest point inside: a result
    that converged at once is that point, not x0."""
    x0, start = task.layout.x0, task.x.detach()
    moved = (x0 != start).nonzero().reshape(-1).tolist()
    if not moved:
        return "x0"
    given = " and ".join(name for name, value in (("bounds", bounds), ("constraint", constraint)) if value is not None)
    listed = ", ".join(f"{task.layout.label(i)} {float(x0[i]):g} -> {float(start[i]):g}" for i in moved[:shown])
    more = f" and {len(moved) - shown} more" if len(moved) > shown else ""
    return (f"x0 lay outside the {given} ({listed}{more}); the nearest point inside, which minimize starts from and "
            "returns,")


def _flat_around_x0(task: MinimizeTask) -> bool:
    """Whether fun keeps its value at a small step from x0 in every coordinate (relative 1e-4): with an exactly zero
    gradient that marks a flat piece, not a minimum that happens to be the start."""
    x0 = task.x.detach()
    nearby = x0 + 1e-4 * (1.0 + x0.abs())
    if task.constraint is not None:
        nearby = task.constraint.project(nearby)
    if torch.equal(nearby, x0) or task.out_of_evaluations():
        return False
    return task.evaluate_at(nearby)[0] == task.f


def _rules(task: MinimizeTask, maximize: bool, gtol, ftol, xtol, max_steps, max_evals) -> list[Tagged]:
    """The stopping rules in the order they are asked: failures first, then convergence, then limits."""
    searched = task.searched                        # fixed-step methods may stand still unconverged
    tolerances = Tolerances(gtol, ftol if searched else None, xtol if searched else None,
                            projected=task.constraint is not None)
    rules = [Tagged(stop_lib.NonFinite(), DIVERGED), Tagged(LineSearchFailed(maximize), NO_PROGRESS),
             Tagged(Runaway(maximize), DIVERGED), Tagged(Jump(tolerances, task), NO_PROGRESS),
             Tagged(tolerances, CONVERGED)]
    rules += [Tagged(MaxEvals(max_evals, task), LIMIT)] if max_evals else []
    return rules + [Tagged(stop_lib.MaxSteps(max_steps), LIMIT)]


def _result(task: MinimizeTask, status: int, message: str, nit: int, history: list[dict]) -> MinimizeResult:
    x, f, g = task.final(finite=status != DIVERGED)
    return MinimizeResult(x=task.layout.export(x), fun=task.sign * f + 0.0,   # + 0.0: a maximum at 0 is no -0.0
                          grad=task.layout.export(task.sign * g + 0.0),
                          success=status == CONVERGED, status=status, message=message, nit=nit, nfev=task.nfev,
                          history=history)
