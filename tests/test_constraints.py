"""Constraints: exact projections, feasibility at every step, the constrained optimum, and infeasible input."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import torch

import descend
from descend import DescendError
from descend.minimize.constraints import (L1Ball, L2Ball, Affine, Box, Intersection, LinearInequality, NonNegative,
                                          Simplex)
from benchmarks.minimize_problems import rosenbrock, scipy_lbfgsb

f64 = dict(dtype=torch.float64)


def bound(constraint, n):
    return constraint.bind(n, torch.float64, "x")


def assert_projection(constraint, v, vertices):
    """p = P(v) is in the set and (v - p).(z - p) <= 0 for every z generating the set: p is the nearest point."""
    p = constraint.project(v)
    assert constraint.violation(p) < 1e-12
    for z in vertices:
        assert float((v - p) @ (z - p)) <= 1e-10


@pytest.mark.parametrize("seed", range(5))
def test_simplex_and_l1_projections_are_nearest_points(seed):
    v = torch.randn(7, **f64, generator=torch.Generator().manual_seed(seed)) * 3
    corners = 2.5 * torch.eye(7, **f64)
    assert_projection(bound(Simplex(2.5), 7), v, corners)
    assert float(bound(Simplex(2.5), 7).project(v).sum()) == pytest.approx(2.5, abs=1e-12)
    assert_projection(bound(Simplex(2.5, at_most=True), 7), v, [*corners, torch.zeros(7, **f64)])
    assert_projection(bound(L1Ball(1.5), 7), v, [*(1.5 * torch.eye(7, **f64)), *(-1.5 * torch.eye(7, **f64))])


def test_closed_form_projections():
    v = torch.tensor([3.0, -4.0, 0.5], **f64)
    assert torch.equal(bound(Box([0, -1, 0], 1), 3).project(v), torch.tensor([1.0, -1.0, 0.5], **f64))
    assert torch.equal(bound(NonNegative(), 3).project(v), torch.tensor([3.0, 0.0, 0.5], **f64))
    on_ball = bound(L2Ball(1.0), 3).project(v)
    assert torch.allclose(on_ball, v / torch.linalg.vector_norm(v))
    assert torch.equal(bound(Simplex(10.0, at_most=True), 3).project(v), torch.tensor([3.0, 0.0, 0.5], **f64))
    A, b = torch.tensor([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]], **f64), torch.tensor([1.0, 0.0], **f64)
    p = bound(Affine(A, b), 3).project(v)
    null = torch.tensor([1.0, 1.0, -2.0], **f64)           # A @ null == 0: p - v must have no part along it
    assert torch.allclose(A @ p, b) and float((v - p) @ null) == pytest.approx(0.0, abs=1e-12)


SETS = [Box(-0.5, 0.3), NonNegative(), Simplex(1.0), Simplex(1.0, at_most=True), L2Ball(0.7, center=0.2),
        L1Ball(0.8), Affine([[1.0, 2.0, 0.0, -1.0]], [0.5])]
POINTS = [Simplex(0.0), Simplex(0.0, at_most=True), L1Ball(0.0), L2Ball(0.0, center=0.3)]   # sets of one point


def set_id(constraint) -> str:
    return type(constraint).__name__ + ("0" if constraint in POINTS else "")


def test_a_zero_budget_or_radius_projects_onto_its_one_point():
    v = torch.tensor([3.0, 1.0, -2.0, 0.5], **f64)
    for constraint, point in zip(POINTS, [0.0, 0.0, 0.0, 0.3]):
        assert torch.equal(bound(constraint, 4).project(v), torch.full((4,), point, **f64)), constraint


@pytest.mark.parametrize("constraint", SETS + POINTS, ids=set_id)
@pytest.mark.parametrize("method,lr", [("lbfgs", None), ("gd", None), ("adam", 0.05), ("momentum", 0.05)])
def test_every_iterate_is_feasible_and_the_optimum_is_the_projection(constraint, method, lr):
    """min ||x - c||^2 over a convex set is the projection of c: a closed-form truth for every set and method.
    Feasibility is checked at every point fun is evaluated at: x0 (projected), each step and each trial point."""
    c = torch.tensor([1.2, -0.7, 0.4, 2.0], **f64)
    checker = bound(constraint, 4)
    worst = []

    def fun(x):
        worst.append(checker.violation(x.detach()))
        return ((x - c) ** 2).sum()
    res = descend.minimize(fun, [0.1, 0.2, 0.3, 0.4], method=method, lr=lr, constraint=constraint,
                           max_steps=400, gtol=1e-9)
    assert len(worst) == res.nfev and max(worst) < 1e-12
    if constraint in POINTS:          # x0 is projected onto the point, where the projected gradient is 0
        assert res.success and res.nit == 0 and np.array_equal(res.x, checker.project(c).numpy())
        return
    if method == "adam":   # projected Adam's fixed points need not be the optimum (its step is rescaled): progress only
        assert res.fun < res.history[0]["fun"] - 0.1
        return
    tolerance = 1e-7 if lr is None else 1e-4
    assert np.abs(res.x - checker.project(c).numpy()).max() < tolerance


@pytest.mark.parametrize("constraint", SETS, ids=set_id)
def test_lbfgs_meets_the_kkt_conditions_on_a_skewed_convex_quadratic(constraint):
    """For convex f, x is optimal over a convex set exactly when x = P(x - grad f(x)); checked with the
    projection verified above, on a badly scaled, coupled quadratic where curvature matters."""
    c = torch.tensor([1.2, -0.7, 0.4, 2.0], **f64)
    weights = torch.tensor([1.0, 10.0, 100.0, 3.0], **f64)
    res = descend.minimize(lambda x: (weights * (x - c) ** 2).sum() + x[0] * x[1], [0.1, 0.2, 0.3, 0.4],
                           constraint=constraint, gtol=1e-10, max_steps=200)
    assert res.success, res.message
    x, g = torch.tensor(res.x), torch.tensor(res.grad)
    assert float((x - bound(constraint, 4).project(x - g)).abs().max()) < 1e-6
    assert res.nit < 60


def test_lbfgs_with_a_box_matches_scipy_lbfgsb_with_bounds():
    x0 = [-1.2, 1.0] * 5
    bounds = [(-2.0, 0.5), (-1.0, 2.0)] * 5
    ours, ref = descend.minimize(rosenbrock, x0, bounds=bounds, gtol=1e-9), scipy_lbfgsb(rosenbrock, x0, bounds)
    assert ours.success and ref.success
    assert np.abs(ours.x - ref.x).max() < 1e-6 and ours.fun == pytest.approx(ref.fun, abs=1e-10)
    assert (ours.x[0::2] == 0.5).sum() >= 1              # the upper bound is active, exactly
    lo, hi = zip(*bounds)
    for same in (np.array(bounds), scipy.optimize.Bounds(lo, hi)):   # what scipy users pass
        assert np.array_equal(descend.minimize(rosenbrock, x0, bounds=same, gtol=1e-9).x, ours.x)


def test_ill_conditioned_box_problem_matches_scipy():
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    A = torch.tensor(q @ np.diag(np.logspace(0, 3, 20)) @ q.T)
    b = torch.tensor(rng.standard_normal(20)) * 30
    fun = lambda x: 0.5 * x @ A @ x - b @ x  # noqa: E731
    bounds = [(-0.5, 0.5)] * 20
    ours, ref = descend.minimize(fun, [0.0] * 20, bounds=bounds, gtol=1e-9), scipy_lbfgsb(fun, [0.0] * 20, bounds)
    assert ours.success and np.abs(ours.x - ref.x).max() < 1e-6


def load_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "budget_allocation.py"
    spec = importlib.util.spec_from_file_location("budget_allocation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_budget_example_matches_the_water_filling_solution():
    example = load_example()
    res = example.allocate(example.REACH, example.SATURATION, example.BUDGET)
    exact, lam = example.water_filling(example.REACH, example.SATURATION, example.BUDGET)
    assert res.success and res.x.sum() == pytest.approx(example.BUDGET, abs=1e-9) and res.x.min() >= 0
    assert np.abs(res.x - exact.numpy()).max() < 1e-6
    assert (exact == 0).any()                       # some channel is left unfunded: the bound is active
    gap, _ = example.kkt_report(res.x, example.REACH, example.SATURATION)
    assert res.message.startswith("converged: projected gradient below gtol 1e-07") and gap <= example.GTOL
    assert gap == pytest.approx(res.history[-1]["grad_max"], rel=1e-6)   # the stopping test is the KKT gap


def test_budget_example_prints_what_it_asked_and_reached(capsys):
    example = load_example()
    example.main()
    out = capsys.readouterr().out
    assert out.startswith("converged: projected gradient below gtol 1e-07") and "(asked: gtol 1e-07)" in out
    violation = float(out.split("largest violation ")[1].split()[0])
    assert violation <= example.GTOL


def test_budget_example_says_why_its_gtol_is_not_tighter():
    """The docstring's claim: gtol 1e-9 is out of float64's reach here, and the run says so instead of converging."""
    example = load_example()
    a, b = torch.tensor(example.REACH, **f64), torch.tensor(example.SATURATION, **f64)
    res = descend.minimize(lambda x: example.returns(x, a, b), [example.BUDGET / 6] * 6, maximize=True,
                           constraint=Simplex(example.BUDGET), gtol=1e-9, ftol=None)
    assert res.status == 2 and "the line search could not find a lower value" in res.message
    assert 1e-9 < res.history[-1]["grad_max"] < 1e-7


@pytest.mark.parametrize("method,lr", [("lbfgs", None), ("gd", None), ("momentum", 0.05)])
def test_constraints_compose_over_named_parts(method, lr):
    """Each part keeps its own set at every point fun sees; the optimum is each part's projection."""
    target = {"w": torch.tensor([2.0, -3.0, 0.5], **f64), "p": torch.tensor([0.9, 0.8, -0.1], **f64)}
    simplex, box = bound(Simplex(1.0), 3), bound(Box(-1.0, 1.0), 3)
    worst = []

    def fun(x):
        worst.append(max(simplex.violation(x["p"].detach()), box.violation(x["w"].detach())))
        return sum(((x[k] - target[k]) ** 2).sum() for k in x)
    res = descend.minimize(fun, {"w": [0.0, 0.0, 0.0], "p": [0.2, 0.3, 0.5]}, method=method, lr=lr,
                           constraint={"p": Simplex(1.0)}, bounds={"w": (-1.0, 1.0)}, gtol=1e-10, max_steps=2000)
    assert res.success and len(worst) == res.nfev and max(worst) < 1e-12
    assert np.allclose(res.x["w"], [1.0, -1.0, 0.5], atol=1e-9)
    assert np.allclose(res.x["p"], [0.55, 0.45, 0.0], atol=1e-8)


def test_infeasible_x0_is_projected_first():
    points = []
    res = descend.minimize(lambda x: points.append(x.detach().clone()) or (x ** 2).sum(), [5.0, 5.0],
                           bounds=(1.0, 2.0))
    assert points[0].tolist() == [2.0, 2.0] and all(bool(((p >= 1) & (p <= 2)).all()) for p in points)
    assert res.x.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("make,words", [
    (lambda: Box(1.0, 0.0), "Box: lo > hi (1.0 > 0.0)"),
    (lambda: Box([0, 0, 3], [1, 1, 2]), "Box: lo > hi at index 2"),
    (lambda: Simplex(-1.0), "Simplex: total (the budget) must be a finite number >= 0, got -1.0"),
    (lambda: L2Ball(-0.5), "L2Ball: radius must be a finite number >= 0"),
    (lambda: L1Ball(-2), "L1Ball: radius must be"),
    (lambda: Affine([[1.0, 1.0], [2.0, 2.0]], [1.0, 3.0]), "no solution"),
    (lambda: Box(float("nan"), 1.0), "Box lo contains NaN"),
])
def test_infeasible_constraints_are_refused_when_built(make, words):
    with pytest.raises(DescendError, match=words.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.parametrize("kwargs,words", [
    ({"bounds": (1.0, 0.0)}, "lo > hi"),
    ({"bounds": [(0, 1)] * 3}, r"bounds has 3 \(lo, hi\) pairs but x has 2 elements"),
    ({"constraint": Affine([[1.0, 1.0, 1.0]], [1.0])}, "3 columns but that part of x has 2"),
    ({"constraint": {"q": Simplex(1.0)}}, "names part 'q'"),
    ({"constraint": Simplex(5.0), "bounds": (0, 1)}, "have no point in common"),   # both: their intersection
    ({"constraint": [Simplex(1.0)]}, "constraint must be a descend.constraints set"),
])
def test_bad_constraint_arguments_are_refused_before_fun_runs(kwargs, words):
    calls = []
    with pytest.raises((DescendError, TypeError), match=words):
        descend.minimize(lambda x: calls.append(1) or (x ** 2).sum(), [1.0, 2.0], **kwargs)
    assert calls == []


@pytest.mark.parametrize("method", ["adam", "rmsprop"])
def test_adaptive_methods_move_along_a_budget_to_its_kkt_split(method):
    """max log(1 + x0) + 2 log(1 + x1) with x0 + x1 <= 10: equal marginal returns give (3, 7). Fed the whole
    gradient, Adam's per-coordinate scaling pushes both coordinates into the budget at the same rate and the
    projection keeps x at the even split (5, 5); fed the part x can follow on the budget line, it reaches (3, 7)."""
    result = descend.minimize(lambda x: torch.log1p(x[0]) + 2 * torch.log1p(x[1]), [0.5, 0.5],
                              constraint=Simplex(10.0, at_most=True), maximize=True, method=method, lr=0.1,
                              max_steps=1000)
    np.testing.assert_allclose(result.x, [3.0, 7.0], atol=0.05)
    assert float(result.x.sum()) == pytest.approx(10.0)


def kkt_quadratic(n: int, seed: int, rows: np.ndarray, prices: np.ndarray):
    """0.5 x'Qx - b'x over [-1, 1]^n (and rows x = rows x* where a row's price is not 0) with its minimizer x*
    known: a third of x* at its lower bound, a third at its upper, the rest inside, and b chosen so that the
    gradient at x* is the rows' prices plus a push outward on every bound coordinate (the KKT conditions, Q
    positive definite, so x* is the one minimizer)."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    q = m @ m.T / n + 0.1 * np.eye(n)
    side = np.arange(n) % 3                                      # 0: at -1, 1: at +1, 2: inside
    x_star = np.where(side == 0, -1.0, np.where(side == 1, 1.0, rng.uniform(-0.5, 0.5, n)))
    push = rng.uniform(0.5, 2.0, n) * np.where(side == 0, 1.0, np.where(side == 1, -1.0, 0.0))
    b = q @ x_star - push + rows.T @ prices
    return torch.tensor(q), torch.tensor(b), x_star, side


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_row", [False, True])
def test_a_quadratic_with_binding_bounds_reaches_its_closed_form_minimizer_in_few_steps(seed, with_row):
    """With sum(x) fixed beside the bounds, each bound judged its face by the raw gradient (not net of the sum's
    price), the projection met the sum only to 1e-10, and runs ended 'failed' 1e-5 from x*."""
    n = 12
    q, b, x_star, side = kkt_quadratic(n, seed, np.ones((int(with_row), n)), np.full(int(with_row), 0.7))
    row = {"constraint": Affine(np.ones((1, n)), [x_star.sum()])} if with_row else {}
    res = descend.minimize(lambda x: 0.5 * x @ q @ x - b @ x, [0.0] * n, bounds=(-1.0, 1.0), gtol=1e-9, **row)
    f_star = float(0.5 * x_star @ q.numpy() @ x_star - b.numpy() @ x_star)
    assert res.success, res.message
    assert res.nit <= 20
    assert res.fun == pytest.approx(f_star, abs=1e-12)
    assert np.array_equal(res.x[side != 2], x_star[side != 2])   # the bound coordinates sit exactly on them
    assert np.abs(res.x - x_star).max() < 1e-6


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("inequalities", [False, True])
def test_a_quadratic_with_binding_bounds_and_several_rows_reaches_its_closed_form_minimizer(seed, inequalities):
    """Two equations beside the bounds, or an equation, a binding inequality and a slack one: Dykstra's projection
    met the rows to 1e-10 and each set read its face alone, so runs took hundreds of steps or stopped short."""
    n = 15
    rows = np.random.default_rng(100 + seed).normal(size=(3, n))
    q, b, x_star, side = kkt_quadratic(n, seed, rows, np.array([0.7, 0.4 if inequalities else -0.4, 0.0]))
    ends = rows @ x_star
    if inequalities:
        constraint = Intersection(Affine(rows[:1], ends[:1]), LinearInequality(rows[1:], ends[1:] + [0.0, 0.5]))
    else:
        constraint = Affine(rows[:2], ends[:2])
    res = descend.minimize(lambda x: 0.5 * x @ q @ x - b @ x, [0.0] * n, bounds=(-1.0, 1.0), gtol=1e-8,
                           constraint=constraint)   # gtol 1e-9 lies below this f's rounding floor on some seeds
    f_star = float(0.5 * x_star @ q.numpy() @ x_star - b.numpy() @ x_star)
    assert res.success, res.message
    assert res.nit <= 25
    assert res.fun == pytest.approx(f_star, abs=1e-10)
    assert np.array_equal(res.x[side != 2], x_star[side != 2])
    assert np.abs(rows[:2] @ res.x - ends[:2]).max() <= 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_bounds_beside_a_budget_meet_slsqps_objective_in_as_few_steps(seed):
    """Log returns on 12 channels, a budget of 96, each channel in [4, 12] with several bounds binding: hundreds of
    steps before the face was read from the bounds and the budget together, now as few as SLSQP takes."""
    rng = np.random.default_rng(seed)
    a, c = rng.uniform(0.5, 4, 12), rng.uniform(0.5, 2, 12)
    at, ct = torch.tensor(a), torch.tensor(c)
    ours = descend.minimize(lambda x: (at * torch.log1p(x / ct)).sum(), [8.0] * 12, bounds=[(4.0, 12.0)] * 12,
                            constraint=Simplex(total=96.0), maximize=True)
    theirs = scipy.optimize.minimize(lambda x: -(a * np.log1p(x / c)).sum(), [8.0] * 12, bounds=[(4.0, 12.0)] * 12,
                                     constraints=[{"type": "eq", "fun": lambda x: x.sum() - 96}], method="SLSQP",
                                     options={"ftol": 1e-12, "maxiter": 1000})
    assert ours.success, ours.message
    assert ours.nit <= max(theirs.nit, 20)
    assert ours.fun >= -theirs.fun - 1e-10
    assert float(np.sum(ours.x)) == pytest.approx(96.0, abs=1e-12)
    assert ((ours.x == 4.0) | (ours.x == 12.0)).sum() >= 2


@pytest.mark.parametrize("seed", range(6))
def test_bounds_with_one_row_project_onto_the_nearest_point_and_meet_the_row_to_rounding(seed):
    """Boxes beside a budget, an equation or one inequality: the projection solves for the row's one multiplier
    exactly (Dykstra's alternating projections met the row only to 1e-10), and matches SLSQP's nearest point."""
    rng = np.random.default_rng(seed)
    n = 9
    lo = rng.uniform(0, 1, n)
    inside = lo + rng.uniform(0.1, 3, n)                             # a point of the box, on the row below
    hi = 2 * inside - lo
    hi[0] = np.inf
    weights = rng.normal(size=n)
    row = [Simplex(float(inside.sum())), Affine(weights, [weights @ inside]),
           LinearInequality(weights, [weights @ inside])][seed % 3]
    constraint = bound(Intersection(Box(lo, hi), row), n)
    y = torch.tensor(rng.normal(size=n) * 3)
    p = constraint.project(y).numpy()
    a, b = (np.ones(n), row.total) if seed % 3 == 0 else (weights, float(row.b[0]))
    kind = "ineq" if seed % 3 == 2 else "eq"
    ref = scipy.optimize.minimize(lambda z: 0.5 * ((z - y.numpy()) ** 2).sum(), inside,
                                  jac=lambda z: z - y.numpy(), method="SLSQP",
                                  bounds=[(lo_i, None if np.isinf(hi_i) else hi_i) for lo_i, hi_i in zip(lo, hi)],
                                  constraints=[{"type": kind, "fun": lambda z: (b - a @ z) if kind == "ineq"
                                                else a @ z - b}], options={"ftol": 1e-15, "maxiter": 500})
    assert np.all(p >= lo) and np.all(p <= hi)
    assert (a @ p - b <= 1e-13) if kind == "ineq" else abs(a @ p - b) <= 1e-13
    assert np.abs(p - ref.x).max() < 1e-6


@pytest.mark.parametrize("seed", range(12))
def test_bounds_with_several_rows_project_onto_slsqps_nearest_point_meeting_the_rows_to_rounding(seed):
    """A box (one side open) beside two or three rows, equations and inequalities mixed, some slack: the rows'
    multipliers are solved jointly (Dykstra met them to 1e-10), and the point is SLSQP's nearest one."""
    rng = np.random.default_rng(seed)
    n, m = 10, 2 + seed % 2
    lo = rng.uniform(-1, 0, n)
    inside = lo + rng.uniform(0.1, 2, n)
    hi = 2 * inside - lo
    hi[seed % n] = np.inf
    A = rng.normal(size=(m, n))
    equation = np.arange(m) % 2 == seed % 2
    b = A @ inside + np.where(equation, 0.0, rng.uniform(0, 1, m))
    sets = [Box(lo, hi)] + [kind(A[pick], b[pick]) for kind, pick in ((Affine, equation),
                                                                        (LinearInequality, ~equation)) if pick.any()]
    y = rng.normal(size=n) * 3
    p = bound(Intersection(*sets), n).project(torch.tensor(y)).numpy()
    bounds = [(low, None if np.isinf(high) else high) for low, high in zip(lo, hi)]
    rows = [{"type": "eq", "fun": lambda z: A[equation] @ z - b[equation]},
            {"type": "ineq", "fun": lambda z: b[~equation] - A[~equation] @ z}]
    tries = (scipy.optimize.minimize(lambda z: 0.5 * ((z - y) ** 2).sum(), start, jac=lambda z: z - y, method="SLSQP",
                                     bounds=bounds, constraints=rows, options={"ftol": 1e-13, "maxiter": 500})
             for start in (inside, (inside + y) / 2, np.clip(y, lo, hi)))    # SLSQP stalls from some starts
    ref = next(one for one in tries if one.success)
    assert np.all(p >= lo) and np.all(p <= hi)
    assert np.abs(A[equation] @ p - b[equation]).max() <= 1e-13 and np.all(A[~equation] @ p - b[~equation] <= 1e-13)
    assert np.abs(p - ref.x).max() < 1e-7


def test_rows_that_cannot_hold_inside_the_bounds_are_refused_naming_them():
    rows = Intersection(Affine([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]], [2.0, 0.0]), LinearInequality([[0.0, 0.0, 1.0]],
                                                                                                   [-0.5]))
    with pytest.raises(DescendError) as caught:
        descend.minimize(lambda x: (x ** 2).sum(), [0.0, 0.0, 0.0], bounds=(0.0, 1.0), constraint=rows)
    message = str(caught.value)
    assert message.startswith("the sets constraining x (Intersection, Box) have no point in common")
    assert "(it misses LinearInequality row 0 (A[0] @ x <= -0.5) by 0.5)" in message


def test_row_multipliers_stop_at_rounding_of_the_terms_x_was_summed_from(monkeypatch):
    """Two rows (sum, mean) with no bound in reach: the multipliers are least squares, l = (A A')^-1 A y. y is the
    negative gradient at which benchmarks/minimize_fresh2.py's maximum-entropy row asked for its tangent cone: x =
    y - A'l is ~0.05 where y is ~2, so rounding leaves ~1e-14 in A x, above a tolerance scaled by |x| alone; the loop
    then went on to its cap of 60 Newton steps, at every step of that run (2.4 s for 14 evaluations)."""
    constraints = importlib.import_module("descend.minimize.constraints")
    steps = []
    real_step = constraints._step
    monkeypatch.setattr(constraints, "_step", lambda *args: steps.append(1) or real_step(*args))
    A = torch.stack([torch.ones(10, dtype=torch.float64), torch.arange(10.0, dtype=torch.float64)])
    y = torch.tensor([2.2890913804145043, 2.1676250386918463, 1.997534477508606, 1.778741211625015, 1.5445481635149623,
                      1.3208405798325034, 1.1171231030388533, 0.9345684913461139, 0.7713634266920015,
                      0.6249693864908918], dtype=torch.float64)
    infinite = torch.full((10,), np.inf, dtype=torch.float64)
    l = constraints._row_multipliers(y, A, torch.zeros(2, dtype=torch.float64), torch.tensor([True, True]),
                                     -infinite, infinite)
    assert torch.allclose(l, torch.linalg.solve(A @ A.T, A @ y), rtol=0, atol=1e-13)
    assert torch.allclose(A @ (y - A.T @ l), torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)
    assert len(steps) <= 2
