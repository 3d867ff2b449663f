"""ds.minimize with bounds beside a budget or a linear equality (one Intersection), and with bounds or a ball
alone, on generated problems: steps (ours and scipy's), CPU seconds and the objective against scipy's SLSQP / L-BFGS-B.

    PYTHONPATH=src python benchmarks/bounds_and_budget.py

Lists (seeds 0-2, n = 4 and 12): log returns under a budget with loose bounds ("interior") and with bounds that
bind ("binding"); a quadratic under sum(x) = 1 with loose or binding bounds; the control lists the change must
not worsen: a quadratic under bounds alone (L-BFGS-B) and inside an L2 ball.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import minimize as scipy_minimize

import descend as ds


def _run(fun, x0, **kwargs):
    start = time.process_time()
    result = ds.minimize(fun, x0, max_steps=5000, **kwargs)
    return result, time.process_time() - start


def budget(n, seed, kind):
    rng = np.random.default_rng(seed)
    a, c = rng.uniform(0.5, 4, n), rng.uniform(0.5, 2, n)
    lo, hi = (1.0, 60.0) if kind == "interior" else (4.0, 12.0)
    at, ct, total = torch.tensor(a), torch.tensor(c), 8.0 * n
    ours, cpu = _run(lambda x: (at * torch.log1p(x / ct)).sum(), [8.0] * n, bounds=[(lo, hi)] * n,
                     constraint=ds.constraints.Simplex(total=total), maximize=True)
    theirs = scipy_minimize(lambda x: -(a * np.log1p(x / c)).sum(), [8.0] * n, bounds=[(lo, hi)] * n,
                            method="SLSQP", constraints=[{"type": "eq", "fun": lambda x: x.sum() - total}],
                            options={"ftol": 1e-12, "maxiter": 1000})
    return ours, cpu, -theirs.fun - ours.fun, theirs.nit


def quadratic(n, seed, kind, constraint):
    rng = np.random.default_rng(seed)
    rng.uniform(size=2 * n)
    q = rng.normal(size=(n, n))
    q = q @ q.T / n + 0.1 * np.eye(n)
    b = rng.normal(size=n) * 5
    qt, bt = torch.tensor(q), torch.tensor(b)
    bounds = [(0.0, 0.5)] * n if kind == "binding" else [(-5.0, 5.0)] * n
    kwargs, scipy_kwargs = {"bounds": bounds}, {"bounds": bounds, "method": "L-BFGS-B"}
    if constraint == "sum":
        kwargs["constraint"] = ds.constraints.Affine(np.ones((1, n)), [1.0])
        scipy_kwargs.update(method="SLSQP", constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}])
    elif constraint == "ball":
        kwargs = {"constraint": ds.constraints.L2Ball(1.0)}
        scipy_kwargs = {"method": "SLSQP", "constraints": [{"type": "ineq", "fun": lambda x: 1 - x @ x}]}
    ours, cpu = _run(lambda x: 0.5 * x @ qt @ x - bt @ x, [1.0 / n] * n, **kwargs)
    theirs = scipy_minimize(lambda x: 0.5 * x @ q @ x - b @ x, [1.0 / n] * n, jac=lambda x: q @ x - b,
                            options={"ftol": 1e-14, "maxiter": 1000} if "constraints" in scipy_kwargs
                            else {"ftol": 1e-15, "gtol": 1e-10}, **scipy_kwargs)
    return ours, cpu, ours.fun - theirs.fun, theirs.nit


def main() -> None:
    lists = {"budget, loose bounds": lambda n, s: budget(n, s, "interior"),
             "budget, binding bounds": lambda n, s: budget(n, s, "binding"),
             "sum = 1, loose bounds": lambda n, s: quadratic(n, s, "interior", "sum"),
             "sum = 1, binding bounds": lambda n, s: quadratic(n, s, "binding", "sum"),
             "bounds alone (control)": lambda n, s: quadratic(n, s, "binding", None),
             "L2 ball alone (control)": lambda n, s: quadratic(n, s, "interior", "ball")}
    print("| list | steps (6 problems) | scipy's steps | CPU s | failed | worst gap to scipy |\n"
          "|---|---|---|---|---|---|")
    for name, make in lists.items():
        runs = [make(n, seed) for seed in range(3) for n in (4, 12)]
        print(f"| {name} | {sum(r.nit for r, *_ in runs)} ({', '.join(str(r.nit) for r, *_ in runs)}) | "
              f"{sum(nit for *_, nit in runs)} | {sum(c for _, c, _, _ in runs):.2f} | "
              f"{sum(not r.success for r, *_ in runs)} | {max(g for _, _, g, _ in runs):.1e} |")


if __name__ == "__main__":
    main()
