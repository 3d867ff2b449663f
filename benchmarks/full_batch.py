"""fit's defaults on full-batch problems (auto's L-BFGS, run until converged) against what a user would use instead.

For each problem, in the same run: `descend.fit` with no optimizer, lr or limit (batch_size=len(X) where the data
has more than 64 rows); the same with max_epochs=20 (fit's old default length); scipy.optimize.minimize's
L-BFGS-B with its default tolerances on the same objective, through torch autograd from the same initial weights;
and the closed form (least squares, ridge) or scikit-learn (logistic regression) where there is one. Printed: the
loss each reaches, descend's relative gap to the best of the others, its steps and stop reason, and the seconds
ratio against scipy and the closed form / sklearn.

`--validation` runs the experiment that set what auto's L-BFGS does with validation data: on tiny-data problems,
the held-out (test) loss of running to convergence against stopping when val_loss stalls with the best weights
kept (Patience 20 and 100), 3 seeds each.

    nice python benchmarks/full_batch.py [--validation]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_diabetes, make_moons
from sklearn.linear_model import LogisticRegression
from torch import nn

import descend as ds
from descend.fit import losses

MSE = nn.functional.mse_loss


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def objective(model: nn.Module, loss_fn, x, y):
    """The full-batch loss of `model` on (x, y) as scipy wants it: f(w) and its gradient, float64 numpy."""
    params = [p for p in model.parameters() if p.requires_grad]

    def f(flat: np.ndarray):
        nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=params[0].dtype), params)
        for p in params:
            p.grad = None
        loss = loss_fn(model(x), y)
        loss.backward()
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        return float(loss.detach()), grad.detach().to(torch.float64).numpy()
    return f, nn.utils.parameters_to_vector(params).detach().to(torch.float64).numpy()


def full_loss(model, loss_fn, x, y) -> float:
    with torch.no_grad():
        return float(loss_fn(model(x), y))


# --- problems: each returns (make_model, x, y, loss name, loss_fn, reference or None) -----------------------------

def mlp(inputs: int, width: int = 64):
    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(inputs, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                             nn.Linear(width, 1))
    return make


def linear(inputs: int):
    def make():
        torch.manual_seed(0)
        return nn.Linear(inputs, 1)
    return make


def least_squares():
    """Linear regression on diabetes (442 x 10, standardized): closed form by lstsq."""
    x, y = load_diabetes(return_X_y=True)
    x, y = (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()
    design = np.c_[x, np.ones(len(x))]

    def closed():
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        return float(np.mean((design @ solution - y) ** 2))
    return linear(10), *tensors(x, y), "mse", MSE, ("lstsq", closed)


def ridge():
    """Ridge regression (lambda 0.1 on the weights, mean squared error) on 200 x 50 random features with a loss
    that holds the penalty; closed form (X'X + n lambda I) w = X'y on centred data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 50))
    y = x[:, :5].sum(1) + rng.standard_normal(200)
    lam, make = 0.1, linear(50)
    holder = {}

    def made():
        holder["model"] = make()
        return holder["model"]

    def loss_fn(out, target):
        return MSE(out, target) + lam * (holder["model"].weight ** 2).sum()

    def closed():
        xc, yc = x - x.mean(0), y - y.mean()
        w = np.linalg.solve(xc.T @ xc + len(x) * lam * np.eye(x.shape[1]), xc.T @ yc)
        return float(np.mean((xc @ w - yc) ** 2) + lam * w @ w)
    return made, *tensors(x, y), loss_fn, loss_fn, ("closed form", closed)


def logistic():
    """Unregularized logistic regression on breast_cancer's first 10 features (standardized; overlapping classes,
    so a finite optimum): scikit-learn's LogisticRegression(C=inf)."""
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :10]
    x = (x - x.mean(0)) / x.std(0)

    def sk():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = LogisticRegression(C=np.inf, max_iter=10_000).fit(x, y)
        z = x @ found.coef_.ravel() + found.intercept_[0]
        return float(np.mean(np.logaddexp(0.0, z) - y * z))
    return linear(10), *tensors(x, y), "bce", losses.get("bce"), ("sklearn", sk)


def sin_fit():
    """sin(2x) + noise 0.05 from 60 points, a 1-64-64-1 tanh MLP (4,353 parameters)."""
    torch.manual_seed(0)
    x = torch.rand(60, 1) * 6 - 3
    y = torch.sin(2 * x) + 0.05 * torch.randn(60, 1)
    return mlp(1), x, y, "mse", MSE, None


def moons():
    """Two noisy moons, 200 points, a 2-64-64-1 tanh MLP with the logistic loss."""
    x, y = make_moons(200, noise=0.2, random_state=0)
    return mlp(2), *tensors(x, y), "bce", losses.get("bce"), None


class Rosenbrock(nn.Module):
    """The 20-D Rosenbrock function as a model: forward ignores its input and returns f(w), from (-1.2, 1, ...)."""

    def __init__(self, dims: int = 20):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([-1.2, 1.0] * (dims // 2), dtype=torch.float64))

    def forward(self, _x):
        w = self.w
        return (100 * (w[1:] - w[:-1] ** 2) ** 2 + (1 - w[:-1]) ** 2).sum().reshape(1, 1)


def rosenbrock(dims: int = 20):
    """Smooth nonconvex test function through a model wrapper, float64; f* = 0."""
    identity = lambda out, _target: out.mean()  # noqa: E731
    return lambda: Rosenbrock(dims), torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64), \
        identity, identity, ("known f*", lambda: 0.0)


def rosenbrock_4000():
    """The chained Rosenbrock function in 4,000 dimensions: L-BFGS needs more than the cap's 10,000 steps."""
    return rosenbrock(4000)


def tensors(x, y):
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]


PROBLEMS = {"least squares (diabetes)": least_squares, "ridge (200x50)": ridge, "logistic (breast_cancer)": logistic,
            "MLP sin, 60 points": sin_fit, "MLP moons, 200 points": moons, "Rosenbrock 20-D (wrapper)": rosenbrock,
            "Rosenbrock 4000-D (cap)": rosenbrock_4000}


def run_problem(name: str, build) -> dict:
    make, x, y, loss, loss_fn, reference = build()
    batch = {} if len(x) <= 64 else {"batch_size": len(x)}
    model = make()
    result, seconds = timed(lambda: ds.fit(model, (x, y), loss=loss, progress=False, **batch))
    ours = full_loss(model, loss_fn, x, y)
    model20 = make()
    ds.fit(model20, (x, y), loss=loss, max_epochs=20, progress=False, **batch)
    loss20 = full_loss(model20, loss_fn, x, y)   # before the next model is made (ridge's penalty reads the latest)
    scipy_model = make()
    fun, x0 = objective(scipy_model, loss_fn, x, y)
    found, scipy_seconds = timed(lambda: minimize(fun, x0, jac=True, method="L-BFGS-B"))
    row = {"problem": name, "steps": len(result.history), "stop": result.stop_reason.split(" (")[0],
           "descend": ours, "20 steps": loss20, "scipy": float(found.fun),
           "scipy iters": found.nit, "vs scipy s": seconds / scipy_seconds}
    if reference is not None:
        label, solve = reference
        value, ref_seconds = timed(solve)
        row.update(reference=value, ref_label=label, **{"vs ref s": seconds / ref_seconds})
    best = min(v for v in (row["scipy"], row.get("reference")) if v is not None)
    row["gap"], row["relative gap"] = ours - best, (ours - best) / abs(best) if best else float("nan")
    return row


def warm_up() -> None:
    """One short fit and one scipy call before the timed ones, so one-time costs (lazy imports, first kernels)
    are not charged to the first problem."""
    make, x, y, loss, loss_fn, _ = sin_fit()
    ds.fit(make(), (x, y), loss=loss, max_steps=3, progress=False)
    fun, x0 = objective(make(), loss_fn, x, y)
    minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": 3})


def print_table(rows: list[dict]) -> None:
    print(f"{'problem':27} {'steps':>6} {'descend':>10} {'20 steps':>10} {'scipy':>10} {'reference':>22} "
          f"{'gap':>9} {'rel. gap':>9} {'s/scipy':>8} {'s/ref':>8}  stop reason")
    for r in rows:
        ref = f"{r['reference']:.4g} ({r['ref_label']})" if "reference" in r else "-"
        vs_ref = f"{r['vs ref s']:.3g}" if "vs ref s" in r else "-"
        print(f"{r['problem']:27} {r['steps']:>6} {r['descend']:>10.4g} {r['20 steps']:>10.4g} {r['scipy']:>10.4g} "
              f"{ref:>22} {r['gap']:>9.1e} {r['relative gap']:>9.1e} {r['vs scipy s']:>8.2f} {vs_ref:>8}  {r['stop']}")


# --- validation: run to convergence, or stop on val_loss with the best weights kept ---------------------------

def split_sin(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(460, 1, generator=g) * 6 - 3
    return x, torch.sin(2 * x) + 0.3 * torch.randn(460, 1, generator=g), "mse", 60, mlp(1)


def split_diabetes(seed):
    x, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return *tensors((x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()), "mse", 100, mlp(10)


def split_moons(seed):
    x, y = make_moons(600, noise=0.35, random_state=seed)
    return *tensors(x, y), "bce", 80, mlp(2)


def split_wide_linear(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(440, 30, generator=g)
    return x, x[:, :3].sum(1, keepdim=True) + torch.randn(440, 1, generator=g), "mse", 40, linear(30)


def validation_experiment() -> None:
    print(f"{'problem':16} {'seed':>4}  test loss (steps): converge | patience 20 | patience 100")
    for name, split in [("sin, 60", split_sin), ("diabetes, 100", split_diabetes), ("moons, 80", split_moons),
                        ("linear 40x30", split_wide_linear)]:
        for seed in range(3):
            x, y, loss, n, make = split(seed)
            train, val, test = (x[:n], y[:n]), (x[n:n + n // 2], y[n:n + n // 2]), (x[n + n // 2:], y[n + n // 2:])
            cells = []
            for patience in (None, 20, 100):
                model = make()
                stop = [] if patience is None else [ds.stop.Patience(patience, restore_best=True)]
                result = ds.fit(model, train, val=val, loss=loss, batch_size=n, stop=stop, max_steps=10_000,
                                progress=False, doctor=False)
                cells.append(f"{full_loss(model, losses.get(loss), *test):.4g} ({len(result.history)})")
            print(f"{name:16} {seed:>4}  " + " | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validation", action="store_true", help="the validation experiment instead")
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS), choices=list(PROBLEMS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.validation:
        validation_experiment()
        return
    warm_up()
    rows = []
    for name in args.problems:
        rows.append(run_problem(name, PROBLEMS[name]))
        print(f"done: {name}", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
