"""scikit-learn estimators that train torch modules with `descend.fit`: `Regressor` and `Classifier`.

    from descend.sklearn import Regressor
    search = GridSearchCV(make_pipeline(StandardScaler(), Regressor()), {"regressor__lr": [1e-3, 1e-2]})

Every argument of `descend.fit` is a constructor parameter under the same name; the doctor's findings are
`findings_` after fit. See descend.apps.sklearn.
"""
from .apps.sklearn import Classifier, Regressor, mlp

__all__ = ["Regressor", "Classifier", "mlp"]
