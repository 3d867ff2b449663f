"""A small decision tree grown best first, as scikit-learn's DecisionTreeRegressor / DecisionTreeClassifier grow
one with max_leaf_nodes and min_samples_leaf: the leaf whose best split lowers the impurity (squared error, or
Gini for classes) the most is split next, thresholds halfway between neighbouring values (float32, as there).
Its predictions are scikit-learn's except where two features split a node equally well (scikit-learn takes them
in a random order, this tree in column order). The leak check fits one per input column; writing it here spares
every `descend fit` importing scikit-learn.
"""
from __future__ import annotations

import heapq
import itertools

import numpy as np

SAME = 1e-7   # values closer than this are not split apart (scikit-learn's FEATURE_THRESHOLD)


def tree_predictions(x_fit: np.ndarray, y_fit: np.ndarray, x_new: np.ndarray, classes: bool, leaves: int,
                     min_leaf: int) -> np.ndarray:
    """Predictions for `x_new` of a tree of at most `leaves` leaves, each holding at least `min_leaf` of the fit
    rows: the leaf's mean, or its most frequent label (for `classes`)."""
    x_fit, x_new = np.asarray(x_fit, np.float32).reshape(len(x_fit), -1), np.asarray(x_new, np.float32)
    x_new = x_new.reshape(len(x_new), -1)
    labels, codes = np.unique(y_fit, return_inverse=True) if classes else (None, None)
    targets = np.eye(len(labels))[codes] if classes else np.asarray(y_fit, np.float64)[:, None]
    frontier, final, order = [], [], itertools.count()
    push = lambda rows, reach: _push(frontier, next(order), x_fit[rows], targets[rows], rows, reach, classes, min_leaf,
                                     len(x_fit))
    push(np.arange(len(x_fit)), np.ones(len(x_new), bool))
    while frontier and len(frontier) + len(final) < leaves:
        _, _, rows, reach, split = heapq.heappop(frontier)
        if split is None:
            final.append((rows, reach))
            continue
        feature, threshold = split
        left = x_fit[rows, feature] <= threshold
        goes_left = x_new[:, feature] <= threshold
        for side, new_side in ((left, goes_left), (~left, ~goes_left)):
            push(rows[side], reach & new_side)
    out = np.empty(len(x_new), dtype=labels.dtype if classes else np.float64)
    for _, _, rows, reach, _ in frontier:
        final.append((rows, reach))
    for rows, reach in final:
        value = targets[rows].sum(axis=0)
        out[reach] = labels[np.argmax(value)] if classes else value[0] / len(rows)
    return out


def _push(frontier: list, number: int, x: np.ndarray, targets: np.ndarray, rows: np.ndarray, reach: np.ndarray,
          classes: bool, min_leaf: int, total: int) -> None:
    """Put a node (`rows` of the fit rows, `reach`: the new rows that land in it) on the frontier, keyed by how
    much its best split lowers the impurity weighted by its share of rows (a node that cannot be split comes
    first: it is final either way); `number` orders equal keys by age."""
    gain, split = _best_split(x, targets, classes, min_leaf)
    key = -np.inf if split is None else -gain * len(rows) / total
    heapq.heappush(frontier, (key, number, rows, reach, split))


def _impurity(sums: np.ndarray, counts: np.ndarray, squares: np.ndarray | None) -> np.ndarray:
    """Gini (from class counts) or variance (from sums and sums of squares) per candidate."""
    if squares is None:
        return 1.0 - np.sum((sums / counts[:, None]) ** 2, axis=1)
    return squares / counts - (sums[:, 0] / counts) ** 2


def _best_split(x: np.ndarray, targets: np.ndarray, classes: bool, min_leaf: int) -> tuple[float, tuple | None]:
    """(impurity decrease, (feature, threshold)) of the node's best split; (0, None) when none is allowed."""
    n = len(x)
    squares_all = None if classes else float(np.sum(targets[:, 0] ** 2))
    parent = _impurity(targets.sum(axis=0)[None], np.array([n]), None if classes else np.array([squares_all]))[0]
    if n < 2 * min_leaf or parent <= np.finfo(np.float64).eps:
        return 0.0, None
    best = (-np.inf, None, 0.0)
    for feature in range(x.shape[1]):
        order = np.argsort(x[:, feature], kind="stable")
        values, sorted_targets = x[order, feature], targets[order]
        cut = np.arange(min_leaf, n - min_leaf + 1)   # left: the first `cut` rows
        cut = cut[values[cut] > values[cut - 1] + SAME]
        if not len(cut):
            continue
        left = np.cumsum(sorted_targets, axis=0)[cut - 1]
        right = sorted_targets.sum(axis=0) - left
        proxy = np.sum(left ** 2, axis=1) / cut + np.sum(right ** 2, axis=1) / (n - cut)
        i = int(np.argmax(proxy))
        if proxy[i] > best[0]:
            threshold = values[cut[i] - 1] / 2.0 + values[cut[i]] / 2.0
            if threshold == values[cut[i]]:
                threshold = values[cut[i] - 1]
            best = (proxy[i], (feature, float(threshold)), _children_impurity(sorted_targets, cut[i], classes))
    if best[1] is None:
        return 0.0, None
    return parent - best[2], best[1]


def _children_impurity(sorted_targets: np.ndarray, cut: int, classes: bool) -> float:
    """The rows-weighted impurity of the two children of a split after the first `cut` sorted rows."""
    n, total = len(sorted_targets), 0.0
    for part in (sorted_targets[:cut], sorted_targets[cut:]):
        squares = None if classes else np.array([np.sum(part[:, 0] ** 2)])
        total += len(part) / n * _impurity(part.sum(axis=0)[None], np.array([len(part)]), squares)[0]
    return total
