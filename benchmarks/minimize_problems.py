"""Standard objectives for `minimize` and the scipy reference, shared by benchmarks/minimize_vs_scipy.py and the
tests (tests/test_minimize.py, tests/test_constraints.py import it as benchmarks.minimize_problems).

Each problem is (name, fun, x0, x_star): fun takes a float64 tensor, x_star is the known minimizer (None when
only a reference solver knows it).
"""
from __future__ import annotations

import numpy as np
import scipy.optimize
import torch
from threadpoolctl import ThreadpoolController

# scipy's Fortran L-BFGS-B links OpenBLAS, whose idle threads spin against torch's on a small machine (each scipy
# iteration then took ~10 ms); one BLAS thread is what a fair comparison of optimizer overhead needs. Limiting
# through a controller made once costs ~0.06 ms per run (threadpool_limits() rescans the libraries: ~2 ms).
_BLAS = ThreadpoolController()


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def beale(x: torch.Tensor) -> torch.Tensor:
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b ** 2) ** 2 + (2.625 - a + a * b ** 3) ** 2


def booth(x: torch.Tensor) -> torch.Tensor:
    return (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2


def ill_conditioned_quadratic(n: int = 50, condition: float = 1e4, seed: int = 0):
    """0.5 x'Ax - b'x with A's eigenvalues spread log-uniformly over [1, condition] in a random basis."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = torch.tensor(q @ np.diag(np.logspace(0, np.log10(condition), n)) @ q.T)
    b = torch.tensor(rng.standard_normal(n))
    x_star = torch.linalg.solve(a, b)
    return (lambda x: 0.5 * x @ a @ x - b @ x), x_star


def breast_cancer_logistic(l2: float = 1e-2):
    """Mean logistic loss + l2/2 ||w||^2 on scikit-learn's standardized breast_cancer data; x = (w, bias)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    features = (data.data - data.data.mean(0)) / data.data.std(0)
    X, y = torch.tensor(features), torch.tensor(data.target, dtype=torch.float64)

    def loss(x):
        logits = X @ x[:-1] + x[-1]
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + 0.5 * l2 * (x[:-1] @ x[:-1])
    return loss, X.shape[1] + 1


def problems() -> list[tuple[str, object, list, torch.Tensor | None]]:
    quad, quad_star = ill_conditioned_quadratic()
    logistic, dim = breast_cancer_logistic()
    return [
        ("rosenbrock-2d", rosenbrock, [-1.2, 1.0], torch.ones(2, dtype=torch.float64)),
        ("rosenbrock-100d", rosenbrock, [-1.2, 1.0] * 50, torch.ones(100, dtype=torch.float64)),
        ("beale", beale, [1.0, 1.0], torch.tensor([3.0, 0.5], dtype=torch.float64)),
        ("booth", booth, [0.0, 0.0], torch.tensor([1.0, 3.0], dtype=torch.float64)),
        ("quadratic-cond1e4", quad, [0.0] * 50, quad_star),
        ("logistic-breast-cancer", logistic, [0.0] * dim, None),
    ]


def scipy_lbfgsb(fun, x0, bounds=None, gtol: float = 1e-9) -> scipy.optimize.OptimizeResult:
    """scipy's L-BFGS-B fed exact torch gradients, stopping at `gtol` (largest gradient component) with the
    relative-f test effectively off (ftol 1e-15); one BLAS thread."""
    def value_and_grad(x):
        t = torch.tensor(x, requires_grad=True)
        value = fun(t)
        value.backward()
        return float(value.detach()), t.grad.numpy()
    with _BLAS.limit(limits=1):
        return scipy.optimize.minimize(value_and_grad, np.asarray(x0, dtype=np.float64), jac=True,
                                       method="L-BFGS-B", bounds=bounds,
                                       options={"gtol": gtol, "ftol": 1e-15, "maxiter": 20_000, "maxfun": 50_000})
