"""descend.apps.landscape against closed forms: quadratics with a known Hessian, and a small MLP whose full Hessian
torch computes directly."""
from __future__ import annotations

import json

import pytest
import torch

from descend.apps.landscape import (filter_normalized, hessian_trace, interpolate, model_objective,
                                    plot_slice_1d, plot_slice_2d, random_directions, slice_1d, slice_2d,
                                    top_eigenvalues, weights_of)
from descend.apps.landscape.hessian import TRACE_PROBES
from descend.core.errors import DescendError

SHAPES = {"W": (12, 10), "b": (5,)}      # 125 weights: a matrix (filtered) and a vector (left in place)


def flat(params):
    return torch.cat([params[n].reshape(-1) for n in SHAPES])


def quadratic(hessian, linear):
    """f(x) = 0.5 x'Ax + c'x over the flattened weights, with A = `hessian`."""
    return lambda params: 0.5 * flat(params) @ hessian @ flat(params) + linear @ flat(params)


def spectrum_matrix(eigenvalues, seed=0):
    """Q diag(eigenvalues) Q' for a random rotation Q: a Hessian whose spectrum we choose."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g, dtype=torch.float64))
    return q @ torch.diag(eigenvalues) @ q.T


def point(seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(s, generator=g, dtype=torch.float64) for n, s in SHAPES.items()}


def symmetric(n, seed=2):
    a = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (a + a.T) / 2


def test_2d_slice_of_quadratic_equals_closed_form():
    a, c = symmetric(125), torch.randn(125, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    w = point()
    d1, d2 = random_directions(w, 2, seed=4)
    found = slice_2d(quadratic(a, c), w, (d1, d2), span=0.7, steps=9)
    x, u, v = flat(w), flat(d1), flat(d2)
    g = a @ x + c
    al, be = found.alphas[:, None], found.betas[None, :]
    expected = (0.5 * x @ a @ x + c @ x + al * (g @ u) + be * (g @ v)
                + 0.5 * (al ** 2 * (u @ a @ u) + 2 * al * be * (u @ a @ v) + be ** 2 * (v @ a @ v)))
    assert found.losses.shape == (9, 9)
    torch.testing.assert_close(found.losses, expected, rtol=1e-12, atol=1e-9)
    middle = slice_1d(quadratic(a, c), w, d1, span=0.7, steps=9)
    torch.testing.assert_close(middle.losses, found.losses[:, 4], rtol=1e-12, atol=1e-9)


def test_interpolation_of_quadratic_equals_closed_form():
    a, c = symmetric(125), torch.zeros(125, dtype=torch.float64)
    start, end = point(1), point(5)
    found = interpolate(quadratic(a, c), start, end, steps=11, margin=0.5)
    xs = [(1 - t) * flat(start) + t * flat(end) for t in found.alphas]
    torch.testing.assert_close(found.losses, torch.stack([0.5 * x @ a @ x for x in xs]), rtol=1e-12, atol=1e-9)
    assert found.alphas[0] == -0.5 and found.alphas[-1] == 1.5


@pytest.mark.parametrize("k", [1, 3])
def test_top_eigenvalues_match_eigvalsh_on_quadratic(k):
    a = symmetric(125)                   # indefinite, with a crowded top of the spectrum
    found = top_eigenvalues(quadratic(a, torch.zeros(125, dtype=torch.float64)), point(), k=k)
    exact = torch.linalg.eigvalsh(a).flip(0)[:k]
    torch.testing.assert_close(found, exact, rtol=1e-4, atol=0)


@pytest.mark.parametrize("diagonal", [[0.0] * 125, [5.0] * 4 + [2.0] * 121])
def test_top_eigenvalues_go_on_past_an_invariant_subspace(diagonal):
    """A Hessian with two distinct eigenvalues (or none but 0) has a Krylov space of dimension 2 (or 1) from any
    start; the top 3 still include the repeated ones that space misses."""
    a = torch.diag(torch.tensor(diagonal, dtype=torch.float64))
    found = top_eigenvalues(quadratic(a, torch.zeros(125, dtype=torch.float64)), point(), k=3)
    torch.testing.assert_close(found, torch.tensor(sorted(diagonal, reverse=True)[:3], dtype=torch.float64),
                               rtol=1e-10, atol=1e-12)


def mlp_problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).double()
    x = torch.randn(40, 3, dtype=torch.float64)
    y = torch.randn(40, 2, dtype=torch.float64)
    return model, x, y


def test_top_eigenvalues_match_full_hessian_of_mlp():
    model, x, y = mlp_problem()
    objective = model_objective(model, torch.nn.functional.mse_loss, x, y, batch_size=16)
    w = weights_of(model)
    names = list(w)
    sizes = [w[n].numel() for n in names]

    def of_flat(theta):
        return objective({n: p.view_as(w[n]) for n, p in zip(names, torch.split(theta, sizes))})

    full = torch.autograd.functional.hessian(of_flat, torch.cat([w[n].reshape(-1) for n in names]))
    exact = torch.linalg.eigvalsh(full).flip(0)[:3]
    torch.testing.assert_close(top_eigenvalues(objective, w, k=3), exact, rtol=1e-4, atol=0)


def test_trace_within_five_percent_with_documented_probes():
    eigenvalues = torch.linspace(0.0, 10.0, 125, dtype=torch.float64)   # a PSD Hessian, like a trained net's
    a = spectrum_matrix(eigenvalues)
    found = hessian_trace(quadratic(a, torch.zeros(125, dtype=torch.float64)), point())
    exact = float(torch.trace(a))
    assert found.probes == TRACE_PROBES
    assert abs(found.value - exact) <= 0.05 * exact
    assert abs(found.value - exact) <= 4 * found.stderr      # the reported uncertainty is honest


def test_direction_filter_norms_equal_the_weights():
    conv = torch.nn.Conv2d(3, 8, 3)
    lin = torch.nn.Linear(8, 4)
    w = {"conv.weight": conv.weight.detach(), "conv.bias": conv.bias.detach(), "lin.weight": lin.weight.detach()}
    for d in random_directions(w, 2, seed=7):
        for name in ("conv.weight", "lin.weight"):
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), w[name].flatten(1).norm(dim=1))
        assert torch.count_nonzero(d["conv.bias"]) == 0                    # biases stay where they are
    scaled = filter_normalized({n: 5 * t for n, t in w.items()}, w)        # normalizing is idempotent
    torch.testing.assert_close(scaled["lin.weight"], w["lin.weight"])


def test_same_seed_same_directions_and_values():
    model, x, y = mlp_problem()
    objective = model_objective(model, torch.nn.functional.mse_loss, x, y)
    w = weights_of(model)
    runs = [slice_2d(objective, w, random_directions(w, 2, seed=11), steps=5) for _ in range(2)]
    assert torch.equal(runs[0].losses, runs[1].losses)
    other = slice_2d(objective, w, random_directions(w, 2, seed=12), steps=5)
    assert not torch.equal(runs[0].losses, other.losses)
    assert runs[0].losses[2, 2] == pytest.approx(float(objective(w)), rel=1e-12)   # the centre is the weights


def test_batched_objective_equals_one_pass():
    model, x, y = mlp_problem()
    w = weights_of(model)
    one = model_objective(model, torch.nn.functional.mse_loss, x, y, batch_size=len(x))(w)
    batched = model_objective(model, torch.nn.functional.mse_loss, x, y, batch_size=7)(w)
    assert float(batched) == pytest.approx(float(one), rel=1e-12)


def test_pngs_are_written(tmp_path):
    model, x, y = mlp_problem()
    objective = model_objective(model, torch.nn.functional.mse_loss, x, y)
    w = weights_of(model)
    d1, d2 = random_directions(w, 2)
    for path in (plot_slice_2d(slice_2d(objective, w, (d1, d2), steps=7), tmp_path / "plane.png"),
                 plot_slice_1d(slice_1d(objective, w, d1, steps=7), tmp_path / "line.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.png", "plane.png"]    # no temporary left


def test_bad_settings_name_the_setting():
    model, x, y = mlp_problem()
    with pytest.raises(DescendError, match="rows"):
        model_objective(model, torch.nn.functional.mse_loss, x, y[:5])
    w = weights_of(model)
    with pytest.raises(DescendError, match="steps"):
        slice_1d(model_objective(model, torch.nn.functional.mse_loss, x, y), w, w, steps=1)
    with pytest.raises(DescendError, match="k=0"):
        top_eigenvalues(model_objective(model, torch.nn.functional.mse_loss, x, y), w, k=0)


def test_cli_landscape_of_a_saved_run_is_reproducible(saved_run, tmp_path, capsys):
    from descend.cli import main
    data, run = saved_run
    summaries = []
    for out in ("a", "b"):
        assert main(["landscape", str(run), str(data), "--steps", "5", "--rows", "60", "--top-k", "2",
                     "--out", str(tmp_path / out)]) == 0
        summaries.append(json.loads((tmp_path / out / "landscape.json").read_text()))
        assert (tmp_path / out / "plane.png").read_bytes()[:4] == b"\x89PNG"
    first = summaries[0]
    assert first == summaries[1]
    assert first["rows"] == 60 and len(first["plane"]) == 5 and len(first["plane"][0]) == 5
    assert first["plane"][2][2] == pytest.approx(first["loss"], rel=1e-6) == first["line"][2]
    assert first["top_eigenvalues"][0] >= first["top_eigenvalues"][1]
    assert [f["file"] for f in first["figures"]] == ["plane.png", "line.png"]
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["landscape", str(empty), str(data)]) == 2             # not a run folder: one line, exit 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(empty) in err
    for flags, named in ((["--out", str(data)], str(data)), (["--steps", "1"], "steps=1")):
        assert main(["landscape", str(run), str(data), *flags]) == 2    # said before any work, in one line
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err


def test_report_includes_the_landscape_when_it_was_computed(saved_run, tmp_path, capsys):
    import base64
    import shutil
    from descend.cli import main
    data, original = saved_run
    run = tmp_path / "run"
    shutil.copytree(original, run)
    assert main(["report", str(run), "--out", str(tmp_path / "before.html")]) == 0
    assert "id='landscape'" not in (tmp_path / "before.html").read_text()
    assert main(["landscape", str(run), str(data), "--steps", "5", "--rows", "60", "--no-progress"]) == 0
    assert main(["report", str(run)]) == 0
    report = (run / "report.html").read_text()
    page = (run / "landscape" / "landscape.html").read_text()
    capsys.readouterr()
    assert main(["doctor", str(run)]) == 0                             # the doctor quotes the sharpness note
    assert "note from descend landscape: sharpness: lambda_max" in capsys.readouterr().out
    for html in (report, page):
        assert "id='landscape'" in html
        for name in ("plane.png", "line.png"):                        # the PNGs themselves, inlined
            assert base64.b64encode((run / "landscape" / name).read_bytes()).decode() in html


def test_sharpness_note_says_when_the_lr_is_past_the_edge():
    from descend.apps.landscape.note import sharpness_note
    above = sharpness_note(100.0, "sgd", 0.03)                         # edge 2/100 = 0.02
    assert "2/lambda_max = 0.02" in above and "1.5x above it" in above and "below 0.02 is stable" in above
    assert "below it (0.5 of the edge)" in sharpness_note(100.0, "sgd", 0.01)
    assert "preconditioned" in sharpness_note(100.0, "adamw", 0.03)
    assert "no edge" in sharpness_note(0.0, "sgd", 0.01)


def test_landscape_of_a_linear_model_alone_says_there_is_nothing_to_draw(tmp_path, capsys):
    """The bakery's sales are a Poisson regression by construction: validation gives the networks no weight, and the
    landscape refuses in one line instead of failing inside autograd."""
    from descend.cli import main
    from tabular_data import bakery
    data, run = tmp_path / "sales.csv", tmp_path / "run"
    bakery(120).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "loaves", "--out", str(run), "--max-epochs", "5"]) == 0
    capsys.readouterr()
    assert main(["landscape", str(run), str(data), "--steps", "3", "--rows", "40", "--out", str(tmp_path / "l")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"descend: error: {run}: the saved model is the linear model alone (validation gave its networks "
                   "no weight), so its loss does not move with the network weights a landscape walks; there is no "
                   "landscape to draw for this run")
    assert not (tmp_path / "l").exists()
