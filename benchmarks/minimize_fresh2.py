"""descend.minimize on a second list of twelve problems people bring, written before minimize's code was read.

The shape is minimize_fresh.py's (its Problem, its judge, its table): each problem has a known optimum (closed form,
a one-dimensional root of the optimality conditions found by bisection, Newton on the exact Hessian, scipy's exact
NNLS, log-domain Sinkhorn run to its fixed point) or a trusted reference (scipy run to tolerances far below the
benchmark's, the lowest of two methods). descend is called as a user would call it: no method, no lr, no tolerances;
scipy with the method a user would pick (BFGS unconstrained, L-BFGS-B with bounds or at 2,000 variables, SLSQP with
constraints), both with autograd's gradient and the same start. A hit: f - f* (f* - f for a maximum) within the
row's tolerance (1e-6 x max(1, |f*|) unless the note says otherwise), violation <= 1e-6, and no claim of
convergence that is false. Run:
    PYTHONPATH=src python benchmarks/minimize_fresh2.py [--repeats 3] [--only NAME ...]
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize as so
import scipy.stats as st
import torch

import descend
from descend.minimize.constraints import Affine, Simplex
from minimize_fresh import Problem, box_violation, compare, rng, tight_reference, torch_value, with_grad

TIGHT = {"gtol": 1e-13, "ftol": 1e-16, "maxiter": 50_000, "maxfun": 200_000}


def polish(fun, x0: np.ndarray, bounds=None) -> so.OptimizeResult:
    """scipy's L-BFGS-B from x0 run to tolerances far below the benchmark's: a reference, not a contender."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return so.minimize(with_grad(fun), x0, jac=True, method="L-BFGS-B", bounds=bounds, options=TIGHT)


# ---- 1. Weibull maximum likelihood, positive parameters as bounds, a scale near 1,000 -------------------------------

def weibull_mle() -> Problem:
    y = 1200.0 * rng(21).weibull(1.8, size=250)
    yt = torch.tensor(y)
    n, slog = len(y), float(np.log(y).sum())

    def nll(p):
        k, lam = p[0], p[1]
        return -(n * torch.log(k) - n * k * torch.log(lam) + (k - 1) * slog - ((yt / lam) ** k).sum())

    z = y / np.median(y)          # the shape's profile equation, free of the scale: mean(z^k log z)/mean(z^k) = ...

    def profile(k):
        zk = z ** k
        return np.sum(zk * np.log(z)) / np.sum(zk) - 1.0 / k - np.mean(np.log(z))

    k = so.brentq(profile, 0.05, 50.0, xtol=1e-15, rtol=1e-15)
    lam = float(np.median(y) * np.mean(z ** k) ** (1.0 / k))
    c, _, scale = st.weibull_min.fit(y, floc=0)
    assert abs(c - k) < 1e-3 * k and abs(scale - lam) < 1e-3 * lam, (c, k, scale, lam)
    bounds = [(1e-3, None)] * 2
    x0 = np.array([1.0, 1.0])
    return Problem("weibull_mle_bounds", lambda: descend.minimize(nll, x0, bounds=bounds),
                   lambda: so.minimize(with_grad(nll), x0, jac=True, method="L-BFGS-B", bounds=bounds),
                   torch_value(nll), float(torch_value(nll)(np.array([k, lam]))),
                   violation=lambda p: float(max(1e-3 - np.min(p), 0.0)),
                   note="bounds k, lam >= 1e-3, x0 (1, 1), scale ~1200; "
                        "f* profile root (brentq), checked on scipy.stats")


# ---- 2. growth-optimal (Kelly) portfolio on the simplex, a maximum ---------------------------------------------------

def kelly_portfolio() -> Problem:
    r = rng(22)
    days, n = 500, 12
    market = r.normal(0.0, 0.01, days)
    beta, drift, idio = r.uniform(0.5, 1.5, n), r.uniform(-2e-4, 1e-3, n), r.uniform(0.005, 0.02, n)
    gross = np.exp(drift + market[:, None] * beta + r.normal(size=(days, n)) * idio)
    Rt = torch.tensor(gross)

    def growth(w):
        return torch.log(Rt @ w).mean()

    x0 = np.full(n, 1.0 / n)
    bounds = [(0.0, 1.0)] * n
    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}]
    f_star = -tight_reference(lambda w: -growth(w), x0, bounds, cons)
    return Problem("kelly_simplex_max", lambda: descend.minimize(growth, x0, constraint=Simplex(1.0), maximize=True),
                   lambda: so.minimize(with_grad(growth, -1.0), x0, jac=True, method="SLSQP", bounds=bounds,
                                       constraints=cons),
                   torch_value(growth), f_star, sense=-1.0, tol=1e-6 * abs(f_star),
                   violation=lambda w: max(abs(w.sum() - 1.0), float(np.max(np.maximum(-w, 0.0)))),
                   note="maximize, Simplex(1.0); tol 1e-6 of |f*| (f* ~ 1e-3); f* SLSQP/trust-constr tight")


# ---- 3. exponential decay fit, parameters six decades apart ---------------------------------------------------------

def decay_fit() -> Problem:
    r = rng(23)
    t = np.linspace(0.0, 3000.0, 80)
    y = 8000.0 * np.exp(-1.5e-3 * t) + 200.0 + r.normal(0.0, 60.0, t.size)
    tt, yt = torch.tensor(t), torch.tensor(y)

    def mse(p):
        return ((p[0] * torch.exp(-p[1] * tt) + p[2] - yt) ** 2).mean()

    ref = so.least_squares(lambda p: p[0] * np.exp(-p[1] * t) + p[2] - y, [8000.0, 1.5e-3, 200.0], method="lm",
                           x_scale="jac", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    x0 = np.array([5000.0, 5e-3, 0.0])
    return Problem("decay_fit_scaled", lambda: descend.minimize(mse, x0),
                   lambda: so.minimize(with_grad(mse), x0, jac=True, method="BFGS"),
                   torch_value(mse), float(np.mean(ref.fun ** 2)),
                   note="A ~ 8e3, k ~ 1.5e-3, c ~ 200 from (5e3, 5e-3, 0); f* least_squares lm tight")


# ---- 4. L2-penalized logistic regression on unscaled wine features, written with torch -----------------------------

def logistic_wine() -> Problem:
    from sklearn.datasets import load_wine
    X, label = load_wine(return_X_y=True)
    y = (label == 0).astype(float)
    lam = 1e-2
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def loss(theta):
        z = Xt @ theta[:-1] + theta[-1]
        return torch.nn.functional.binary_cross_entropy_with_logits(z, yt) + 0.5 * lam * (theta[:-1] @ theta[:-1])

    theta = newton_logistic(X, y, lam)
    x0 = np.zeros(X.shape[1] + 1)
    return Problem("logistic_l2_unscaled", lambda: descend.minimize(loss, x0),
                   lambda: so.minimize(with_grad(loss), x0, jac=True, method="BFGS"),
                   torch_value(loss), float(torch_value(loss)(theta)),
                   note="wine class 0 vs rest, raw columns (proline ~1e3), l2 1e-2 off the intercept; f* Newton")


def newton_logistic(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Damped Newton on the exact Hessian of the penalized mean log-loss, to machine precision."""
    A = np.column_stack([X, np.ones(len(X))])
    penalty = np.r_[np.full(X.shape[1], lam), 0.0]

    def value(th):
        z = A @ th
        return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(penalty * th * th)

    th = np.zeros(A.shape[1])
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(A @ th)))
        grad = A.T @ (p - y) / len(y) + penalty * th
        hess = (A * (p * (1 - p))[:, None]).T @ A / len(y) + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while value(th - t * step) > value(th) + 1e-4 * t * (grad @ -step) and t > 1e-12:
            t /= 2
        th = th - t * step
        if np.max(np.abs(step)) < 1e-14 * max(1.0, np.max(np.abs(th))):
            break
    return th


# ---- 5. a cart with drag driven to a target, controls bounded (a small trajectory problem) --------------------------

def cart_control() -> Problem:
    steps, dt, target, drag = 40, 0.1, 3.0, 0.3

    def cost(u):
        pos = torch.zeros((), dtype=u.dtype)
        vel = torch.zeros((), dtype=u.dtype)
        for k in range(steps):
            vel = vel + dt * (u[k] - drag * vel * vel.abs())
            pos = pos + dt * vel
        return 10.0 * (pos - target) ** 2 + 10.0 * vel ** 2 + dt * (u * u).sum()

    bounds = [(-1.0, 1.0)] * steps
    x0 = np.zeros(steps)
    refs = [polish(cost, x0, bounds), polish(cost, np.full(steps, 0.5), bounds)]
    return Problem("cart_control_bounds", lambda: descend.minimize(cost, x0, bounds=bounds),
                   lambda: so.minimize(with_grad(cost), x0, jac=True, method="L-BFGS-B", bounds=bounds),
                   torch_value(cost), float(min(ref.fun for ref in refs)), violation=box_violation(-1.0, 1.0),
                   note="40 controls in [-1, 1], a rollout in torch; f* L-BFGS-B tight from two starts")


# ---- 6. entropy-regularized optimal transport, its dual maximized ---------------------------------------------------

def sinkhorn_dual() -> Problem:
    r = rng(26)
    n, eps = 30, 0.02
    xs, ys = np.sort(r.uniform(0, 1, n)), np.sort(r.beta(2, 5, n))
    C = (xs[:, None] - ys[None, :]) ** 2
    a, b = r.uniform(0.5, 1.5, n), r.uniform(0.5, 1.5, n)
    a, b = a / a.sum(), b / b.sum()
    Ct, at, bt = torch.tensor(C), torch.tensor(a), torch.tensor(b)

    def dual(fg):
        f, g = fg[:n], fg[n:]
        plan = at[:, None] * bt[None, :] * torch.exp((f[:, None] + g[None, :] - Ct) / eps)
        return f @ at + g @ bt - eps * plan.sum()

    f, g = log_sinkhorn(C, a, b, eps)
    x0 = np.zeros(2 * n)
    return Problem("sinkhorn_dual_max", lambda: descend.minimize(dual, x0, maximize=True),
                   lambda: so.minimize(with_grad(dual, -1.0), x0, jac=True, method="BFGS"),
                   torch_value(dual), float(torch_value(dual)(np.r_[f, g])), sense=-1.0,
                   note="maximize, 60 potentials, eps 0.02, exp as written; f* log-domain Sinkhorn to its fixed point")


def log_sinkhorn(C: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Sinkhorn's alternating exact maximizations in the log domain until the marginals hold to 1e-15."""
    from scipy.special import logsumexp
    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(200_000):
        f = -eps * logsumexp(np.log(b)[None, :] + (g[None, :] - C) / eps, axis=1)
        g = -eps * logsumexp(np.log(a)[:, None] + (f[:, None] - C) / eps, axis=0)
        rows = (a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - C) / eps)).sum(axis=1)
        if np.max(np.abs(rows - 1.0)) < 1e-15:
            break
    return f, g


# ---- 7. a linear SVM's hinge loss (piecewise smooth), intercept unpenalized ----------------------------------------

def svm_hinge() -> Problem:
    r = rng(27)
    n, p, lam = 200, 5, 0.05
    X = r.normal(size=(n, p))
    y = np.sign(X @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.3 + r.normal(0.0, 1.0, n))
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def objective(theta):
        margin = yt * (Xt @ theta[:p] + theta[p])
        return 0.5 * lam * (theta[:p] @ theta[:p]) + torch.clamp(1.0 - margin, min=0.0).mean()

    w = svm_dual(X, y, lam)
    kinks = y - X @ w                   # b at which one example's margin is exactly 1: the primal's kinks in b
    best = min(torch_value(objective)(np.r_[w, b]) for b in kinks)
    x0 = np.zeros(p + 1)
    return Problem("svm_hinge_nonsmooth", lambda: descend.minimize(objective, x0),
                   lambda: so.minimize(with_grad(objective), x0, jac=True, method="BFGS"),
                   torch_value(objective), float(best), tol=1e-4,
                   note="tol 1e-4; f* the dual QP (SLSQP tight), then the exact intercept over the kinks")


def svm_dual(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """w from the SVM's dual: max sum(alpha) - |sum alpha_i y_i x_i|^2 / (2 lam), 0 <= alpha <= 1/n, alpha . y = 0."""
    n = len(y)
    Z = X * y[:, None]

    def negative(alpha):
        v = Z.T @ alpha
        return v @ v / (2 * lam) - alpha.sum(), Z @ v / lam - 1.0

    alpha = so.minimize(negative, np.full(n, 0.5 / n), jac=True, method="SLSQP", bounds=[(0.0, 1.0 / n)] * n,
                        constraints=[{"type": "eq", "fun": lambda al: al @ y, "jac": lambda al: y}],
                        options={"ftol": 1e-16, "maxiter": 5000}).x
    return Z.T @ alpha / lam


# ---- 8. a maximum: profit of six products under logit demand -------------------------------------------------------

def logit_pricing() -> Problem:
    r = rng(28)
    n, price_weight = 6, 1.2
    appeal, unit_cost = r.uniform(1.0, 3.0, n), r.uniform(1.0, 4.0, n)
    at, ct = torch.tensor(appeal), torch.tensor(unit_cost)

    def profit(price):
        e = torch.exp(at - price_weight * price)
        return ((price - ct) * e / (1.0 + e.sum())).sum()

    def outside_share(m):
        return 1.0 / (1.0 + np.exp(appeal - price_weight * (unit_cost + m)).sum())

    # optimality: every product carries the same markup m, with m * price_weight * outside_share(m) = 1
    m = bisect_increasing(lambda m: m * price_weight * outside_share(m) - 1.0, 0.0, 100.0)
    x0 = unit_cost.copy()
    return Problem("logit_pricing_max", lambda: descend.minimize(profit, x0, maximize=True),
                   lambda: so.minimize(with_grad(profit, -1.0), x0, jac=True, method="BFGS"),
                   torch_value(profit), float(torch_value(profit)(unit_cost + m)), sense=-1.0,
                   note="maximize from price = cost; f* equal markups, root by bisection")


def bisect_increasing(g, lo: float, hi: float) -> float:
    """The root of an increasing g on [lo, hi], to float precision."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if g(mid) > 0 else (mid, hi)
    return 0.5 * (lo + hi)


# ---- 9. spectral unmixing: nonnegative least squares, most of the minimum on the bound ------------------------------

def nnls_unmixing() -> Problem:
    r = rng(29)
    wavelength, centers = np.linspace(400, 700, 200), np.linspace(400, 700, 40)
    A = np.exp(-0.5 * ((wavelength[:, None] - centers[None, :]) / 15.0) ** 2)
    truth = np.zeros(40)
    truth[r.choice(40, 8, replace=False)] = r.uniform(0.5, 2.0, 8)
    y = A @ truth + r.normal(0.0, 0.01, 200)
    At, yt = torch.tensor(A), torch.tensor(y)

    def half_sse(x):
        return 0.5 * ((At @ x - yt) ** 2).sum()

    _, residual = so.nnls(A, y, maxiter=10_000)
    bounds = [(0.0, None)] * 40
    x0 = np.ones(40)
    return Problem("nnls_unmixing_on_bound", lambda: descend.minimize(half_sse, x0, bounds=bounds),
                   lambda: so.minimize(with_grad(half_sse), x0, jac=True, method="L-BFGS-B", bounds=bounds),
                   torch_value(half_sse), 0.5 * float(residual) ** 2,
                   violation=lambda x: float(max(-np.min(x), 0.0)),
                   note="40 overlapping Gaussian bands, x >= 0; f* scipy.optimize.nnls (exact active set)")


# ---- 10. 2,000-variable smooth problem: total-variation denoising with a smoothed absolute value --------------------

def tv_denoise() -> Problem:
    r = rng(30)
    n, lam, eps = 2000, 1.0, 0.05
    levels = r.normal(0.0, 2.0, 11)
    signal = levels[np.searchsorted(np.sort(r.choice(np.arange(1, n), 10, replace=False)), np.arange(n), "right")]
    y = signal + r.normal(0.0, 0.3, n)
    yt = torch.tensor(y)

    def objective(x):
        d = x[1:] - x[:-1]
        return 0.5 * ((x - yt) ** 2).sum() + lam * torch.sqrt(eps * eps + d * d).sum()

    x_star = newton_tv(y, lam, eps)
    return Problem("tv_denoise_2000", lambda: descend.minimize(objective, y),
                   lambda: so.minimize(with_grad(objective), y, jac=True, method="L-BFGS-B"),
                   torch_value(objective), float(torch_value(objective)(x_star)),
                   note="2,000 variables from x0 = y, eps 0.05; scipy L-BFGS-B; f* damped Newton, tridiagonal Hessian")


def newton_tv(y: np.ndarray, lam: float, eps: float) -> np.ndarray:
    """Damped Newton on the smoothed-TV objective with its exact tridiagonal Hessian, to machine precision."""
    from scipy.linalg import solveh_banded

    def value(x):
        d = np.diff(x)
        return 0.5 * np.sum((x - y) ** 2) + lam * np.sum(np.sqrt(eps * eps + d * d))

    x = y.copy()
    for _ in range(500):
        d = np.diff(x)
        s = lam * d / np.sqrt(eps * eps + d * d)
        w = lam * eps * eps / (eps * eps + d * d) ** 1.5
        grad = x - y + np.r_[0.0, s] - np.r_[s, 0.0]
        bands = np.zeros((2, len(x)))
        bands[1] = 1.0 + np.r_[0.0, w] + np.r_[w, 0.0]
        bands[0, 1:] = -w
        step = solveh_banded(bands, grad)
        t = 1.0
        while value(x - t * step) > value(x) - 1e-4 * t * (grad @ step) and t > 1e-12:
            t /= 2
        x = x - t * step
        if np.max(np.abs(t * step)) < 1e-14 * max(1.0, np.max(np.abs(x))):
            break
    return x


# ---- 11. an integer-like plateau: batch setups counted with ceil ---------------------------------------------------

def batch_setups() -> Problem:
    r = rng(31)
    n, batch, setup, holding = 4, 50.0, 30.0, 0.5
    smooth_best = batch * np.arange(1, n + 1) + r.uniform(2.0, 15.0, n)    # each just past a batch boundary
    value_scale = holding * (smooth_best + 1.0)                              # so that a/(1+q) = h at smooth_best
    vt = torch.tensor(value_scale)

    def cost(q):
        return (holding * q - vt * torch.log1p(q) + setup * torch.ceil(q / batch)).sum()

    def one(i: int, q: float) -> float:
        return holding * q - value_scale[i] * np.log1p(q) + setup * np.ceil(q / batch)

    best = []
    for i in range(n):     # per product: the smooth part's best in each batch count's interval (lo, hi], or q = 0
        candidates = [0.0] + [float(np.clip(smooth_best[i], batch * (k - 1) + 1e-9, batch * k)) for k in range(1, 12)]
        best.append(min(candidates, key=lambda q: one(i, q)))
    bounds = [(0.0, None)] * n
    x0 = np.full(n, 10.0)
    return Problem("batch_setups_ceil", lambda: descend.minimize(cost, x0, bounds=bounds),
                   lambda: so.minimize(with_grad(cost), x0, jac=True, method="L-BFGS-B", bounds=bounds),
                   torch_value(cost), float(torch_value(cost)(np.array(best))),
                   violation=lambda q: float(max(-np.min(q), 0.0)),
                   note="setups = ceil(q / 50) (no gradient); f* per product over batch counts, closed form")


# ---- 12. maximum entropy with a given mean: p log p is NaN where p < 0, outside the feasible set ---------------------

def max_entropy() -> Problem:
    support, mean = np.arange(10.0), 6.0

    def neg_entropy(p):
        return (p * torch.log(p)).sum()

    def tilted(lam):
        w = np.exp(lam * (support - support.max()))
        return w / w.sum()

    lam = bisect_increasing(lambda lam: tilted(lam) @ support - mean, -50.0, 50.0)
    A = np.vstack([np.ones(10), support])
    bounds = [(0.0, None)] * 10
    cons = [{"type": "eq", "fun": lambda p: A @ p - np.array([1.0, mean]), "jac": lambda p: A}]
    x0 = np.full(10, 0.1)
    return Problem("maxent_nan_outside",
                   lambda: descend.minimize(neg_entropy, x0, constraint=Affine(A, [1.0, mean]), bounds=bounds),
                   lambda: so.minimize(with_grad(neg_entropy), x0, jac=True, method="SLSQP", bounds=bounds,
                                       constraints=cons),
                   torch_value(neg_entropy), float(torch_value(neg_entropy)(tilted(lam))),
                   violation=lambda p: float(max(np.max(np.abs(A @ p - [1.0, mean])), -np.min(p), 0.0)),
                   note="sum p = 1, mean 6 (Affine) and p >= 0, p log p as written; f* exponential tilt, bisection")


PROBLEMS = [weibull_mle, kelly_portfolio, decay_fit, logistic_wine, cart_control, sinkhorn_dual, svm_hinge,
            logit_pricing, nnls_unmixing, tv_denoise, batch_setups, max_entropy]


def main() -> None:
    compare(PROBLEMS, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
