"""ds.minimize with bounds beside two or three linear rows (one Intersection), on generated problems: steps (ours and
SLSQP's), failures, the gap to the closed-form answer or to SLSQP.

    PYTHONPATH=src python benchmarks/bounds_and_rows.py [--seeds 10] [--sizes 4 12 40]

Lists: a quadratic whose answer is built from the KKT conditions (a third of x* on its lower bound, a third on its
upper, multipliers chosen) under two equations; the same under an equation, a binding inequality and a slack one;
log returns under a budget with a group cap (two budgets) and bounds that bind; the same with a floor on a second group
as well (three rows).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.optimize import minimize as scipy_minimize

import descend as ds
Affine, LinearInequality, Simplex = ds.constraints.Affine, ds.constraints.LinearInequality, ds.constraints.Simplex


def kkt_quadratic(n: int, seed: int, inequalities: bool):
    """A quadratic 0.5 x'Qx - c'x with bounds [-1, 1] whose minimizer x* under the rows is known: c is solved from
    stationarity with chosen positive multipliers on the bounds x* touches and the rows that bind."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    q = q @ q.T / n + 0.1 * np.eye(n)
    x_star = rng.uniform(-0.8, 0.8, n)
    third = max(1, n // 3)
    x_star[:third], x_star[third:2 * third] = -1.0, 1.0
    a = rng.normal(size=(3 if inequalities else 2, n))
    b = a @ x_star
    mult = rng.uniform(0.5, 2.0, len(a))
    if inequalities:
        b[2] += 1.0                 # the third row is slack at x*: its multiplier is zero
        mult[2] = 0.0
    pull = np.zeros(n)
    pull[:third], pull[third:2 * third] = rng.uniform(0.5, 2, third), -rng.uniform(0.5, 2, third)
    c = q @ x_star + a.T @ mult - pull      # Q x* - c + A' mult - pull = 0, pull >= 0 at lo, <= 0 at hi
    if inequalities:
        constraint = ds.constraints.Intersection(Affine(a[:1], b[:1]), LinearInequality(a[1:], b[1:]))
        scipy_rows = [{"type": "eq", "fun": lambda x: a[0] @ x - b[0], "jac": lambda x: a[:1]},
                      {"type": "ineq", "fun": lambda x: b[1:] - a[1:] @ x, "jac": lambda x: -a[1:]}]
    else:
        constraint = Affine(a, b)
        scipy_rows = [{"type": "eq", "fun": lambda x: a @ x - b, "jac": lambda x: a}]
    f_star = 0.5 * x_star @ q @ x_star - c @ x_star
    qt, ct = torch.tensor(q), torch.tensor(c)
    ours = ds.minimize(lambda x: 0.5 * x @ qt @ x - ct @ x, np.zeros(n), bounds=(-1.0, 1.0), constraint=constraint,
                       max_steps=5000)
    theirs = scipy_minimize(lambda x: 0.5 * x @ q @ x - c @ x, np.zeros(n), jac=lambda x: q @ x - c,
                            bounds=[(-1.0, 1.0)] * n, constraints=scipy_rows, method="SLSQP",
                            options={"ftol": 1e-14, "maxiter": 1000})
    return ours, ours.fun - f_star, theirs.fun - f_star, theirs.nit, float(np.abs(ours.x - x_star).max())


def two_budgets(n: int, seed: int, rows: int):
    """Log returns sum a log(1 + x / c) under a budget sum x = 8n, a cap on the first half's spend, and with
    rows = 3 a floor on the last quarter's spend, with bounds [4, 12] that bind."""
    rng = np.random.default_rng(seed)
    a, c = rng.uniform(0.5, 4, n), rng.uniform(0.5, 2, n)
    total = 8.0 * n
    half, quarter = np.zeros(n), np.zeros(n)
    half[: n // 2], quarter[-max(1, n // 4):] = 1.0, 1.0
    ineq_a, ineq_b = [half], [0.4 * total]
    if rows == 3:
        ineq_a.append(-quarter)
        ineq_b.append(-0.35 * total)
    ineq_a, ineq_b = np.array(ineq_a), np.array(ineq_b)
    constraint = ds.constraints.Intersection(Simplex(total), LinearInequality(ineq_a, ineq_b))
    at, ctt = torch.tensor(a), torch.tensor(c)
    ours = ds.minimize(lambda x: (at * torch.log1p(x / ctt)).sum(), [8.0] * n, bounds=(4.0, 12.0),
                       constraint=constraint, maximize=True, max_steps=5000)
    theirs = scipy_minimize(lambda x: -(a * np.log1p(x / c)).sum(), np.full(n, 8.0), bounds=[(4.0, 12.0)] * n,
                            method="SLSQP", options={"ftol": 1e-14, "maxiter": 1000},
                            constraints=[{"type": "eq", "fun": lambda x: x.sum() - total},
                                         {"type": "ineq", "fun": lambda x: ineq_b - ineq_a @ x}])
    return ours, -theirs.fun - ours.fun, 0.0, theirs.nit, float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 12, 40])
    args = parser.parse_args()
    lists = {"quadratic, 2 equations (KKT answer)": lambda n, s: kkt_quadratic(n, s, False),
             "quadratic, equation + 2 inequalities (KKT answer)": lambda n, s: kkt_quadratic(n, s, True),
             "log returns, budget + group cap": lambda n, s: two_budgets(n, s, 2),
             "log returns, budget + cap + floor": lambda n, s: two_budgets(n, s, 3)}
    print("| list | steps (sum, longest) | failed | worst gap (ours) | worst gap (SLSQP) | worst x error | "
          "SLSQP's steps |\n|---|---|---|---|---|---|---|")
    for name, make in lists.items():
        runs = [make(n, seed) for seed in range(args.seeds) for n in args.sizes]
        steps = [r.nit for r, *_ in runs]
        print(f"| {name} | {sum(steps)} ({max(steps)}) | {sum(not r.success for r, *_ in runs)} | "
              f"{max(g for _, g, *_ in runs):.1e} | {max(g for _, _, g, _, _ in runs):.1e} | "
              f"{max(e for *_, e in runs):.1e} | {sum(nit for *_, nit, _ in runs)} |", flush=True)


if __name__ == "__main__":
    main()
