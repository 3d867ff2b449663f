"""minimize's L-BFGS after it drops a pair of negative curvature: the next first step repeats the last decrease."""
import numpy as np
import torch

import descend

TIMES = torch.linspace(0.0, 3000.0, 80, dtype=torch.float64)
CURVE = 8000.0 * torch.exp(-1.5e-3 * TIMES) + 200.0


def decay_mse(p: torch.Tensor) -> torch.Tensor:
    """An exact exponential decay fit whose parameters sit six decades apart: (8000, 1.5e-3, 200), f* = 0."""
    return ((p[0] * torch.exp(-p[1] * TIMES) + p[2] - CURVE) ** 2).mean()


def test_a_badly_scaled_fit_reaches_its_closed_form_in_fewer_evaluations():
    """From (5000, 5e-3, 0) the gradient is ~1e9 in the rate and the early pairs have s.y < 0: restarting each at
    the unit move cost 209 evaluations; starting from the last accepted step's decrease costs 122."""
    res = descend.minimize(decay_mse, [5000.0, 5e-3, 0.0])
    assert res.success and res.nfev <= 130
    np.testing.assert_allclose(res.x, [8000.0, 1.5e-3, 200.0], rtol=1e-6)


def test_the_shorter_restart_is_deterministic():
    first, second = (descend.minimize(decay_mse, [5000.0, 5e-3, 0.0]) for _ in range(2))
    assert (first.nfev, first.nit) == (second.nfev, second.nit) and np.array_equal(first.x, second.x)


def test_bounds_keep_the_unit_move_and_are_respected():
    """A projected run keeps the unit move (its Armijo arc only shrinks a step, so a short start stays short):
    with the rate bounded away from the answer it takes its 10 evaluations as before and ends on the bound."""
    res = descend.minimize(decay_mse, [5000.0, 5e-3, 0.0], bounds=[(0, None), (2e-3, 1.0), (None, None)])
    assert res.success and res.nfev == 10 and res.x[1] == 2e-3 and res.x[0] > 0
