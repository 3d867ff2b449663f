"""Scores on held-out rows and the comparison table printed at the end of a run."""
from __future__ import annotations

import math

import numpy as np

from .target import Target

REGRESSION = ("rmse", "mae", "r2")
CLASSIFICATION = ("accuracy", "log_loss", "roc_auc")
LOWER_IS_BETTER = {"rmse": True, "mae": True, "r2": False, "accuracy": False, "log_loss": True, "roc_auc": False}
# why a score can be n/a: the rows scored lack what it measures (see regression_scores, classification_scores)
UNDEFINED = {"r2": "every row scored has the same target value, so there is no spread for a model to explain",
             "roc_auc": "the rows scored hold one class only, so there is no pair of classes to rank"}


def regression_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R2 (1 - residual variance / target variance) of predictions in the target's units."""
    err = pred - y
    spread = float(np.sum((y - y.mean()) ** 2))
    return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err ** 2)) / spread if spread > 0 else math.nan}


def classification_scores(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, log-loss and ROC AUC (one-vs-rest, macro, for more than two classes) from class probabilities."""
    y = y.astype(int)
    scores = {"accuracy": float(np.mean(probs.argmax(axis=1) == y)),
              "log_loss": log_loss(y, np.clip(probs, 1e-7, 1.0))}
    if len(np.unique(y)) < 2:
        scores["roc_auc"] = math.nan
    elif probs.shape[1] == 2:
        scores["roc_auc"] = roc_auc(y == 1, probs[:, 1])
    else:   # one class against the rest, averaged over the classes present (probabilities renormalized over them)
        present = np.unique(y)
        sub = probs[:, present] / probs[:, present].sum(axis=1, keepdims=True)
        scores["roc_auc"] = float(np.mean([roc_auc(y == label, sub[:, i]) for i, label in enumerate(present)])) \
            if len(present) > 2 else roc_auc(y == present[1], sub[:, 1])
    return scores


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-probability of each row's class (probabilities kept within float eps of 0 and 1, as
    scikit-learn's log_loss keeps them)."""
    eps = np.finfo(probs.dtype).eps if probs.dtype.kind == "f" else np.finfo(np.float64).eps
    return float(-np.mean(np.log(np.clip(probs, eps, 1 - eps)[np.arange(len(y)), y])))


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive row scores above a random negative one, ties
    counting half (the Mann-Whitney U statistic over both counts)."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    ends = np.r_[starts[1:], len(score)]
    ranks = np.empty(len(score))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)   # tied scores share their mean rank
    pos = int(np.sum(positive))
    neg = len(score) - pos
    return float((ranks[positive.astype(bool)].sum() - pos * (pos + 1) / 2) / (pos * neg))


def scores(target: Target, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The task's scores for targets `y` (values or class indices) and predictions from Target.decode."""
    return classification_scores(y, pred) if target.task == "classification" else regression_scores(y, pred)


def table(rows: dict[str, dict[str, float]]) -> str:
    """A plain text table: one line per model, one column per score, with which direction is better."""
    names = list(next(iter(rows.values())))
    width = max(len(r) for r in rows) + 2
    arrows = {n: f"{n.upper() if n in ('rmse', 'mae') else n} {'(lower better)' if LOWER_IS_BETTER[n] else '(higher better)'}"
              for n in names}
    cols = [max(len(arrows[n]), 10) + 2 for n in names]
    lines = ["".ljust(width) + "".join(arrows[n].rjust(c) for n, c in zip(names, cols))]
    for label, row in rows.items():
        cells = ["n/a" if math.isnan(row[n]) else f"{row[n]:.4g}" for n in names]
        lines.append(label.ljust(width) + "".join(cell.rjust(c) for cell, c in zip(cells, cols)))
    lines += [f"{n} n/a: {UNDEFINED[n]}" for n in names
              if n in UNDEFINED and all(math.isnan(row[n]) for row in rows.values())]
    return "\n".join(lines)


def _change(name: str, ours: float, theirs: float) -> str:
    """'RMSE 54.2 vs 61 (11% lower: better)': one score against a baseline's, with which way is better."""
    label = {"rmse": "RMSE", "log_loss": "log-loss", "accuracy": "accuracy", "roc_auc": "AUC"}[name]
    shown = f"{label} {ours:.4g} vs {theirs:.4g}"
    if ours == theirs:
        return f"{shown} (the same)"
    if f"{ours:.4g}" == f"{theirs:.4g}":   # float rounding apart (a blend that gave the linear model all weight)
        return f"{shown} (the same to the digits shown)"
    better = (ours < theirs) == LOWER_IS_BETTER[name]
    if name in ("accuracy", "roc_auc"):
        size = f"{100 * abs(ours - theirs):.1f} points"
    else:
        share = 100 * abs(ours - theirs) / abs(theirs) if theirs else math.inf
        size = f"{share:.1f}%" if share < 10 else f"{share:.0f}%"
    return f"{shown} ({size} {'lower' if ours < theirs else 'higher'}: {'better' if better else 'worse'})"


def in_words(rows: dict[str, dict[str, float]]) -> list[str]:
    """One sentence per baseline: how the first row (the trained model) compares on the scores people read
    first (RMSE; accuracy and log-loss for classes), each said as better or worse; nothing without scores."""
    if not rows:
        return []
    (_, model), *baselines = rows.items()
    names = ("rmse",) if "rmse" in model else ("accuracy", "log_loss")
    return [f"against {label}: " + ", ".join(_change(n, model[n], other[n]) for n in names
                                            if math.isfinite(model[n]) and math.isfinite(other[n]))
            for label, other in baselines]
