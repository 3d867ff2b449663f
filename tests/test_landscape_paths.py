"""Optimizer paths, their PCA plane, sharpness over a run, minimize runs over contours: against closed forms
(points on a known plane, gradient descent on a quadratic, a linear model's constant Hessian)."""
from __future__ import annotations

import io

import pytest
import torch

import descend as ds
from descend.apps import landscape as ls
from descend.core.errors import DescendError
from descend.fit.progress import WorkBar
from descend.minimize.constraints import Simplex


def orthonormal(n, k, seed=0):
    q, _ = torch.linalg.qr(torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q.T


def test_pca_plane_recovers_a_known_plane_and_coordinates():
    u, v = orthonormal(30, 2)
    center = torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    coords = torch.tensor([[4.0, 1.0], [3.0, -1.0], [1.5, 0.5], [0.5, -0.2], [0.0, 0.0]], dtype=torch.float64)
    points = [{"w": (center + a * u + b * v).reshape(5, 6)} for a, b in coords]
    plane = ls.pca_plane(points)
    d1, d2 = (d["w"].reshape(-1) for d in plane.directions)
    assert float(d1 @ d1) == pytest.approx(1) and float(d2 @ d2) == pytest.approx(1)
    assert float(d1 @ d2) == pytest.approx(0, abs=1e-12)
    basis = torch.stack([u, v])
    for d in (d1, d2):                                    # each direction lies in span{u, v}
        torch.testing.assert_close(basis.T @ (basis @ d), d)
    rebuilt = center + plane.coordinates @ torch.stack([d1, d2])
    torch.testing.assert_close(rebuilt, torch.stack([p["w"].reshape(-1) for p in points]))
    assert sum(plane.explained) == pytest.approx(1.0)
    assert plane.explained[0] > plane.explained[1]


def test_pca_plane_refuses_too_few_or_collinear_points():
    w = {"w": torch.zeros(4, dtype=torch.float64)}
    with pytest.raises(DescendError, match="at least 3"):
        ls.pca_plane([w, w])
    line = [{"w": torch.full((4,), float(t), dtype=torch.float64)} for t in range(4)]
    with pytest.raises(DescendError, match="one line"):
        ls.pca_plane(line)


def test_path_plane_of_quadratic_equals_closed_form_and_covers_the_path():
    a = orthonormal(8, 8, seed=3).T @ torch.diag(torch.linspace(1, 5, 8, dtype=torch.float64)) @ orthonormal(8, 8, 3)
    f = lambda p: 0.5 * p["x"] @ a @ p["x"]                                            # noqa: E731
    points = [{"x": torch.randn(8, generator=torch.Generator().manual_seed(s), dtype=torch.float64)} for s in range(5)]
    plane = ls.pca_plane(points)
    found = ls.path_plane(f, plane, steps=7, margin=0.1)
    d1, d2 = plane.directions[0]["x"], plane.directions[1]["x"]
    c = plane.center["x"]
    for i, al in enumerate(found.alphas):
        for j, be in enumerate(found.betas):
            x = c + al * d1 + be * d2
            assert float(found.losses[i, j]) == pytest.approx(float(0.5 * x @ a @ x), rel=1e-12)
    for column, axis in zip(plane.coordinates.T, (found.alphas, found.betas)):
        assert float(axis[0]) < float(column.min()) and float(column.max()) < float(axis[-1])


def linear_problem(rows=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(rows, 1, generator=g)
    return x, y


def test_weight_path_records_full_batch_gradient_descent_exactly():
    x, y = linear_problem()
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    path = ls.WeightPath(model, every=5)
    ds.fit(model, (x, y), loss="mse", optimizer="sgd", lr=0.1, batch_size=len(x), max_steps=23, callbacks=[path],
           progress=False, doctor=False)
    assert path.steps == [0, 5, 10, 15, 20, 23]
    assert path.lrs == [0.1] * 6
    w, b = start["weight"].clone(), start["bias"].clone()        # the same steps by hand
    by_hand = {0: (w.clone(), b.clone())}
    for step in range(1, 24):
        residual = x @ w.T + b - y
        w, b = w - 0.1 * 2 * residual.T @ x / len(x), b - 0.1 * 2 * residual.mean(0)
        by_hand[step] = (w.clone(), b.clone())
    for step, point in zip(path.steps, path.points):
        torch.testing.assert_close(point["weight"], by_hand[step][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(point["bias"], by_hand[step][1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(path.points[-1]["weight"], model.weight.detach())


def test_sharpness_history_of_linear_model_is_its_constant_hessian_and_predicts_divergence():
    x, y = linear_problem()
    design = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    lam = float(torch.linalg.eigvalsh(2 * design.T @ design / len(x)).max())   # MSE's Hessian: 2 X'X / N
    results = {}
    for name, lr in (("stable", 0.9 * 2 / lam), ("unstable", 1.1 * 2 / lam)):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        path = ls.WeightPath(model, every=10)
        fit = ds.fit(model, (x, y), loss="mse", optimizer="sgd", lr=lr, batch_size=len(x), max_steps=60,
                     callbacks=[path], progress=False, doctor=False)
        objective = ls.model_objective(model, torch.nn.functional.mse_loss, x, y)
        results[name] = (ls.sharpness_history(objective, path.points, path.steps, path.lrs), fit.history)
    stable, unstable = results["stable"][0], results["unstable"][0]
    assert stable.sharpness == pytest.approx([lam] * len(stable.steps), rel=1e-4)
    assert stable.edge == pytest.approx([2 / (0.9 * 2 / lam)] * len(stable.steps))
    assert stable.above_edge() == [] and unstable.above_edge() == unstable.steps
    losses = [r["loss"] for r in results["unstable"][1]]
    assert losses[-1] > 10 * losses[10]                       # above the edge, gradient descent diverged


def gd_on_quadratic(a, x0, lr, steps):
    xs = [torch.tensor(x0, dtype=torch.float64)]
    for _ in range(steps):
        xs.append(xs[-1] - lr * a @ xs[-1])
    return torch.stack(xs)


def test_trace_keeps_every_iterate():
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    f = lambda x: 0.5 * x @ a @ x                                                     # noqa: E731
    run = ls.trace(f, [1.0, -2.0], "gd", method="gd", lr=0.1, max_steps=15)
    torch.testing.assert_close(run.points, gd_on_quadratic(a, [1.0, -2.0], 0.1, 15))
    lbfgs = ls.trace(f, [1.0, -2.0])
    assert lbfgs.label == "lbfgs" and len(lbfgs.points) == lbfgs.result.nit + 1
    torch.testing.assert_close(lbfgs.points[-1], torch.as_tensor(lbfgs.result.x, dtype=torch.float64))
    with pytest.raises(DescendError, match="flat vector"):
        ls.trace(f, [[1.0, 2.0]])


def test_contours_in_2d_and_in_the_plane_of_a_larger_problem():
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    f = lambda x: 0.5 * x @ a @ x                                                     # noqa: E731
    runs = [ls.trace(f, [1.0, -2.0], "gd", method="gd", lr=0.1, max_steps=10)]
    found = ls.contours(f, runs, steps=5, lower=[-1, -2], upper=[1, 2])
    assert found.axes == ("x[0]", "x[1]") and found.feasible is None
    for i, u in enumerate(found.grid.alphas):
        for j, v in enumerate(found.grid.betas):
            assert float(found.grid.losses[i, j]) == pytest.approx(float(f(torch.stack([u, v]))), rel=1e-12)
    torch.testing.assert_close(found.paths["gd"], runs[0].points)
    big = torch.diag(torch.linspace(1, 3, 6, dtype=torch.float64))
    g = lambda x: 0.5 * x @ big @ x                                                   # noqa: E731
    six = [ls.trace(g, [1.0, -1, 2, 0.5, -0.5, 1], "gd", method="gd", lr=0.2, max_steps=8),
           ls.trace(g, [-1.0, 1, 1, 1, 0.5, -1], "momentum", method="momentum", lr=0.05, max_steps=8)]
    plane = ls.contours(g, six, steps=4)
    center = six[-1].points[-1]
    assert plane.axes[0].startswith("principal direction 1")
    d = ls.pca_plane([{"x": p} for r in six for p in r.points], center={"x": center}).directions
    u, v = plane.grid.alphas[1], plane.grid.betas[2]
    point = center + u * d[0]["x"] + v * d[1]["x"]
    assert float(plane.grid.losses[1, 2]) == pytest.approx(float(g(point)), rel=1e-10)


def test_constraint_is_shaded_where_x_is_not_allowed():
    f = lambda x: (x ** 2).sum()                                                      # noqa: E731
    runs = [ls.trace(f, [0.4, 0.4], "gd", method="gd", lr=0.1, max_steps=3, constraint=Simplex(1.0, at_most=True))]
    found = ls.contours(f, runs, steps=9, lower=[-0.5, -0.5], upper=[1.5, 1.5], constraint=Simplex(1.0, at_most=True))
    al, be = found.grid.alphas[:, None], found.grid.betas[None, :]
    expected = (al >= 0) & (be >= 0) & (al + be <= 1 + 1e-12)
    assert torch.equal(found.feasible, expected)
    with pytest.raises(DescendError, match="2-D"):
        three = [ls.trace(f, [0.4, 0.4, 0.1], "gd", method="gd", lr=0.1, max_steps=3)]
        ls.contours(f, three, constraint=Simplex(1.0))


def test_work_bar_lines_in_logs_and_silence_when_off():
    stream = io.StringIO()
    with WorkBar(10, "grid", progress=4, stream=stream) as bar:
        for _ in range(10):
            bar.advance()
    assert [line.split()[1] for line in stream.getvalue().splitlines()] == ["4/10", "8/10"]
    quiet = io.StringIO()
    with WorkBar(10, "grid", progress=False, stream=quiet) as bar:
        bar.advance(10)
    assert quiet.getvalue() == ""
    with pytest.raises(DescendError, match="progress"):
        WorkBar(10, "grid", progress=0)


def test_pictures_and_page_are_written(tmp_path):
    f = lambda x: (1 - x[0]) ** 2 + 10 * (x[1] - x[0] ** 2) ** 2                       # noqa: E731
    folder = ls.LandscapeFolder(tmp_path / "out")
    runs = [ls.trace(f, [-1.0, 1.0], "lbfgs"), ls.trace(f, [-1.0, 1.0], "gd", method="gd", lr=0.01, max_steps=50)]
    ls.draw_runs(f, runs, folder.picture("runs.png", "runs", "two runs"), "a valley", steps=21)
    page = folder.finish({"steps": 50}, ["a note"], {"extra": [1, 2]})
    assert (tmp_path / "out" / "runs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    assert "data:image/png;base64," in html and "a note" in html and "two runs" in html
    assert "http" not in html.replace("<!doctype html>", "")          # nothing fetched from anywhere


def test_colour_scale_is_not_taken_by_one_exact_minimum():
    from descend.apps.landscape.plots import _scaled
    u = torch.linspace(-2, 2, 101, dtype=torch.float64)
    bowl = u[:, None] ** 2 + 3 * u[None, :] ** 2          # 0 at one grid point, 16 at the corners
    shown, label = _scaled(bowl, "f(x)")
    assert label == "log10 f(x)"
    assert float(shown.min()) > -3                         # floored at the lowest hundredth, not log10(0)
    assert float(shown.max()) == pytest.approx(float(torch.log10(bowl.max())))
    valley = u[:, None] ** 2 + 100 * (u[None, :] - u[:, None] ** 2) ** 2 + 1e3   # a narrow valley high up
    assert _scaled(valley, "f")[1] == "log10(f - lowest)"
    assert _scaled(torch.rand(5, 5, dtype=torch.float64) + 1, "loss")[1] == "loss"
