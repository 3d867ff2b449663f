"""descend.solve.least_squares: the closed form that iterative fits are checked against."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, Ridge

import descend
from descend import DescendError
from descend.minimize.solve import least_squares


def data(seed=0, rows=60, cols=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols))
    return X, X @ rng.standard_normal(cols) + 0.1 * rng.standard_normal(rows) + 2.0


def test_plain_least_squares_solves_the_normal_equations():
    X, y = data()
    w = least_squares(X, y)
    assert isinstance(w, np.ndarray) and w.shape == (4,)
    assert np.allclose(X.T @ X @ w, X.T @ y, atol=1e-10)


def test_ridge_matches_the_regularized_normal_equations_and_sklearn():
    X, y = data(1)
    w = least_squares(X, y, ridge=3.0)
    assert np.allclose(w, np.linalg.solve(X.T @ X + 3.0 * np.eye(4), X.T @ y), atol=1e-10)
    w, b = least_squares(X, y, ridge=3.0, intercept=True)
    ref = Ridge(alpha=3.0).fit(X, y)
    assert np.allclose(w, ref.coef_, atol=1e-10) and b == pytest.approx(ref.intercept_, abs=1e-10)


def test_ridge_with_more_columns_than_rows_matches_sklearn_in_its_dual_form():
    X, y = data(4, rows=30, cols=400)
    w, b = least_squares(X, y, ridge=2.0, intercept=True)
    ref = Ridge(alpha=2.0).fit(X, y)
    assert np.allclose(w, ref.coef_, atol=1e-9) and b == pytest.approx(ref.intercept_, abs=1e-9)
    Y = torch.tensor(np.stack([y, 2 * y], 1))
    W = least_squares(torch.tensor(X), Y, ridge=2.0)
    assert W.shape == (400, 2) and torch.allclose(W[:, 1], 2 * W[:, 0], atol=1e-9)
    primal = np.linalg.solve(X.T @ X + 2.0 * np.eye(400), X.T @ y)   # the features x features system it avoids
    assert np.allclose(W[:, 0].numpy(), primal, atol=1e-9)


def test_tensors_in_tensors_out_with_several_targets():
    X, y = data(2)
    Y = torch.tensor(np.stack([y, -y], 1))
    w, b = least_squares(torch.tensor(X), Y, intercept=True)
    ref = LinearRegression().fit(X, Y.numpy())
    assert isinstance(w, torch.Tensor) and w.shape == (4, 2)
    assert np.allclose(w.numpy(), ref.coef_.T, atol=1e-10) and np.allclose(b.numpy(), ref.intercept_, atol=1e-10)


def test_minimize_lbfgs_reaches_the_closed_form():
    X, y = data(3)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    res = descend.minimize(lambda w: ((Xt @ w - yt) ** 2).sum() + 0.5 * (w @ w), [0.0] * 4, gtol=1e-10)
    assert np.abs(res.x - least_squares(X, y, ridge=0.5)).max() < 1e-9


@pytest.mark.parametrize("X,y,ridge,words", [
    (np.ones(5), np.ones(5), 0.0, "X must be 2-D"),
    (np.ones((5, 2)), np.ones(4), 0.0, "X has 5 rows, y has shape (4,)"),
    (np.ones((5, 2)), np.ones(5), -1.0, "ridge must be a number >= 0"),
    (np.array([[1.0, np.nan]] * 3), np.ones(3), 0.0, "X contains NaN"),
])
def test_bad_input(X, y, ridge, words):
    with pytest.raises(DescendError, match=words.replace("(", r"\(").replace(")", r"\)")):
        least_squares(X, y, ridge)
