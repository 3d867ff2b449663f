"""Full-batch optimizers that choose their own step length: L-BFGS and gradient descent, both optionally projected.

Both are `torch.optim.Optimizer`s over ONE flat parameter tensor and call `closure()` (which returns the loss
and fills `.grad`) at every trial point. They never keep a stale value: each step starts by asking the closure
for f and g at the current point, so a caching closure (as `minimize` uses) makes that free.

Constrained steps use the two-metric projection method (Bertsekas 1982), generalized from boxes to faces:
the constraint names the subspace of directions that keep x on its current face, leaving out the constraints
the gradient pulls x away from (`Constraint.tangent`); the gradient and the L-BFGS direction are projected onto
it, and the step is searched along the projection arc P(x + t d) with the Armijo test
f(P(x + t d)) <= f + c1 g.(P(x + t d) - x). Should that fail to lower f, the projected-gradient arc P(x - t g)
is searched instead, which always descends away from a stationary point, so the method only stops where
P(x - g) = x (the KKT conditions) or where no step lowers f in floating point.

A step is only taken when it moves x and lowers f; otherwise x stays put and `failed` says why in words, so a
caller never mistakes a stalled search for convergence.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch.optim.lbfgs import _strong_wolfe  # torch's strong-Wolfe search (cubic interpolation), reused as is

from ..core.checks import check_positive_int
from ..core.errors import DescendError
from ..optim.base import undecorated

Projection = Callable[[torch.Tensor], torch.Tensor]
C1 = 1e-4          # sufficient-decrease constant (Armijo), the usual value
MAX_TRIES = 40     # backtracking steps (each shrinks t to 0.1-0.5 of itself) before a search gives up


def _too_small(x: torch.Tensor) -> str:
    """Why no trial point differed from x; beyond 1/eps even unit steps vanish, a sign that fun is unbounded."""
    largest = float(x.abs().max())
    unbounded = largest * torch.finfo(x.dtype).eps > 1
    return (f"the trial steps became too small to change x in floating point (largest |x| {largest:.2g})"
            + ("; x grew so large that fun looks unbounded: bound x or add a constraint" if unbounded else ""))


def _no_lower_value(tried: str, why: str) -> str:
    return f"the line search could not find a lower value along {tried}: {why}"


def _first_step(g: torch.Tensor) -> float:
    """Length of the first trial step along -g before any curvature is known: at most a unit move of x."""
    return min(1.0, 1.0 / max(float(torch.linalg.vector_norm(g)), 1e-12))


class LineSearchOptimizer(torch.optim.Optimizer):
    """Shared plumbing: one flat parameter, evaluation at a point, and the Armijo search along a (projected) path.

    `failed` is None after a step that moved x, or a sentence saying why the last step could not lower f.
    """

    def __init__(self, params, defaults: dict, project: Projection | None, tangent):
        super().__init__(params, defaults)
        tensors = [p for group in self.param_groups for p in group["params"]]
        if len(tensors) != 1 or tensors[0].ndim != 1:
            raise DescendError(f"{type(self).__name__} works on exactly one flat (1-D) parameter tensor")
        self.x, self.project, self.tangent = tensors[0], project, tangent
        self.failed: str | None = None     # set when a step could not lower f; the caller decides what to do
        self._why = ""                     # why the last Armijo search gave up, in words

    def add_param_group(self, param_group: dict) -> None:
        """torch's add_param_group without the wrapper that imports torch._dynamo on first use (see
        optim.base.undecorated): with it, a first `minimize` of two variables took 2.7 s, with it gone 0.05 s."""
        undecorated(torch.optim.Optimizer.add_param_group)(self, param_group)

    def _evaluate(self, closure, point: torch.Tensor) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            self.x.copy_(point)
        with torch.enable_grad():
            f = float(closure())
        grad = self.x.grad
        return f, (torch.zeros_like(point) if grad is None else grad.detach().clone())

    def _path(self, x: torch.Tensor, d: torch.Tensor, t: float) -> torch.Tensor:
        point = x.add(d, alpha=t)
        return point if self.project is None else self.project(point)

    def _armijo(self, closure, x, f, g, d, t: float):
        """Backtrack along x(t) = P(x + t d) until f drops enough; None (with `_why` set) if it never does."""
        for _ in range(MAX_TRIES):
            trial = self._path(x, d, t)
            move = trial - x
            if not bool(move.any()):
                self._why = _too_small(x)
                return None
            slope = float(g @ move)
            if slope >= 0:
                self._why = "the search direction does not point downhill"
                return None
            f_t, g_t = self._evaluate(closure, trial)
            if math.isfinite(f_t) and f_t <= f + C1 * slope:
                return t, trial, f_t, g_t
            # minimizer of the quadratic through f, the slope and f_t, kept within [0.1 t, 0.5 t]
            guess = -slope * t / (2 * (f_t - f - slope)) if math.isfinite(f_t) else 0.1 * t
            t = min(max(guess, 0.1 * t), 0.5 * t)
        self._why = f"no trial point lowered f enough in {MAX_TRIES} backtracking steps"
        return None

    def _accept(self, trial: torch.Tensor, f_t: float, g_t: torch.Tensor) -> float:
        with torch.no_grad():
            self.x.copy_(trial)
        self.x.grad = g_t.clone()
        return f_t


class ArmijoGD(LineSearchOptimizer):
    """Gradient descent with a backtracking (Armijo) line search; the trial step doubles after each success."""

    def __init__(self, params, lr: float = 1.0, project: Projection | None = None):
        super().__init__(params, {"lr": lr}, project, None)

    @torch.no_grad()
    def step(self, closure):
        x = self.x.detach().clone()
        f, g = self._evaluate(closure, x)
        state = self.state[self.x]
        t = 2 * state["t"] if "t" in state else self.param_groups[0]["lr"] * _first_step(g)
        found = self._armijo(closure, x, f, g, -g, t)
        self.failed = None if found else _no_lower_value("the gradient", self._why)
        if found is None:
            return self._accept(x, f, g)
        state["t"] = found[0]
        return self._accept(*found[1:])


class LBFGS(LineSearchOptimizer):
    """Limited-memory BFGS (Nocedal 1980) with a strong-Wolfe line search, or two-metric projection when projected.

    `memory` is the number of (step, gradient change) pairs kept; `lr` scales the first trial step of each search.
    """

    def __init__(self, params, lr: float = 1.0, memory: int = 20, project: Projection | None = None,
                 tangent=None):
        check_positive_int(memory, "LBFGS memory")
        super().__init__(params, {"lr": lr, "memory": memory}, project, tangent)

    def _direction(self, g: torch.Tensor, pairs: list) -> torch.Tensor:
        """-H g by the two-loop recursion, H0 = (s.y / y.y) I from the newest pair."""
        q, alphas = g.clone(), []
        for s, y, rho in reversed(pairs):
            alpha = rho * float(s @ q)
            q.add_(y, alpha=-alpha)
            alphas.append(alpha)
        if pairs:
            s, y, _ = pairs[-1]
            q.mul_(float(s @ y) / float(y @ y))
        for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
            q.add_(s, alpha=alpha - rho * float(y @ q))
        return q.neg_()

    @torch.no_grad()
    def step(self, closure):
        group, state = self.param_groups[0], self.state[self.x]
        pairs = state.setdefault("pairs", [])
        x = self.x.detach().clone()
        f, g = self._evaluate(closure, x)
        reduce = None if self.tangent is None else self.tangent(x, g)
        free_g = g if reduce is None else reduce(g)
        d = self._direction(free_g, pairs)
        d = d if reduce is None else reduce(d)
        t = group["lr"] * (1.0 if pairs else self._restart_step(state, free_g, d))
        found, tried = self._search(closure, x, f, g, d, t), "the gradient"
        if found is None and pairs:        # the quasi-Newton direction failed: forget it, try the gradient
            pairs.clear()
            found = self._search(closure, x, f, g, -g, group["lr"] * _first_step(g))
            tried = "the L-BFGS direction or the gradient"
        self.failed = None if found else _no_lower_value(tried, self._why)
        if found is None:
            return self._accept(x, f, g)
        t_found, trial, f_t, g_t = found
        state["decrease"] = t_found * float(free_g @ d) if tried == "the gradient" else None   # None: d failed
        s, y = trial - x, g_t - g if reduce is None else reduce(g_t - g)   # the curvature along the face only
        sy, yy = float(s @ y), float(y @ y)
        if sy > 2.2e-16 * yy and yy > 0:   # keep only pairs with positive curvature, so H stays positive definite
            pairs.append((s, y, 1.0 / sy))
            del pairs[:-group["memory"]]
        return self._accept(trial, f_t, g_t)

    def _restart_step(self, state: dict, g: torch.Tensor, d: torch.Tensor) -> float:
        """First trial step along d = -g with no curvature kept: the unit move, or, after an accepted step and
        without a projection, the step that repeats that step's first-order decrease (Nocedal and Wright, eq. 3.60)
        where that is shorter. After a pair with s.y <= 0 is dropped the unit move can be far too long for x's
        scale; never exceeding it keeps x growing as before on an unbounded fun."""
        unit, decrease, slope = _first_step(g), state.get("decrease"), float(g @ d)
        if self.project is not None or decrease is None or not slope < 0:
            return unit
        return min(unit, decrease / slope)

    def _search(self, closure, x, f, g, d, t):
        """Strong Wolfe along d (projected: Armijo along the arc); its answer counts only if it moved x and met
        the sufficient-decrease test, since torch's search can end on its starting point (t = 0)."""
        if self.project is not None:
            return self._armijo(closure, x, f, g, d, t)
        gtd = float(g @ d)
        if not gtd < 0:
            self._why = "the search direction does not point downhill"
            return None

        def along(x0, step, direction):
            return self._evaluate(closure, x0.add(direction, alpha=step))

        f_t, g_t, t_found, _ = _strong_wolfe(along, x, t, d, f, g, gtd)
        t_found = float(t_found)
        trial = x.add(d, alpha=t_found)
        if (0 < t_found < math.inf and math.isfinite(f_t) and f_t <= f + C1 * t_found * gtd
                and bool((trial != x).any())):
            return t_found, trial, f_t, g_t
        return self._armijo(closure, x, f, g, d, t)
