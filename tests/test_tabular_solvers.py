"""The tables' own linear models, leak check and scores, written so `descend fit` need not import scikit-learn:
each checked against its optimality conditions and against scikit-learn itself (a dev dependency)."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import roc_auc_score

from descend.apps.tabular import glm
from descend.apps.tabular.evaluate import classification_scores, log_loss, roc_auc
from descend.apps.tabular.checks import feature_predictions


def _data(seed: int, rows: int = 600, width: int = 8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, width))
    x[:, -2:] = rng.integers(0, 2, (rows, 2))   # one-hot-like columns, as in the design matrix
    eta = x @ rng.normal(0, 0.4, width) + 0.3
    return rng, x, eta


def test_ridge_is_scikit_learns_ridge():
    rng, x, eta = _data(0)
    y = eta + rng.normal(size=len(x))
    ours, theirs = glm.ridge(x, y, 10.0), Ridge(alpha=10.0).fit(x, y)
    np.testing.assert_allclose(ours.coef[0], theirs.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.intercept[0], theirs.intercept_, rtol=0, atol=1e-10)


def _one_hot_design(seed: int, rows: int, numbers: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Numbers, a category's one-hot columns and a copy of them (a design of deficient rank), and a target."""
    rng = np.random.default_rng(seed)
    one_hot = np.eye(levels)[rng.integers(0, levels, rows)]
    x = np.hstack([rng.normal(size=(rows, numbers)), one_hot, one_hot])
    return x, x @ rng.normal(size=x.shape[1]) + rng.normal(size=rows)


@pytest.mark.parametrize("rows, numbers, levels", [(300, 5, 12), (40, 30, 25)], ids=["tall", "wide"])
def test_ridge_path_is_a_direct_solve_at_every_penalty(rows, numbers, levels):
    x, y = _one_hot_design(3, rows, numbers, levels)
    assert np.linalg.matrix_rank(x) < x.shape[1]   # duplicated columns (and, wide, more columns than rows)
    alphas = (1e-3, 0.1, 10.0, 1e4, 1e6)
    for alpha, path in zip(alphas, glm.ridge_path(x, y, alphas)):
        direct = glm.ridge(x, y, alpha)
        scale = np.abs(direct.outputs(x)).max()
        np.testing.assert_allclose(path.outputs(x), direct.outputs(x), rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(path.coef, direct.coef, rtol=0, atol=1e-9 * np.abs(direct.coef).max())
    duplicated = glm.ridge_path(x, y, (1.0,))[0].coef[0, numbers:]
    np.testing.assert_allclose(duplicated[:levels], duplicated[levels:], atol=1e-12)   # a copy shares its weight


def test_ridge_path_refuses_a_zero_penalty_by_name():
    x, y = _one_hot_design(4, 50, 2, 3)
    with pytest.raises(ValueError, match="penalties > 0"):
        glm.ridge_path(x, y, (0.0, 1.0))


@pytest.mark.parametrize("alpha", [1e-4, 1e-2, 1.0])
def test_poisson_regression_meets_its_optimality_conditions_and_scikit_learns_answer(alpha):
    rng, x, eta = _data(1)
    counts = rng.poisson(np.exp(eta))
    fit = glm.poisson(x, counts, alpha)
    mean = np.exp(fit.outputs(x)[:, 0])
    gradient = x.T @ (mean - counts) / len(x) + alpha * fit.coef[0]   # of mean(mu - y eta) + alpha/2 |w|^2
    assert np.abs(gradient).max() < 1e-5 and abs(np.mean(mean - counts)) < 1e-5
    theirs = PoissonRegressor(alpha=alpha, max_iter=300).fit(x, counts)
    np.testing.assert_allclose(fit.coef[0], theirs.coef_, atol=1e-3)
    np.testing.assert_allclose(fit.intercept[0], theirs.intercept_, atol=1e-3)


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("C", [100.0, 1.0, 0.01])
def test_logistic_regression_meets_its_optimality_conditions_and_scikit_learns_answer(classes, C):
    rng, x, eta = _data(2)
    labels = np.digitize(eta + rng.normal(0, 0.7, len(x)), np.quantile(eta, np.linspace(0, 1, classes + 1)[1:-1]))
    labels = labels * 3 + 1   # any integer labels
    fit = glm.logistic(x, labels, C)
    assert list(fit.classes) == sorted(set(labels))
    probs = fit.probabilities(x)
    truth = (labels[:, None] == fit.classes[None, :]).astype(float)
    residual = (probs - truth)[:, 1:] if classes == 2 else probs - truth   # two classes: one logit, the second's
    gradient = x.T @ residual / len(x) + fit.coef.T / (C * len(x))
    assert np.abs(gradient).max() < 1e-5 and np.abs(residual.mean(axis=0)).max() < 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LogisticRegression(C=C, max_iter=2000).fit(x, labels)
    np.testing.assert_allclose(probs, theirs.predict_proba(x), atol=5e-3)


def test_one_feature_follows_a_curved_answer_between_its_values_and_holds_it_flat_past_them():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, 500).round(2)   # ties among values, as real columns have
    new = np.array([0.505, 1.0, 2.2, 2.875, -1.0, 9.0])
    predicted = feature_predictions(x, np.exp(x), new, classes=False)
    np.testing.assert_allclose(predicted[:4], np.exp(new[:4]), rtol=1e-3)   # the chord between values 0.01 apart
    assert predicted[4] == pytest.approx(np.exp(x.min())) and predicted[5] == pytest.approx(np.exp(x.max()))


def test_one_feature_gives_the_nearest_values_most_frequent_label():
    x = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 5.0, 5.0, 5.0])
    labels = np.array(["a", "a", "b", "b", "b", "c", "a", "c"])
    predicted = feature_predictions(x, labels, np.array([-3.0, 0.4, 0.6, 2.9, 3.1, 40.0]), classes=True)
    assert predicted.tolist() == ["a", "a", "b", "b", "c", "c"]
    assert feature_predictions(np.ones(4), np.array([2, 2, 7, 2]), np.array([0.0, 9.0]), True).tolist() == [2, 2]


def test_log_loss_and_auc_are_scikit_learns():
    rng = np.random.default_rng(3)
    for classes in (2, 3, 5):
        probs = rng.dirichlet(np.ones(classes), 400).round(2)   # ties among scores
        probs /= probs.sum(axis=1, keepdims=True)
        y = rng.integers(0, classes, 400)
        assert log_loss(y, np.clip(probs, 1e-7, 1)) == pytest.approx(
            sklearn_log_loss(y, np.clip(probs, 1e-7, 1), labels=list(range(classes))), rel=1e-12)
        expected = roc_auc_score(y, probs[:, 1]) if classes == 2 else roc_auc_score(   # as normalized there
            y, probs / probs.sum(axis=1, keepdims=True), multi_class="ovr", labels=list(range(classes)))
        assert classification_scores(y, probs)["roc_auc"] == pytest.approx(expected, rel=1e-12)
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9])) == pytest.approx(0.875)   # a tie: half


def test_fitting_a_table_imports_neither_scikit_learn_nor_scipy_nor_torch_dynamo(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "small.csv"
    x = rng.normal(size=(80, 2))
    lines = ["a,b,kind,y"] + [f"{a:.3f},{b:.3f},{'pq'[int(a > b)]},{a + b:.3f}" for a, b in x]
    data.write_text("\n".join(lines) + "\n")
    probe = ("import json, sys\nfrom descend.cli import main\n"
             f"for target in ('y', 'kind'):\n"   # squared error, then two classes
             f"    out = {str(tmp_path)!r} + target\n"
             f"    assert main(['fit', {str(data)!r}, '--target', target, '--max-epochs', '2', '--out', out]) == 0\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "torch" in loaded and not loaded & {"sklearn", "scipy", "matplotlib", "torch._dynamo"}, \
        sorted(loaded & {"sklearn", "scipy", "matplotlib", "torch._dynamo"})


def test_a_design_too_wide_for_newton_is_fitted_by_scikit_learn_to_the_same_model():
    rng, x, eta = _data(4, rows=1500, width=60)
    labels = np.digitize(eta, np.quantile(eta, [0.25, 0.5, 0.75]))
    assert glm._too_wide(len(x), 4 * 61)   # four classes: 244 parameters, a Hessian of 9e7 multiply-adds
    wide, narrow = glm.logistic(x, labels, 1.0), glm.logistic(x[:200], labels[:200], 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LogisticRegression(C=1.0, max_iter=500).fit(x, labels)
    np.testing.assert_array_equal(wide.coef, theirs.coef_)
    assert not glm._too_wide(200, 4 * 61) and narrow.coef.shape == (4, 60)


def test_a_poisson_design_too_wide_for_newton_is_scikit_learns_poisson_regression():
    rng, x, eta = _data(5, rows=3000, width=130)
    counts = rng.poisson(np.exp(0.3 * eta))
    assert glm._too_wide(len(x), 131)
    theirs = PoissonRegressor(alpha=0.01, max_iter=300).fit(x, counts)
    fit = glm.poisson(x, counts, 0.01)
    np.testing.assert_array_equal(fit.coef[0], theirs.coef_)
    assert fit.intercept[0] == theirs.intercept_
