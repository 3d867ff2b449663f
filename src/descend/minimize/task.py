"""minimize's task on the shared loop: one loop step is one optimizer step on x, reported as a history record.

The task evaluates fun with autograd, checks every value it gets (a scalar tensor with a gradient path to x),
counts evaluations against max_evals and caches recent ones by value, so a line search that ends on a point it
already evaluated costs nothing extra.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .. import optim
from ..core.errors import DescendError, DescendTypeError
from ..core.loop import NonFiniteOrigin
from .constraints import Constraint
from .layout import Layout
from .linesearch import LineSearchOptimizer

CACHED = 8      # recent evaluations kept: a search's last trial point is usually its accepted one
JUMP_RADIUS = 1e-6  # how near x, relative to its largest component (at least 1), a point is read for a jump
JUMP_FACTOR = 100   # a rise this many times the most the gradient allows is a jump, not curvature or a kink


class EvaluationsSpent(Exception):
    """Raised by `evaluate_at` when the evaluation budget is used up; `step` then undoes the unfinished step."""


class MinimizeTask:
    """x, the evaluation of sign * fun (sign -1 maximizes), and the step the loop asks for."""

    epoch = 0

    def __init__(self, fun: Callable, layout: Layout, sign: float, constraint: Constraint | None):
        self.fun, self.layout, self.sign, self.constraint = fun, layout, sign, constraint
        start = layout.x0 if constraint is None else constraint.project(layout.x0)
        self.x = start.clone().requires_grad_(True)
        self.nfev, self.steps, self.budget, self.cache = 0, 0, None, []
        self.optimizer: torch.optim.Optimizer | None = None
        self.searched = self.averages = False

    def start(self, optimizer: torch.optim.Optimizer, max_evals: int | None) -> None:
        """Take up the optimizer and evaluate the (projected) x0; fun must be finite there.

        An optimizer that averages (Schedule-Free, EMA: it has `eval()`) keeps one evaluation of max_evals back
        for the averaged point it returns.
        """
        self.optimizer = optimizer
        self.searched = isinstance(optimizer, LineSearchOptimizer)
        self.averages = callable(getattr(optimizer, "eval", None))
        self.f, self.g = self.evaluate_at(self.x.detach())
        if not math.isfinite(self.f):
            raise DescendError(f"fun(x0) is {self.sign * self.f}; start from a point where fun is finite")
        self.good = (self.x.detach().clone(), self.f, self.g)
        self.budget = None if max_evals is None else max_evals - int(self.averages)

    def out_of_evaluations(self) -> bool:
        return self.budget is not None and self.nfev >= self.budget

    def evaluate_at(self, point: torch.Tensor, fresh: bool = False) -> tuple[float, torch.Tensor]:
        """sign * fun and its gradient at `point` (`fresh`: called again even when cached), refusing a value that is
        not a scalar with a gradient path."""
        for cached, f, g in [] if fresh else self.cache:
            if torch.equal(cached, point):
                return f, g
        if self.out_of_evaluations():
            raise EvaluationsSpent
        leaf = point.detach().clone().requires_grad_(True)
        where = "at x0" if self.steps == 0 else f"at step {self.steps}"
        with torch.enable_grad():
            value = _called(self.fun, self.layout.unflatten(leaf), where)
            _check_value(value, where)
            (grad,) = torch.autograd.grad(self.sign * value.reshape(()), leaf, allow_unused=True)
        if grad is None:
            raise DescendError(_NO_PATH.format(where=where))
        self.nfev += 1
        f, g = self.sign * float(value.detach()), grad.detach()
        self.cache = [(leaf.detach(), f, g), *self.cache[:CACHED - 1]]
        return f, g

    def closure(self) -> torch.Tensor:
        """f at the current x with x.grad filled: the torch.optim closure contract."""
        f, g = self.evaluate_at(self.x.detach())
        self.x.grad = self._followable(g)
        return torch.tensor(f, dtype=self.x.dtype)

    def _followable(self, g: torch.Tensor) -> torch.Tensor:
        """What a fixed-step method sees of the gradient under a constraint: only the components x can follow on
        the face it sits on. An adaptive method (Adam) would otherwise rescale the components the projection
        cancels, and its step along the face would be lost (on a budget, both coordinates push at the same rate
        and the projection leaves x where it is, at any split)."""
        if self.constraint is None or self.searched:
            return g.clone()
        tangent = self.constraint.tangent(self.x.detach(), g)
        return g.clone() if tangent is None else tangent(g)

    def stationarity(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The gradient, or with a constraint the projected-gradient step x - P(x - g) (zero exactly at a KKT point)."""
        return g if self.constraint is None else x - self.constraint.project(x - g)

    def grad_max(self) -> float:
        """Largest (projected) gradient component at the current x: what gtol is compared with."""
        return float(self.stationarity(self.x.detach(), self.g).abs().max())

    def step(self) -> dict:
        """One optimizer step, projected for the fixed-step methods (the line searches project their own trial
        points); a step cut short by max_evals is undone and marked `out_of_evals`."""
        self.steps += 1
        before, f_before, g_before = self.x.detach().clone(), self.f, self.g
        try:
            self.optimizer.step(self.closure)
            if self.constraint is not None and not self.searched:
                with torch.no_grad():
                    self.x.copy_(self.constraint.project(self.x))
            self.f, self.g = self.evaluate_at(self.x.detach())
            spent = False
        except EvaluationsSpent:
            with torch.no_grad():
                self.x.copy_(before)
            self.f, self.g, spent = f_before, g_before, True
        return self._record(before, f_before, spent)

    def _record(self, before: torch.Tensor, f_before: float, spent: bool) -> dict:
        x = self.x.detach()
        pg = self.stationarity(x, self.g)
        record = {"loss": self.f, "fun": self.sign * self.f,
                  "grad_norm": float(torch.linalg.vector_norm(pg)), "grad_max": float(pg.abs().max()),
                  "f_change": self.f - f_before, "x_change": float((x - before).abs().max()), "nfev": self.nfev}
        if spent:
            record["out_of_evals"] = True
        elif self.searched and self.optimizer.failed:
            record["failed"] = self.optimizer.failed + self._noise_words()
        if math.isfinite(record["loss"]) and math.isfinite(record["grad_norm"]):
            self.good = (x.clone(), self.f, self.g)
        return record

    def _noise_words(self) -> str:
        """What to add when a line search failed and fun, asked again at the same x, gives another value: a search
        compares values, and noise larger than the decrease it looks for makes every trial look no lower, so the
        failure says nothing about x being a minimum. Empty when fun repeats itself or no evaluation is left."""
        if self.out_of_evaluations():
            return ""
        again = self.evaluate_at(self.x.detach(), fresh=True)[0]
        if again == self.f or not math.isfinite(again):
            return ""
        first, second = self.sign * self.f, self.sign * again
        relative = abs(again - self.f) / max(abs(self.f), abs(again))
        return (f"; fun is noisy: at this same x it gave {first:.6g} and then {second:.6g} (a relative difference of "
                f"{relative:.1e}), so the search cannot tell a lower value from noise and x need not be a minimum: "
                "draw fun's random numbers once, outside it (minimize then solves that sample's problem exactly; more "
                "draws bring it closer to the expectation), or use method='adam' with a small lr=, which averages the "
                "noise over many steps")

    def jump_words(self, gtol: float) -> str:
        """Words for a jump in fun beside x that keeps x from a minimum, read off the points evaluated last, or "".

        For a convex fun, smooth or not, f(p) - f(x) <= g(p).(p - x), and a smooth one obeys it nearly within a
        hair of x; a point that near where f is higher by far more than that lies across a discontinuity (ceil,
        round, a comparison switching pieces) or noise, which the gradient does not see. A line search then creeps
        up to the jump in ever smaller steps until f stops changing. x is still a minimum when the jump blocks the
        only components the gradient pushes (an integer step met from below, like a bound): "" then too."""
        x = self.x.detach()
        radius = JUMP_RADIUS * max(1.0, float(x.abs().max()))
        for point, f, g in self.cache:
            distance = float((point - x).abs().max())
            if 0 < distance <= radius and self._across(point, f, g):
                free = self._pushed_elsewhere(self._blocking(point))
                rest, where = float(free.abs().max()), self.layout.label(int(free.abs().argmax()))
                return "" if rest <= gtol else _jump_words(distance, abs(f - self.f), f"{rest:.2g}, at {where}")
        return ""

    def _across(self, point: torch.Tensor, f: float, g: torch.Tensor) -> bool:
        """Whether f at `point` is higher than at x by far more than a continuous fun could be (see jump_words)."""
        allowed = float(g.abs().sum()) * float((point - self.x.detach()).abs().max()) + 1e-10 * max(1.0, abs(self.f))
        return f - self.f > JUMP_FACTOR * allowed

    def _blocking(self, point: torch.Tensor) -> torch.Tensor | None:
        """Flat indices of components whose move alone, from x to `point`, crosses the jump: the moved ones halved
        while one half crosses (an evaluation per half tried), or None when a half's point lies outside the
        constraint, no evaluation is left, or neither half crosses alone."""
        x = self.x.detach()
        moved = (point != x).nonzero().reshape(-1)
        while len(moved) > 1:
            for half in (moved[:len(moved) // 2], moved[len(moved) // 2:]):
                mixed = x.clone()
                mixed[half] = point[half]
                outside = self.constraint is not None and not torch.equal(self.constraint.project(mixed), mixed)
                if outside or self.out_of_evaluations():
                    return None
                if self._across(mixed, *self.evaluate_at(mixed)):
                    moved = half
                    break
            else:
                return None
        return moved

    def _pushed_elsewhere(self, blocked: torch.Tensor | None) -> torch.Tensor:
        """The (projected) gradient with the components in `blocked` zeroed (none when it is None)."""
        free = self.stationarity(self.x.detach(), self.g).clone()
        if blocked is not None:
            free[blocked] = 0.0
        return free

    def final(self, finite: bool) -> tuple[torch.Tensor, float, torch.Tensor]:
        """The point to report with its f and g: the optimizer's averaged point when it keeps one (evaluated
        with the evaluation kept back for it), else the last point where f and g were finite."""
        if not (finite and self.averages):
            return self.good
        optim.eval_mode(self.optimizer)
        x = self.x.detach().clone()
        x = x if self.constraint is None else self.constraint.project(x)
        if torch.equal(x, self.good[0]):
            return self.good
        self.budget = None
        f, g = self.evaluate_at(x)
        return (x, f, g) if math.isfinite(f) and bool(torch.isfinite(g).all()) else self.good

    def evaluate(self) -> dict:
        return {}

    def snapshot(self) -> torch.Tensor:
        return self.x.detach().clone()

    def restore(self, snapshot: torch.Tensor) -> None:
        with torch.no_grad():
            self.x.copy_(snapshot)
        self.f, self.g = self.evaluate_at(self.x.detach())

    @property
    def non_finite_origin(self) -> NonFiniteOrigin:
        """Where the NaN/Inf of the last step came from: fun's value or its gradient."""
        if not math.isfinite(self.f):
            return NonFiniteOrigin("loss", f"fun returned {self.sign * self.f} (the last finite point is kept as x); "
                                           "lower lr or bound x")
        bad = (~torch.isfinite(self.g)).nonzero()
        if len(bad) == 0:   # every component finite, their norm past float's range
            return NonFiniteOrigin("overflow", f"the gradient's norm overflowed (its largest component is "
                                               f"{float(self.g.abs().max()):.3g}); lower lr or bound x")
        return NonFiniteOrigin("gradient", f"the gradient is not finite at flat index {int(bad[0])} of x; lower lr "
                                           "or bound x")


def _jump_words(distance: float, rise: float, rest: str) -> str:
    """Why x, beside a jump in fun, need not be a minimum, and what to change."""
    return (f"fun jumps beside x: at a point {distance:.2g} from it (in its largest component) fun is {rise:.3g} "
            f"further from the optimum, where a continuous fun would barely differ, while the gradient still pushes "
            f"other components (largest {rest}); fun is discontinuous there (ceil, round, floor, a comparison or "
            "torch.where switching pieces) or noisy, the gradient does not see the jump, and x need not be a minimum: "
            "make fun continuous (a smooth stand-in for the discrete part), or fix the discrete choice outside "
            "minimize and minimize the rest once for each choice")


_NO_PATH = ("fun's value has no gradient path to x {where} (it does not depend on x through torch operations, or "
            "was detached); write it with torch operations on x")


def _check_value(value, where: str) -> None:
    """Refuse what autograd cannot minimize: not a tensor, not one number, or not connected to x."""
    if not isinstance(value, torch.Tensor):
        raise DescendError(f"fun must return a scalar torch tensor computed from x, got {type(value).__name__} "
                           f"{where}; write it with torch operations (not .item(), numpy or math)")
    if value.numel() != 1:
        raise DescendError(f"fun must return a scalar, got a tensor of shape {tuple(value.shape)} {where}; "
                           "reduce it (e.g. .sum())")
    if not value.requires_grad:
        raise DescendError(_NO_PATH.format(where=where))


def _called(fun, x, where: str):
    """fun(x), with numpy's refusal to read a tensor autograd follows said as what to change in fun."""
    try:
        return fun(x)
    except RuntimeError as err:
        if "numpy()" not in str(err):
            raise
        raise DescendTypeError(f"fun {where} turned x into a numpy array (np.asarray, np.sum, .numpy()), where "
                               "autograd cannot follow it to a gradient: write fun with torch operations on the tensor "
                               "x it is given (torch.sum, torch.exp, x ** 2, x @ A)") from None
