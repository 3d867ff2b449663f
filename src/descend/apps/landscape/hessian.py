"""Sharpness from Hessian-vector products, never the Hessian itself (PyHessian's approach).

`top_eigenvalues` runs Lanczos with full reorthogonalization until the top-k Ritz pairs' residuals are below
`tol` relative; `hessian_trace` averages v'Hv over Rademacher probes (Hutchinson). Both cost one double-backward
pass over the objective's sample per product.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from ...core.errors import DescendError
from ...fit.threads import using
from .objective import Objective
from .vectors import flatten, unflatten

Params = Mapping[str, torch.Tensor]
TRACE_PROBES = 100   # Rademacher probes: the standard error is sqrt(2 * sum_{i != j} H_ij^2 / probes)


def hvp_operator(objective: Objective, weights: Params) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """v -> H v at `weights` for flat vectors v, and the number of weights; the gradient graph is built once."""
    flat = flatten(weights).requires_grad_(True)
    count = getattr(objective, "threads", None)   # model_objective's thread count (see there)
    with using(count):
        (grad,) = torch.autograd.grad(objective(unflatten(flat, weights)), flat, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        with using(count):
            (hv,) = torch.autograd.grad(grad, flat, grad_outputs=v, retain_graph=True)
        return hv.detach()

    return hvp, flat.numel()


def top_eigenvalues(objective: Objective, weights: Params, k: int = 1, max_iterations: int = 200,
                    tol: float = 1e-6, seed: int = 0) -> torch.Tensor:
    """The k largest Hessian eigenvalues at `weights`, largest first (the top one is lambda_max, the sharpness
    that gradient descent with learning rate lr cannot exceed 2/lr of)."""
    hvp, n = hvp_operator(objective, weights)
    if not 1 <= k <= n:
        raise DescendError(f"k={k}: ask for between 1 and {n} (the number of weights) eigenvalues")
    sample = next(iter(weights.values()))
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn(n, generator=generator, dtype=sample.dtype).to(sample.device)
    basis = [start / start.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    blocks = 0   # invariant subspaces met so far
    for _ in range(min(n, max_iterations)):
        w = hvp(basis[-1])
        alphas.append(float(w @ basis[-1]))
        stack = torch.stack(basis)
        w = w - stack.T @ (stack @ w)          # full reorthogonalization, twice for stability
        w = w - stack.T @ (stack @ w)
        betas.append(float(w.norm()))
        values, residuals = _ritz(alphas, betas, k)
        if len(basis) == n:
            return values
        if betas[-1] <= 1e-12 * max(abs(a) for a in alphas):   # an invariant subspace: its Ritz values are exact
            blocks += 1
            if blocks >= k:   # each space holds one copy of each eigenvalue it meets: k of them cover k copies
                return values
            betas[-1] = 0.0                    # more copies may lie outside it: go on from a new direction
            basis.append(_orthogonal_direction(torch.stack(basis), generator))
            continue
        if len(alphas) >= k and bool((residuals <= tol * values.abs().clamp_min(tol)).all()):
            return values
        basis.append(w / betas[-1])
    return _ritz(alphas, betas, k)[0]


def _orthogonal_direction(basis: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random unit vector orthogonal to the rows of `basis` (Lanczos restarted after an invariant subspace)."""
    w = torch.randn(basis.shape[1], generator=generator, dtype=basis.dtype).to(basis.device)
    w = w - basis.T @ (basis @ w)
    w = w - basis.T @ (basis @ w)
    return w / w.norm()


def _ritz(alphas: list[float], betas: list[float], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-k Ritz values of the tridiagonal Lanczos matrix and their residual norms |beta_m * s_last|."""
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if len(alphas) > 1:
        off = torch.tensor(betas[:-1], dtype=torch.float64)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    values, vectors = torch.linalg.eigh(t)
    top = torch.argsort(values, descending=True)[:k]
    return values[top], (betas[-1] * vectors[-1, top]).abs()


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of tr(H), its standard error over the probes, and how many probes it used."""
    value: float
    stderr: float
    probes: int


def hessian_trace(objective: Objective, weights: Params, probes: int = TRACE_PROBES, seed: int = 0) -> TraceEstimate:
    """tr(H) at `weights` as the mean of v'Hv over `probes` Rademacher vectors v (entries +-1)."""
    if probes < 2:
        raise DescendError(f"probes={probes}: use at least 2 probes (the standard error needs two)")
    hvp, n = hvp_operator(objective, weights)
    sample = next(iter(weights.values()))
    generator = torch.Generator().manual_seed(seed)
    quads = []
    for _ in range(probes):
        v = (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(sample.dtype).to(sample.device)
        quads.append(float(v @ hvp(v)))
    draws = torch.tensor(quads, dtype=torch.float64)
    return TraceEstimate(float(draws.mean()), float(draws.std() / probes ** 0.5), probes)
