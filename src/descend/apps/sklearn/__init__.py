"""scikit-learn estimators that train a torch module with `descend.fit`: `Regressor` and `Classifier`, usable in
Pipelines, cross_val_score and GridSearchCV (published as `descend.sklearn`).

May import: core, optim, doctor, runs, fit.
"""
from .estimators import Classifier, Regressor
from .modules import mlp

__all__ = ["Regressor", "Classifier", "mlp"]
