"""The tuned track's learning-rate grid and the rule that searches it.

Every tuned entrant draws from the same log-spaced grid: 1e-4 .. 10 in half-decade steps (decades under --quick);
convex workloads take AdamW's best learning rate up to 1 and beyond. A search starts at 1e-3 .. 1e-1, where most
optimizers' best learning rates lie on most workloads, and adds one grid point at a time past whichever edge the
best trial sits on, until the best is inside the tried window or at the end of the grid. The result is the one a
search of the whole grid would pick whenever the quality of a learning rate is unimodal in it, without paying for
learning rates two decades away from an entrant's best; the table marks a best at the end of the grid.
"""
from __future__ import annotations

from typing import Callable, TypeVar

TUNED_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)
QUICK_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
START = (1e-3, 1e-1)               # the first window: the grid points from the one to the other

T = TypeVar("T")


def start_window(grid: tuple[float, ...]) -> tuple[int, int]:
    """Indices of the first and last grid point inside START (the whole grid when none is)."""
    inside = [i for i, lr in enumerate(grid) if START[0] <= lr <= START[1]]
    return (inside[0], inside[-1]) if inside else (0, len(grid) - 1)


def search(grid: tuple[float, ...], run: Callable[[float], T], best: Callable[[list[T]], T],
           lr_of: Callable[[T], float]) -> tuple[T, list[T]]:
    """Run the start window, then extend it past the edge holding the best result; return (best, all results)."""
    low, high = start_window(grid)
    results = [run(lr) for lr in grid[low:high + 1]]
    while True:
        chosen = best(results)
        at = grid.index(lr_of(chosen))
        if at == low and low > 0:
            low -= 1
            results.insert(0, run(grid[low]))
        elif at == high and high < len(grid) - 1:
            high += 1
            results.append(run(grid[high]))
        else:
            return chosen, results


def at_grid_end(grid: tuple[float, ...], lr: float) -> bool:
    """Whether `lr` is the smallest or largest grid point: a wider grid might have done better."""
    return lr in (grid[0], grid[-1])
