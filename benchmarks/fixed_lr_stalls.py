"""When does a fixed-lr minimize run stop at its step limit with x barely moved, and would a larger lr have helped?

Generated problems g(x / s) at scales s = 1, 10, 100 (x0 = s u0, the answer s u*), run by the fixed-step methods
(adam, momentum, nesterov, gd with an lr) at descend.optim's default lr, 1e-3, and at 10x to 10,000x it, for 300
steps. For each run that ends at the step limit: the largest change of x over its size (max|x0|, floor 1), and
whether a larger lr closes at least 90% of its gap to lbfgs's optimum ("larger lr helps"). Prints one row a run and
a table of the rule "relative move < T" (minimize's SMALL_MOVE is 0.1) against "larger lr helps", for a few T.
Run: PYTHONPATH=src python benchmarks/fixed_lr_stalls.py
"""
from __future__ import annotations

import numpy as np
import torch

import descend as ds

STEPS = 300


def problems(seed: int):
    """(name, fun of unit-scale x, u0, constraint builder taking s) for one seed."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(5, 5))
    q = torch.tensor(q @ q.T / 5 + 0.2 * np.eye(5))
    c = torch.tensor(rng.normal(size=5))
    a = torch.tensor(rng.normal(size=(60, 4)))
    y = (a @ torch.tensor(rng.normal(size=4)) + torch.tensor(rng.normal(size=60)) > 0).double()
    w = torch.tensor(rng.uniform(1, 4, size=4))
    yield "quadratic", lambda u: 0.5 * (u - c) @ q @ (u - c), np.zeros(5) + 0.5, None
    yield "quadratic_x0_0", lambda u: 0.5 * (u - c) @ q @ (u - c), np.zeros(5), None
    yield "rosenbrock", lambda u: (1 - u[0]) ** 2 + 10 * (u[1] - u[0] ** 2) ** 2, np.array([-1.0, 1.5]), None
    yield "logistic_x0_0", lambda u: torch.nn.functional.binary_cross_entropy_with_logits(a @ u, y), np.zeros(4), None
    yield "stiff_quadratic", lambda u: 0.5 * 900 * (u[0] - 1) ** 2 + 0.5 * (u[1] - 1) ** 2, np.zeros(2), None
    yield "stiff_warm_start", lambda u: 0.5 * 900 * (u[0] - 1) ** 2 + 0.5 * (u[1] - 1) ** 2, np.array([1.01, 0.9]), None
    yield "budget", lambda u: -(w * torch.log1p(u)).sum(), np.ones(4), lambda s: ds.constraints.Simplex(total=4 * s)


DEFAULT_LR = 1e-3   # descend.optim's default for adam and sgd (gd with an lr is sgd)
FACTORS = (1, 10, 100, 1000, 10_000)


def run(fun, x0, s, method, lr, constraint):
    return ds.minimize(lambda x: fun(x / s), x0 * s, method=method, lr=lr, max_steps=STEPS,
                       constraint=None if constraint is None else constraint(s))


def main() -> None:
    rows = []
    for seed in range(3):
        for name, fun, u0, constraint in problems(seed):
            for s in (1.0, 10.0, 100.0):
                best = run(fun, u0, s, "lbfgs", None, constraint).fun
                for method in ("adam", "momentum", "nesterov", "gd"):
                    results = {k: run(fun, u0, s, method, DEFAULT_LR * k, constraint) for k in FACTORS}
                    base = results[1]
                    if base.status != 1:
                        continue
                    moved = float(np.abs(np.asarray(base.x) - u0 * s).max()) / max(float(np.abs(u0 * s).max()), 1.0)
                    gap = base.fun - best
                    helps = any(np.isfinite(r.fun) and r.fun - best <= 0.1 * gap for r in list(results.values())[1:])
                    rows.append((seed, name, s, method, moved, gap, helps))
                    print(f"{seed} {name:15} s={s:5g} {method:9} moved {moved:9.2e} gap {gap:9.2e} "
                          f"larger lr helps {helps}", flush=True)
    print("\n| T (relative move) | fires | fires where a larger lr helps | fires where it does not | misses |")
    print("|---|---|---|---|---|")
    for t in (1e-3, 1e-2, 3e-2, 1e-1):
        fire = [r for r in rows if r[4] < t]
        hit = sum(r[6] for r in fire)
        miss = sum(r[6] for r in rows if r[4] >= t)
        print(f"| {t:g} | {len(fire)} of {len(rows)} | {hit} | {len(fire) - hit} | {miss} |")


if __name__ == "__main__":
    main()
