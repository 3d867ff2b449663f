"""descend.minimize(method="lbfgs") against scipy.optimize.minimize(method="L-BFGS-B") on the same problems.

Both get exact gradients from torch autograd and stop at gtol=1e-6 (largest gradient component), with the
relative-f test effectively off, so the count of function evaluations (nfev) to that accuracy is comparable.
Prints nfev, iterations, wall time (best of --repeats interleaved runs) and the descend/scipy ratios side by
side. Torch runs on one thread and scipy's BLAS on one.  Run:
    PYTHONPATH=src python benchmarks/minimize_vs_scipy.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import time

import torch
from minimize_problems import problems, scipy_lbfgsb

import descend

GTOL = 1e-6


def run_scipy(fun, x0):
    return scipy_lbfgsb(fun, x0, gtol=GTOL)


def run_descend(fun, x0):
    return descend.minimize(fun, x0, method="lbfgs", gtol=GTOL, max_steps=20_000)


def side_by_side(fun, x0, repeats: int) -> list[tuple[object, float]]:
    """(result, best wall time) for descend and for scipy, their runs interleaved so that load from other jobs on
    a shared machine falls on both alike, after one untimed warm-up run each."""
    runners = (run_descend, run_scipy)
    results = [runner(fun, x0) for runner in runners]
    times = [[], []]
    for _ in range(repeats):
        for runner, seconds in zip(runners, times):
            start = time.perf_counter()
            runner(fun, x0)
            seconds.append(time.perf_counter() - start)
    return [(result, min(seconds)) for result, seconds in zip(results, times)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = (f"{'problem':24} {'nfev d':>7} {'nfev s':>7} {'ratio':>6} {'nit d':>6} {'nit s':>6} "
              f"{'time d':>9} {'time s':>9} {'ratio':>6} {'f d - f s':>10}  ok d/s")
    print(header)
    print("-" * len(header))
    for name, fun, x0, _ in problems():
        (ours, t_ours), (ref, t_ref) = side_by_side(fun, x0, args.repeats)
        print(f"{name:24} {ours.nfev:7d} {ref.nfev:7d} {ours.nfev / ref.nfev:6.2f} {ours.nit:6d} {ref.nit:6d} "
              f"{t_ours * 1e3:7.1f}ms {t_ref * 1e3:7.1f}ms {t_ours / t_ref:6.2f} {ours.fun - ref.fun:10.1e}  "
              f"{ours.success}/{ref.success}")


if __name__ == "__main__":
    main()
