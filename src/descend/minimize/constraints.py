"""Feasible sets for `minimize`, each with a Euclidean projection: the constrained methods step, then project.

Every constraint checks its own numbers when built (lo > hi, a negative budget or radius raise DescendError at
once) and is bound to the part of x it governs by `minimize`, which checks sizes. `bounds=` is shorthand for Box.
"""
from __future__ import annotations

import copy
import numbers
from typing import Callable

import numpy as np
import torch

from ..core.errors import DescendError, DescendTypeError, warn_user


def _numbers(value, name: str) -> torch.Tensor:
    """A float64 tensor from a number, list, array or tensor; NaN, text and True/False are refused."""
    if not isinstance(value, torch.Tensor):
        _refuse_non_numbers(value, name)
    try:
        out = torch.as_tensor(np.asarray(value, dtype=np.float64) if not isinstance(value, torch.Tensor)
                              else value.detach(), dtype=torch.float64)
    except (TypeError, ValueError) as err:
        raise DescendTypeError(f"{name} must be numbers, got {value!r}") from err
    if torch.isnan(out).any():
        raise DescendError(f"{name} contains NaN; give numbers (use +-inf for no bound)")
    return out


def _is_number(value) -> bool:
    """A real number (numpy's and one-element tensors included), not text and not True/False."""
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and value.dtype != torch.bool and not value.dtype.is_complex
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _refuse_non_numbers(value, name: str) -> None:
    """Refuse text and True/False among numbers, naming the first one's index: numpy alone would read "2" as 2.0."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return                      # ragged: the float conversion refuses it
    if array.dtype.kind in "iuf":
        return
    items = np.asarray(value, dtype=object)
    for index in np.ndindex(items.shape):
        if not _is_number(items[index]):
            at = "" if not index else "[" + ", ".join(map(str, index)) + "]"
            raise DescendTypeError(f"{name}{at} is {items[index]!r}, not a number; give numbers")


def _nonnegative(value, name: str, cls: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise DescendError(f"{cls}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


class Constraint:
    """A closed convex set with a projection. Subclasses implement `_project` on a flat 1-D tensor."""

    size: int | None = None

    def bind(self, size: int, dtype: torch.dtype, where: str, device: torch.device | str = "cpu") -> "Constraint":
        """A copy ready to project flat vectors of `size` elements of `dtype` on `device`; raises if the sizes
        disagree, naming `where` (the part of x)."""
        bound = copy.copy(self)
        bound.size, bound.where, bound.like = size, where, {"dtype": dtype, "device": device}
        bound._bind(size)
        return bound

    def _bind(self, size: int) -> None:
        """Move stored numbers to x's dtype and device (`self.like`) and check them against `size`."""

    def _filled(self, value: float) -> torch.Tensor:
        """`value` in every element of a bound vector: x's size, dtype and device."""
        return torch.full((self.size,), value, **self.like)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest point of the set to the flat vector `x`."""
        return self._project(x)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def tangent(self, x: torch.Tensor, g: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The orthogonal projector onto the directions that keep x on the face it sits on, leaving out the
        constraints the gradient `g` pulls x away from; None when x may move freely (or the set has no such
        description). L-BFGS applies its curvature model inside this subspace (two-metric projection)."""
        return None

    def violation(self, x: torch.Tensor) -> float:
        """Distance from `x` to the set (0 when feasible)."""
        x = x.detach().reshape(-1)
        return float(torch.linalg.vector_norm(x - self.project(x)))


class Box(Constraint):
    """lo <= x <= hi elementwise; lo and hi are numbers or arrays of x's size, +-inf for no bound."""

    def __init__(self, lo=-np.inf, hi=np.inf):
        self.lo, self.hi = _numbers(lo, "Box lo").reshape(-1), _numbers(hi, "Box hi").reshape(-1)
        if self.lo.numel() in (1, self.hi.numel()) or self.hi.numel() == 1:
            lo_all, hi_all = torch.broadcast_tensors(self.lo, self.hi)
            i = _first_empty(lo_all, hi_all)
            if i is not None:
                at = f" at index {i}" if len(lo_all) > 1 else ""
                raise DescendError(f"Box: lo > hi{at} ({float(lo_all[i])} > {float(hi_all[i])}); the box is empty")

    pairs: int | None = None   # set by from_bounds for scipy's one (lo, hi) pair per element: never broadcast

    def _bind(self, size):
        if self.pairs is not None and self.pairs != size:
            raise DescendError(f"bounds has {self.pairs} (lo, hi) pair{'s' if self.pairs > 1 else ''} but "
                               f"{self.where} has {size} elements; give one pair per element, or one (lo, hi) "
                               "tuple (not in a list) for all of them")
        for name in ("lo", "hi"):
            value = getattr(self, name)
            if value.numel() not in (1, size):
                raise DescendError(f"Box {name} for {self.where} has {value.numel()} values but that part of x has "
                                   f"{size}; give one number or {size}")
            setattr(self, name, value.to(**self.like).expand(size).contiguous())
        self.face = _BoxAndRows(self.lo, self.hi, torch.zeros((0, size), **self.like), self.lo[:0],
                                self.lo[:0] > 0, [])

    def _project(self, x):
        return torch.clamp(x, self.lo, self.hi)

    def tangent(self, x, g):
        return self.face.tangent(x, g)


class NonNegative(Box):
    """x >= 0 elementwise."""

    def __init__(self):
        super().__init__(0.0, np.inf)


def _simplex(v: torch.Tensor, total: float) -> torch.Tensor:
    """Projection onto {x >= 0, sum x = total} by sorting (Held et al. 1974; Duchi et al. 2008); with total 0
    the set is the single point 0."""
    if total <= 0:
        return torch.zeros_like(v)
    u, _ = torch.sort(v, descending=True)
    excess = torch.cumsum(u, 0) - total
    ranks = torch.arange(1, len(v) + 1, dtype=v.dtype, device=v.device)
    rho = int((u - excess / ranks > 0).nonzero()[-1])
    theta = excess[rho] / (rho + 1)
    return torch.clamp(v - theta, min=0)


class Simplex(Constraint):
    """A budget: x >= 0 and sum(x) == total, or sum(x) <= total with `at_most=True`."""

    def __init__(self, total: float = 1.0, *, at_most: bool = False):
        self.total, self.at_most = _nonnegative(total, "total (the budget)", "Simplex"), bool(at_most)

    def _project(self, x):
        if self.at_most:
            clipped = torch.clamp(x, min=0)
            if float(clipped.sum()) <= self.total:
                return clipped
        return _simplex(x, self.total)

    def tangent(self, x, g):
        positive = x > 0
        if not bool(positive.any()):
            return lambda v: torch.zeros_like(v)
        price = g[positive].mean()          # the budget's multiplier, estimated on the funded coordinates
        on_budget = not self.at_most or (float(x.sum()) >= self.total * (1 - 1e-12) and float(price) < 0)
        held = (x <= 0) & (g > (price if on_budget else 0.0))

        def reduce(v):
            v = v.masked_fill(held, 0.0)
            return v - (v[~held].mean() * (~held)) if on_budget else v
        return reduce


class L2Ball(Constraint):
    """||x - center||_2 <= radius."""

    def __init__(self, radius: float, center=0.0):
        self.radius = _nonnegative(radius, "radius", "L2Ball")
        self.center = _numbers(center, "L2Ball center").reshape(-1)

    def _bind(self, size):
        if self.center.numel() not in (1, size):
            raise DescendError(f"L2Ball center for {self.where} has {self.center.numel()} values, x has {size}")
        self.center = self.center.to(**self.like).expand(size)

    def _project(self, x):
        offset = x - self.center
        norm = float(torch.linalg.vector_norm(offset))
        return x if norm <= self.radius else self.center + offset * (self.radius / norm)

    def tangent(self, x, g):
        normal = x - self.center
        norm = float(torch.linalg.vector_norm(normal))
        if norm < self.radius * (1 - 1e-12) or float(g @ normal) >= 0:
            return None
        unit = normal / norm
        return lambda v: v - (v @ unit) * unit


class L1Ball(Constraint):
    """||x||_1 <= radius (a sparsity-inducing set)."""

    def __init__(self, radius: float):
        self.radius = _nonnegative(radius, "radius", "L1Ball")

    def _project(self, x):
        if float(x.abs().sum()) <= self.radius:
            return x
        return torch.sign(x) * _simplex(x.abs(), self.radius)

    def tangent(self, x, g):
        if float(x.abs().sum()) < self.radius * (1 - 1e-12):
            return None
        nonzero = x != 0
        if not bool(nonzero.any()):
            return lambda v: torch.zeros_like(v)
        price = float(-(torch.sign(x[nonzero]) * g[nonzero]).mean())  # how fast f falls per unit of the radius
        if price <= 0:
            return None                    # the gradient pulls x inside the ball: it does not bind
        held = ~nonzero & (g.abs() <= price)
        signs = torch.where(nonzero, torch.sign(x), -torch.sign(g)).masked_fill(held, 0.0)

        def reduce(v):
            v = v.masked_fill(held, 0.0)
            return v - (v @ signs) / (signs @ signs) * signs
        return reduce


def _rows(A, b, cls: str, row: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A as a finite (rows, size of x) matrix and b as one finite value per row; a 1-D A is one row."""
    A, b = _numbers(A, f"{cls} A"), _numbers(b, f"{cls} b").reshape(-1)
    if A.ndim == 1:
        A = A.reshape(1, -1)
    if A.ndim != 2 or A.shape[0] != b.numel():
        raise DescendError(f"{cls}: A must be ({row}s, size of x) and b one value per {row}; got A "
                           f"{tuple(A.shape)} and b of {b.numel()}")
    if not torch.isfinite(A).all() or not torch.isfinite(b).all():
        raise DescendError(f"{cls}: A and b must be finite")
    return A, b


def _check_columns(constraint: Constraint, size: int) -> None:
    """Refuse an A whose columns do not match the part of x it constrains."""
    columns = constraint.A.shape[1]
    if columns != size:
        raise DescendError(f"{type(constraint).__name__} A for {constraint.where} has {columns} columns but that "
                           f"part of x has {size} values")


class Affine(Constraint):
    """Linear equalities A x = b (A has one row per equation); projection x - A^+ (A x - b)."""

    def __init__(self, A, b):
        self.A, self.b = _rows(A, b, "Affine", "equation")
        self.pinv = torch.linalg.pinv(self.A)
        residual = self.A @ (self.pinv @ self.b) - self.b
        if float(residual.abs().max()) > 1e-9 * max(1.0, float(self.b.abs().max())):
            raise DescendError("Affine: the equations A x = b have no solution (they contradict each other)")

    def _bind(self, size):
        _check_columns(self, size)
        self.A, self.b, self.pinv = (t.to(**self.like) for t in (self.A, self.b, self.pinv))

    def _project(self, x):
        return x - self.pinv @ (self.A @ x - self.b)

    def tangent(self, x, g):
        return lambda v: v - self.pinv @ (self.A @ v)


class LinearInequality(Constraint):
    """Linear inequalities A x <= b, one row of A per inequality (x0 + 2 x1 <= 1; a spend cap; x0 - x1 >= 0 as
    -x0 + x1 <= 0). One row projects in closed form; several as the Intersection of their half-spaces, which solves
    for their multipliers jointly and reaches the nearest point of the set. Equalities are Affine(A, b)."""

    def __init__(self, A, b):
        self.A, self.b = _rows(A, b, "LinearInequality", "inequality")
        if bool((self.A.abs().sum(1) == 0).any()):
            raise DescendError("LinearInequality: a row of A is all zeros; leave it out (0 <= b holds or never "
                               "does)")

    def _bind(self, size):
        _check_columns(self, size)
        self.A, self.b = self.A.to(**self.like), self.b.to(**self.like)
        self.joint = None if len(self.b) == 1 else Intersection(
            *(LinearInequality(a, c) for a, c in zip(self.A, self.b))).bind(size, self.like["dtype"], self.where,
                                                                         self.like["device"])

    def _project(self, x):
        if self.joint is not None:
            return self.joint.project(x)
        a, excess = self.A[0], float(self.A[0] @ x - self.b[0])
        return x if excess <= 0 else x - (excess / float(a @ a)) * a

    def tangent(self, x, g):
        scale = 1.0 + self.b.abs()
        held = (self.A @ x >= self.b - 1e-10 * scale) & (self.A @ g < 0)   # on the face, and -g points out of it
        if not bool(held.any()):
            return None
        rows = self.A[held]
        pinv = torch.linalg.pinv(rows)
        return lambda v: v - pinv @ (rows @ v)


def _row_multiplier(y: torch.Tensor, a: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, b: float) -> float:
    """The mu with a.clamp(y - mu a, lo, hi) = b. That sum falls piecewise linearly in mu, bending where a
    coordinate meets a bound; the root is found between two bends by bisection and then read off the straight piece
    exactly, so the row is met to rounding (alternating projections stop at a tolerance). Where b lies beyond what
    the box allows, the mu of the nearest end is returned and the row stays violated."""
    def total(mu: float) -> float:
        return float(a @ torch.clamp(y - mu * a, lo, hi))

    moving = a != 0
    bends = torch.cat([((y - lo) / a)[moving], ((y - hi) / a)[moving]])
    bends = torch.unique(bends[torch.isfinite(bends)]).tolist() or [0.0]
    if total(bends[0]) < b or total(bends[-1]) > b:   # beyond the bends: one straight piece, its slope read there
        below = total(bends[0]) < b                    # b needs a smaller mu than every bend
        end = bends[0] if below else bends[-1]
        side = end + (-1.0 if below else 1.0) * max(1.0, abs(end))
        inside = (y - side * a > lo) & (y - side * a < hi)
        slope = float((a * a)[inside].sum())
        return end if slope == 0 else end + (total(end) - b) / slope
    left, right = 0, len(bends) - 1                   # total(bends[left]) >= b >= total(bends[right])
    while right - left > 1:
        middle = (left + right) // 2
        left, right = (middle, right) if total(bends[middle]) >= b else (left, middle)
    high, low = total(bends[left]), total(bends[right])
    return bends[left] if high == low else bends[left] + (high - b) * (bends[right] - bends[left]) / (high - low)


def _row_multipliers(y: torch.Tensor, A: torch.Tensor, b: torch.Tensor, equality: torch.Tensor, lo: torch.Tensor,
                     hi: torch.Tensor) -> torch.Tensor:
    """The multipliers l (l >= 0 on the inequality rows) with x = clamp(y - A'l, lo, hi) the nearest point to y
    meeting the rows A x = b (A x <= b where `equality` is False) inside the box. They maximize the concave,
    piecewise quadratic dual whose gradient is A x - b: a semismooth Newton step on the rows still working (its
    generalized Hessian A D A' counts the free coordinates only; the gradient's part that the Hessian cannot see is
    added, so the step always climbs), then an exact line search, which is the one-row multiplier problem along the
    step (`_row_multiplier`). On the right piece the step lands on the root, so the rows are met to rounding; an
    inequality's multiplier that would go negative stops at zero and leaves the working rows. One row is that line
    search alone."""
    if len(b) <= 1:
        mu = [_row_multiplier(y, a, lo, hi, value) for a, value in zip(A, b.tolist())]
        return torch.tensor([m if equal else max(m, 0.0) for m, equal in zip(mu, equality.tolist())], **_like(b))
    l = torch.zeros_like(b)
    for _ in range(20 + 4 * len(y)):
        z = y - A.T @ l
        x = torch.clamp(z, lo, hi)
        r = A @ x - b
        working = equality | (l > 0) | (r > 0)
        terms = torch.maximum(x.abs(), y.abs() + A.T.abs() @ l.abs())     # what x = y - A'l was summed from
        if not bool((r[working].abs() > _row_tolerance(A, b, terms)[working]).any()):
            break
        step = _step(A, r, l, working, equality, (z > lo) & (z < hi))
        t = _row_multiplier(z, A.T @ step, lo, hi, float(step @ b))
        shrinking = ~equality & (step < 0)
        limit = float((-l[shrinking] / step[shrinking]).min()) if bool(shrinking.any()) else np.inf
        t = min(max(t, 0.0), limit)
        if t == 0.0:
            break
        l = l + t * step
        l[~equality] = torch.clamp(l[~equality], min=0.0)
    return l


def _like(t: torch.Tensor) -> dict:
    return {"dtype": t.dtype, "device": t.device}


def _row_tolerance(A: torch.Tensor, b: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
    """Per row, the residual rounding alone leaves in A x - b: a few ulps of the row's terms, x's own counted at the
    size of what x was summed from (`terms`); x's size alone is too small a scale where y - A'l cancels to a small
    x, as at the tangent cone near a minimum, where the multipliers then went on for their whole iteration cap."""
    return 16 * torch.finfo(terms.dtype).eps * (b.abs() + A.abs() @ terms + torch.finfo(terms.dtype).tiny)


def _step(A: torch.Tensor, r: torch.Tensor, l: torch.Tensor, working: torch.Tensor, equality: torch.Tensor,
          free: torch.Tensor) -> torch.Tensor:
    """The dual ascent direction: Newton's (`_climb`) on the working rows, leaving out an inequality whose
    multiplier is zero and that Newton would push below zero (it does not bind on this piece); the gradient itself,
    kept at l >= 0, when no row is left."""
    step = torch.zeros_like(l)
    while bool(working.any()):
        step = torch.zeros_like(l)
        step[working] = _climb(A[working] * free, A[working], r[working])
        blocked = working & ~equality & (l <= 0) & (step < 0)
        if not bool(blocked.any()):
            return step
        working = working & ~blocked
    return torch.where(equality | (l > 0), r, torch.clamp(r, min=0.0))


def _climb(free_rows: torch.Tensor, rows: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The Newton step H^+ r on the dual (H = rows D rows', D the free coordinates); where r has a part outside H's
    range, that part alone: along it no free coordinate moves and the dual rises linearly until a bound frees one,
    which the line search then finds (mixing the two zig-zags)."""
    hessian = free_rows @ rows.T
    newton = torch.linalg.pinv(hessian, hermitian=True) @ r
    unseen = r - hessian @ newton
    return unseen if _norm(unseen) > 1e-8 * _norm(r) else newton


class _BoxAndRows:
    """Bounds lo <= x <= hi with a few linear rows A x = b, or A x <= b where `equality` is False: what bounds beside
    a budget, equations or inequalities come to. Its projection is exact (the rows' multipliers, `_row_multipliers`),
    and its face is read from the tangent cone, so a bound holds a coordinate only where the gradient net of the
    rows' multipliers pushes it out: a coordinate at its lower bound whose gradient a budget's price outweighs is
    held, though its own gradient alone would free it."""

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor, A: torch.Tensor, b: torch.Tensor, equality: torch.Tensor,
                 names: list[str]):
        self.lo, self.hi, self.A, self.b, self.equality, self.names = lo, hi, A, b, equality, names
        self.equations_only = bool(equality.all())

    @classmethod
    def of(cls, sets: list[Constraint]) -> "_BoxAndRows | None":
        """The description of `sets` when they are boxes, budgets and linear rows (nested Intersections of them
        included), else None."""
        lo, hi = sets[0]._filled(-np.inf), sets[0]._filled(np.inf)
        rows, b, equality, names = [], [], [], []
        for one in _flattened(sets):
            bounds = _bounds_of(one)
            if bounds is None:
                return None
            lo, hi = torch.maximum(lo, bounds[0]), torch.minimum(hi, bounds[1])
            for row, value, equal, name in _rows_of(one):
                rows, names = rows + [row], names + [name]
                b, equality = b + [value], equality + [equal]
        like = sets[0].like
        A = torch.stack(rows) if rows else torch.zeros((0, len(lo)), **like)
        return cls(lo, hi, A, torch.tensor(b, **like), torch.tensor(equality, dtype=torch.bool, device=lo.device),
                   names)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        if not len(self.b):
            return torch.clamp(y, self.lo, self.hi)
        l = _row_multipliers(y, self.A, self.b, self.equality, self.lo, self.hi)
        return torch.clamp(y - self.A.T @ l, self.lo, self.hi)

    def missed(self, x: torch.Tensor) -> list[tuple[str, float]]:
        """The rows x misses beyond rounding, each with by how much."""
        r = self.A @ x - self.b
        r = torch.where(self.equality, r.abs(), torch.clamp(r, min=0.0))
        over = r > 1e-9 * (1.0 + self.b.abs() + self.A.abs() @ x.abs())
        return [(self.names[i], float(r[i])) for i in over.nonzero().reshape(-1).tolist()]

    def tangent(self, x: torch.Tensor, g: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The face's projector: the descent direction -g projected onto the tangent cone at x keeps the bound
        coordinates it pushes outward at zero; those are held, and a row binds if its multiplier is not zero."""
        at_lo, at_hi = x <= self.lo, x >= self.hi
        zero = torch.zeros_like(x)
        cone_lo, cone_hi = torch.where(at_lo, zero, -np.inf), torch.where(at_hi, zero, np.inf)
        A, equality = (self.A, self.equality) if self.equations_only else self._on(x)
        l = _row_multipliers(-g, A, torch.zeros_like(A[:, 0]), equality, cone_lo, cone_hi)
        pushed = -g - A.T @ l
        held = (at_lo & (pushed < 0)) | (at_hi & (pushed > 0)) | (at_lo & at_hi)
        binding = A[equality | (l > 0)].masked_fill(held, 0.0)
        if not len(binding):
            return (lambda v: v.masked_fill(held, 0.0)) if bool(held.any()) else None
        across = _orthonormal(binding)

        def reduce(v):
            v = v.masked_fill(held, 0.0)
            return v - across.T @ (across @ v)
        return reduce

    def _on(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows x sits on (every equation, the inequalities met to rounding) and which are equations."""
        on = self.equality | (self.A @ x >= self.b - 1e-12 * (self.b.abs() + self.A.abs() @ x.abs()))
        return self.A[on], self.equality[on]


def _orthonormal(rows: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the rows' span by Gram-Schmidt, orthogonalized twice, leaving out a row the others
    already span (a zero row, a repeated budget): for the few rows that bind, cheaper than an SVD."""
    basis = []
    for row in rows:
        size = _norm(row)
        for _ in range(2):
            for unit in basis:
                row = row - (unit @ row) * unit
        if _norm(row) > 1e-10 * size:
            basis.append(row / _norm(row))
    return torch.stack(basis) if basis else rows[:0]


def _flattened(sets) -> list[Constraint]:
    """The sets with every nested Intersection replaced by its own sets."""
    return [inner for one in sets for inner in (_flattened(one.sets) if isinstance(one, Intersection) else [one])]


def _bounds_of(one: Constraint) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The bounds a Box, Simplex, Affine or LinearInequality puts on each coordinate (+-inf where none); None for
    any other set."""
    if isinstance(one, Box):
        return one.lo, one.hi
    if isinstance(one, Simplex):
        return torch.zeros_like(one._filled(0.0)), one._filled(np.inf)
    if isinstance(one, (Affine, LinearInequality)):
        return one._filled(-np.inf), one._filled(np.inf)
    return None


def _rows_of(one: Constraint) -> list[tuple[torch.Tensor, float, bool, str]]:
    """The linear rows of a Simplex, Affine or LinearInequality, each as (a, b, is an equation, its name)."""
    kind = type(one).__name__
    if isinstance(one, Simplex):
        return [(one._filled(1.0), one.total, not one.at_most, f"Simplex (sum(x) {'<=' if one.at_most else '=='} "
                 f"{one.total:g})")]
    if isinstance(one, (Affine, LinearInequality)):
        sign = "==" if isinstance(one, Affine) else "<="
        return [(one.A[i], float(one.b[i]), isinstance(one, Affine), f"{kind} row {i} (A[{i}] @ x {sign} "
                 f"{float(one.b[i]):g})") for i in range(len(one.b))]
    return []


class Intersection(Constraint):
    """Points in every one of several sets (bounds and a budget, say), projected by Dykstra's alternating
    projections (Boyle & Dykstra 1986), which converge to the nearest point of the intersection, not merely to some
    point of it; the last set is met exactly, the others to `tol`. Boxes beside budgets, equations and linear
    inequalities are projected exactly instead (their rows' multipliers solved jointly), and their face read
    jointly."""

    exact: "_BoxAndRows | None" = None

    def __init__(self, *sets: Constraint, tol: float = 1e-10, max_rounds: int = 10_000):
        if len(sets) < 2 or not all(isinstance(c, Constraint) for c in sets):
            raise DescendTypeError(f"Intersection takes two or more descend.constraints sets, got {sets!r}")
        self.sets, self.tol, self.max_rounds = sets, tol, max_rounds

    def _bind(self, size):
        self.sets = [c.bind(size, self.like["dtype"], self.where, self.like["device"]) for c in self.sets]
        self.exact = _BoxAndRows.of(self.sets)
        point = self._project(torch.zeros(size, **self.like))
        worst = max(self.sets, key=lambda c: c.violation(point))
        if worst.violation(point) > 1e-6 * (1.0 + float(torch.linalg.vector_norm(point))):
            raise DescendError(f"the sets constraining {self.where} ({', '.join(type(c).__name__ for c in self.sets)}) "
                               f"have no point in common: the nearest try lies {worst.violation(point):.3g} outside "
                               f"its {type(worst).__name__}{self._missed_rows(point)}; loosen the bounds or the "
                               "constraint")

    def _missed_rows(self, point: torch.Tensor) -> str:
        """Where the sets give several rows, the ones the nearest try misses, named with by how much, for the
        refusal: which equation or inequality to loosen."""
        if self.exact is None or len(self.exact.b) < 2:
            return ""
        return " (it misses " + "; ".join(f"{name} by {gap:.3g}" for name, gap in self.exact.missed(point)) + ")"

    def _project(self, x):
        if self.exact is not None:
            return self.exact.project(x)
        corrections = [torch.zeros_like(x) for _ in self.sets]
        for _ in range(self.max_rounds):
            moved = 0.0   # the point may rest for a round while the corrections still move: both must settle
            for i, constraint in enumerate(self.sets):
                shifted = x + corrections[i]
                projected = constraint.project(shifted)
                moved += float(torch.linalg.vector_norm(projected - x)) + float(
                    torch.linalg.vector_norm(shifted - projected - corrections[i]))
                x, corrections[i] = projected, shifted - projected
            if moved <= self.tol * (1.0 + float(torch.linalg.vector_norm(x))):
                break
        return x

    def tangent(self, x, g):
        """The directions every set's face allows: each set's projector is onto a subspace, and cycling through
        them converges to the projector onto their intersection (von Neumann; Halperin 1962). Without it, bounds
        beside a budget left L-BFGS to learn the face from projected steps: hundreds of steps where the budget
        alone took ten. Each set judges its faces by the gradient alone, not against the others' multipliers (a
        bound at its lower end may free a coordinate the budget would push below it), so the subspace is kept only
        when it holds the projected-gradient step and the sets allow a small step along its own descent
        direction; otherwise None leaves the step to the projection, as before."""
        if self.exact is not None:
            return self.exact.tangent(x, g)
        reducers = [reduce for reduce in (c.tangent(x, g) for c in self.sets) if reduce is not None]
        if not reducers:
            return None

        def reduce(v):
            for _ in range(self.max_rounds):
                before = v
                for one in reducers:
                    v = one(v)
                if _norm(v - before) <= self.tol * (1.0 + _norm(v)):
                    break
            return v
        step = self.project(x - g) - x   # where the sets together let the gradient go
        if _norm(step) == 0.0 or _norm(reduce(step) - step) > 1e-3 * _norm(step):
            return None
        along = reduce(-g)
        small = 1e-6 * (1.0 + _norm(x)) / max(_norm(along), 1e-300) * along
        return reduce if _norm(self.project(x + small) - x - small) <= 1e-3 * _norm(small) else None


def _norm(v: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(v))


class Parts(Constraint):
    """Constraints on disjoint named slices of one flat vector, projected part by part."""

    def __init__(self, pieces: list[tuple[slice, Constraint]]):
        self.pieces = pieces

    def _project(self, x):
        out = x.clone()
        for where, constraint in self.pieces:
            out[where] = constraint.project(x[where])
        return out

    def tangent(self, x, g):
        reducers = [(where, c.tangent(x[where], g[where])) for where, c in self.pieces]
        reducers = [(where, r) for where, r in reducers if r is not None]
        if not reducers:
            return None

        def reduce(v):
            out = v.clone()
            for where, r in reducers:
                out[where] = r(v[where])
            return out
        return reduce


def from_bounds(bounds) -> Box:
    """A Box from scipy-style bounds: (lo, hi) for all of x, one (lo, hi) pair per element (a list, or an array of
    shape (n, 2) as scipy users pass), or a scipy.optimize.Bounds; None (or +-inf) means no bound."""
    if isinstance(bounds, Box):
        return bounds
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):          # scipy.optimize.Bounds, without importing scipy
        return _sides_box(bounds.lb, bounds.ub, "bounds.lb", "bounds.ub")
    if isinstance(bounds, (np.ndarray, torch.Tensor)):
        _refuse_rows_of_lows_and_highs(bounds.tolist())
        if tuple(bounds.shape) != (2,) and (bounds.ndim != 2 or bounds.shape[1] != 2):
            raise DescendError(f"bounds as an array must have shape (2,) for (lo, hi) or (n, 2) for one pair per "
                               f"element, got shape {tuple(bounds.shape)}")
        bounds = bounds.tolist()
    pairs = list(bounds) if isinstance(bounds, (list, tuple)) else None
    if pairs is None or not pairs:
        raise DescendError(f"bounds must be (lo, hi) or a list of (lo, hi) pairs, got {bounds!r}")
    _refuse_rows_of_lows_and_highs(pairs)
    if len(pairs) == 2 and not any(isinstance(p, (list, tuple)) for p in pairs):
        lo, hi = pairs
        _refuse_text_in_pair(pairs, "bounds")
        return _sides_box(lo, hi, "bounds lo", "bounds hi")
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise DescendError("bounds: give (lo, hi) for all of x, or one (lo, hi) pair per element of x")
    for i, pair in enumerate(pairs):
        _refuse_text_in_pair(pair, f"bounds[{i}]")
    lo = _numbers([-np.inf if p[0] is None else p[0] for p in pairs], "bounds lo")
    hi = _numbers([np.inf if p[1] is None else p[1] for p in pairs], "bounds hi")
    empty = _first_empty(lo, hi)
    if empty is not None:
        written = tuple(_plain(v) for v in pairs[empty])
        raise DescendError(f"bounds[{empty}] = {written!r} has lo > hi, so no x fits it; write "
                           f"{written[::-1]!r}{_rows_hint(pairs)}")
    _warn_if_all_fixed(lo, hi, pairs)
    box = Box(lo, hi)
    box.pairs = len(pairs)
    return box


def _warn_if_all_fixed(lo, hi, pairs: list) -> None:
    """Warn when the pairs pin every element (lo == hi in each): minimize then has nothing to move and returns the
    projected x0 as converged. With two elements that is what [lows, highs] written as pairs gives when the lows
    match each other and the highs too ([[0, 0], [1, 1]]), so the pairs meant are shown."""
    if bool(np.all(np.asarray(lo) == np.asarray(hi))):
        warn_user(f"bounds {[list(map(_plain, p)) for p in pairs]!r} fix every element of x (lo == hi in each "
                  f"pair), so minimize has nothing to move{_rows_hint(pairs)}")


def _refuse_text_in_pair(pair, label: str) -> None:
    """Refuse a (lo, hi) pair with a side that is neither a number nor None (arrays of sides are checked as built)."""
    wrong = [f"{side} {value!r}" for side, value in zip(("lo", "hi"), pair)
             if value is not None and not isinstance(value, (np.ndarray, torch.Tensor)) and not _is_number(value)]
    if wrong:
        verb = "is not a number" if len(wrong) == 1 else "are not numbers"
        raise DescendTypeError(f"{label} = {tuple(pair)!r}: {' and '.join(wrong)} {verb}; give numbers, or "
                               "None (or +-inf) for no bound on that side")


def _sides_box(lo, hi, lo_name: str, hi_name: str) -> Box:
    """A Box from bounds= given as one low side and one high side (numbers, or one per element), refusing a low
    above its high with the index and the values."""
    low = _numbers(_none_as(lo, -np.inf), lo_name).reshape(-1)
    high = _numbers(_none_as(hi, np.inf), hi_name).reshape(-1)
    if low.numel() in (1, high.numel()) or high.numel() == 1:
        low_all, high_all = torch.broadcast_tensors(low, high)
        empty = _first_empty(low_all, high_all)
        if empty is not None and low_all.numel() == 1:
            raise DescendError(f"bounds = ({_plain(lo)!r}, {_plain(hi)!r}) has lo > hi, so no x fits; write "
                               f"({_plain(hi)!r}, {_plain(lo)!r})")
        if empty is not None:
            raise DescendError(f"{lo_name}[{empty}] = {float(low_all[empty]):g} is above {hi_name}[{empty}] = "
                               f"{float(high_all[empty]):g}, so no x fits; swap them")
    return Box(low, high)


def _none_as(side, missing: float):
    """One side of bounds= with None (for all of x, or among its numbers, as in scipy's Bounds([0, None], ...)) read
    as `missing`: no bound there, as None means in a (lo, hi) pair."""
    if side is None:
        return missing
    if isinstance(side, torch.Tensor) or np.asarray(side).dtype.kind != "O":
        return side
    items = np.asarray(side, dtype=object)
    return np.array([missing if v is None else v for v in items.reshape(-1)], dtype=object).reshape(items.shape)


def _first_empty(lo: torch.Tensor, hi: torch.Tensor) -> int | None:
    """The first index whose low bound lies above its high one, or None."""
    bad = (lo > hi).nonzero()
    return int(bad[0][0]) if len(bad) else None


def _rows_hint(pairs: list) -> str:
    """With two pairs of two, the [lows, highs] reading the user may have meant, when that reading fits."""
    if len(pairs) != 2 or any(v is None for pair in pairs for v in pair):
        return ""
    rows = [tuple(_plain(v) for v in pair) for pair in zip(*pairs)]
    if any(float(low) > float(high) for low, high in rows):
        return ""
    return (f"; if {[list(map(_plain, p)) for p in pairs]!r} meant [lows, highs] (scipy's Bounds(lb, ub) layout), "
            f"write the pairs {rows!r}")


def _refuse_rows_of_lows_and_highs(rows) -> None:
    """Refuse bounds written as [all lows, all highs] (the layout of scipy's Bounds(lb, ub)), showing the user's
    numbers as the one (lo, hi) pair per element that minimize, like scipy.optimize.minimize, reads. It is not
    accepted: with two elements the same list is two pairs, so code written that way would change meaning at n = 2."""
    if not (isinstance(rows, (list, tuple)) and len(rows) == 2
            and all(isinstance(row, (list, tuple)) and len(row) != 2 for row in rows) and len(rows[0]) == len(rows[1])
            and all(np.ndim(v) == 0 for row in rows for v in row)):
        return
    pairs = list(zip(*([_plain(v) for v in row] for row in rows)))
    shown = ", ".join(f"({lo!r}, {hi!r})" for lo, hi in pairs[:4]) + (", ..." if len(pairs) > 4 else "")
    same = f", or bounds={pairs[0]!r} since every pair is the same" if pairs.count(pairs[0]) == len(pairs) else ""
    raise DescendError(f"bounds looks like [lows, highs] (the layout of scipy's Bounds(lb, ub)): two rows of "
                       f"{len(pairs)}; minimize, like scipy.optimize.minimize, wants one (lo, hi) pair per element: "
                       f"bounds=[{shown}] (list(zip(lows, highs))){same}, or bounds=scipy.optimize.Bounds(lows, highs)")


def _plain(value):
    """A number as Python writes it (numpy's and torch's scalars as their plain value), for messages."""
    one = isinstance(value, np.generic) or isinstance(value, torch.Tensor) and value.numel() == 1
    return value.item() if one else value
