"""A new user's seventh review: what a first session with bounds beside a budget, a mistyped flag, ... ran into."""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize as scipy_minimize

import descend as ds
from descend.cli import main


def _budget_problem(n: int, seed: int):
    rng = np.random.default_rng(seed)
    a, c = rng.uniform(0.5, 4, n), rng.uniform(0.5, 2, n)
    at, ct = torch.tensor(a), torch.tensor(c)
    return a, c, (lambda x: (at * torch.log1p(x / ct)).sum())


def test_bounds_beside_a_budget_that_do_not_bind_take_the_budgets_own_few_steps():
    """Spend 100 over four channels, each between 5 and 50: the bounds hold nowhere at the answer. The budget
    alone converged in 9 steps; with the bounds beside it, L-BFGS had no face to work in and took 2,153."""
    weights = torch.tensor([3.0, 2.0, 4.0, 1.5])

    def revenue(x):
        return (weights * torch.log1p(x)).sum()
    alone = ds.minimize(revenue, [25.0] * 4, constraint=ds.constraints.Simplex(total=100), maximize=True)
    both = ds.minimize(revenue, [25.0] * 4, bounds=[(5, 50)] * 4, constraint=ds.constraints.Simplex(total=100),
                       maximize=True)
    assert both.success and both.nit <= 2 * alone.nit + 5
    np.testing.assert_allclose(both.x, alone.x, atol=1e-4)
    assert float(np.sum(both.x)) == pytest.approx(100.0)


def test_bounds_beside_a_budget_reach_scipys_answer_where_the_bounds_bind():
    a, c, revenue = _budget_problem(12, 1)
    ours = ds.minimize(revenue, [8.0] * 12, bounds=[(4.0, 12.0)] * 12, constraint=ds.constraints.Simplex(total=96),
                       maximize=True, max_steps=5000)
    theirs = scipy_minimize(lambda x: -(a * np.log1p(x / c)).sum(), [8.0] * 12, bounds=[(4.0, 12.0)] * 12,
                            constraints=[{"type": "eq", "fun": lambda x: x.sum() - 96}], method="SLSQP",
                            options={"ftol": 1e-12, "maxiter": 1000})
    assert ours.success and ours.fun == pytest.approx(-theirs.fun, abs=1e-7)
    assert bool(np.all(ours.x >= 4 - 1e-9)) and bool(np.all(ours.x <= 12 + 1e-9))


def test_a_quadratic_under_bounds_and_an_equality_converges_instead_of_failing_at_its_answer():
    """x summing to 1, each in [-5, 5], one bound binding at the answer: L-BFGS's curvature pairs took the gradient's
    change off the face too, its direction stopped pointing downhill, and the run ended 'failed' at step 51."""
    rng = np.random.default_rng(0)
    rng.uniform(size=8)   # the draws of the budget problem before it, as the session's generated list took them
    q = rng.normal(size=(4, 4))
    q = q @ q.T / 4 + 0.1 * np.eye(4)
    b = rng.normal(size=4) * 5
    qt, bt = torch.tensor(q), torch.tensor(b)
    ours = ds.minimize(lambda x: 0.5 * x @ qt @ x - bt @ x, [0.25] * 4, bounds=[(-5.0, 5.0)] * 4,
                       constraint=ds.constraints.Affine(np.ones((1, 4)), [1.0]))
    theirs = scipy_minimize(lambda x: 0.5 * x @ q @ x - b @ x, [0.25] * 4, jac=lambda x: q @ x - b,
                            bounds=[(-5.0, 5.0)] * 4, constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                            method="SLSQP", options={"ftol": 1e-14})
    assert ours.success, ours.message
    assert ours.fun == pytest.approx(theirs.fun, abs=1e-8)
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-4)


@pytest.mark.parametrize("flag, says", [("--epochs", "did you mean --max-epochs?"),
                                        ("--max_epochs", "did you mean --max-epochs?"),
                                        ("--targt", "did you mean --target?"),
                                        ("--output", "did you mean --out?"),
                                        ("--metric", "`descend fit --help` lists its flags")])
def test_a_flag_the_command_lacks_is_answered_with_the_flag_meant(flag, says, tmp_path, capsys):
    """`--epochs 5` (Keras' word) was 'unrecognized arguments: --epochs 5' and nothing more; --metric, close to
    --numeric only in its letters, is sent to the help rather than to a wrong flag."""
    data = tmp_path / "shop.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    with pytest.raises(SystemExit) as stopped:
        main(["fit", str(data), "--target", "y", flag, "5"])
    line = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(line.splitlines()) == 1
    assert line == f"descend: error: unrecognized arguments: {flag} 5; {says}"
    assert not (tmp_path / "runs").exists()


def test_descend_sets_given_as_scipys_constraints_list_are_told_the_argument_is_constraint():
    """constraints=Simplex(total=100) was told it was 'not scipy's constraints= list of {'type': ..., 'fun': ...}',
    which it was not: the set was right, the keyword one letter long."""
    with pytest.raises(TypeError, match=r"^constraints=: the argument is constraint= \(singular\), one set: "
                                        r"constraint=Simplex\(\.\.\.\)$"):
        ds.minimize(lambda x: (x ** 2).sum(), [1.0, 2.0], constraints=ds.constraints.Simplex(total=1))
    with pytest.raises(TypeError, match=r"constraint=Intersection\(Simplex\(\.\.\.\), Box\(\.\.\.\)\)$"):
        ds.minimize(lambda x: (x ** 2).sum(), [1.0, 2.0],
                    constraints=[ds.constraints.Simplex(total=1), ds.constraints.Box(0, 1)])


def test_a_reports_summary_after_a_refit_counts_each_parts_steps_and_names_the_first_runs_lines(tmp_path):
    """After `descend fit` trained again on all training rows, the summary said 'steps 114' beside the first run's
    'stopped because ... best at step 12' and its 0.7 s: the 12 refit steps and the 102 of the stop reason were one
    number, and nothing said the stop and the time were the first run's alone."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    data = tmp_path / "shop.csv"
    data.write_text("x,y\n" + "".join(f"{a:.4f},{2 * a + rng.normal() * 0.1:.4f}\n" for a in x))
    assert main(["fit", str(data), "--target", "y", "--max-epochs", "3", "--out", str(tmp_path / "run")]) == 0
    record = ds.runs.read_run(tmp_path / "run")
    parts = record.history["phase"].fillna("fit").value_counts()
    rows = dict(record.summary_rows())
    assert rows["steps"] == f"{len(record.history)} (fit: {parts['fit']}, refit: {parts['refit']})"
    assert rows["the first run stopped because"] == record.summary["stop_reason"]
    assert rows["the first run took (s)"] == record.summary["elapsed"]
    assert rows["the first run's best step"] == record.summary["best"]["step"]
    assert "stopped because" not in rows and "elapsed (s)" not in rows
