"""Ridge's penalty grid reaches below 0.1: a target carried by the small differences between strongly correlated
columns (as in spectra) needs a penalty that leaves those low-variance directions alone."""
import numpy as np

from descend.apps.tabular import linear


def _correlated_columns(rows: int = 200) -> tuple[np.ndarray, np.ndarray, list]:
    """Twenty standardized columns that share one factor and differ by 1% noise, a target set by the difference of
    the first two, and five folds."""
    rng = np.random.default_rng(0)
    small = 0.01 * rng.normal(size=(rows, 20))
    columns = rng.normal(size=(rows, 1)) + small
    design = (columns - columns.mean(0)) / columns.std(0)
    y = (small[:, 0] - small[:, 1]) / 0.01 + 0.1 * rng.normal(size=rows)
    parts = np.array_split(rng.permutation(rows), 5)
    folds = [(np.concatenate(parts[:i] + parts[i + 1:]), part) for i, part in enumerate(parts)]
    return design, y, folds


def _validation_loss(design: np.ndarray, y: np.ndarray, folds: list, penalty: float) -> float:
    outputs = np.concatenate([linear.fit_linear("mse", design[fit], y[fit], penalty, 1).outputs(design[val])
                              for fit, val in folds])
    truth = np.concatenate([y[val] for _, val in folds])
    return float(np.mean((outputs[:, 0] - truth) ** 2))


def test_the_penalty_choice_reaches_below_a_tenth_where_correlated_columns_carry_the_target():
    design, y, folds = _correlated_columns()
    penalty, _ = linear.choose_penalty("mse", design, y, folds, 1)
    assert min(linear.PENALTIES["mse"]) == 1e-4
    assert penalty <= 1e-3
    chosen, at_a_tenth = (_validation_loss(design, y, folds, p) for p in (penalty, 0.1))
    assert chosen < 0.5 * at_a_tenth   # the grid that started at 0.1 kept more than twice this loss
