"""`Regressor` and `Classifier`: scikit-learn estimators whose `fit` is `descend.fit` on a torch module.

Every argument of `descend.fit` but the data and the model is a constructor parameter under the same name
(`FIT_OPTIONS`, read from FitSpec so a new fit argument cannot be missed), beside scikit-learn's own: the module,
`hidden_layer_sizes` and `activation` of the default MLP, `validation_fraction` and `warm_start`. Input checks,
tags, `check_is_fitted`, `score` and cloning are scikit-learn's own machinery.
"""
from __future__ import annotations

import copy
from dataclasses import fields

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ...core.errors import DescendError, DescendTypeError
from ...doctor import Findings
from ...fit import FitResult, fit
from ...fit.spec import FitSpec
from . import modules

SUPPLIED = ("model", "train", "val", "resume")   # fit arguments the estimator supplies itself
FIT_OPTIONS = tuple(f.name for f in fields(FitSpec) if f.init and f.name not in SUPPLIED)
CONTINUE_LR = 0.3   # partial_fit and warm_start go on at this share of the first fit's lr, as `descend update` does:
                    # the first run's schedule ended low, and its full lr would throw the weights off their minimum
PREDICT_ROWS = 8192  # rows per forward pass at prediction


class _Estimator(BaseEstimator):
    """What Regressor and Classifier share: the parameters, training (fresh, warm, partial) and the outputs."""

    default_loss: str

    def __init__(self, module=None, *, hidden_layer_sizes=(128, 64), activation="relu", validation_fraction=None,
                 warm_start=False, loss=None, optimizer="auto", lr=None, schedule=None, batch_size=64,
                 max_epochs=None, max_steps=None, stop=(), grad_clip=None, accumulate=1, weight_decay=None,
                 decay_norms_and_biases=False, init=None, seed=0, device="cpu", callbacks=(), progress=False,
                 metrics=(), eval_every=None, doctor=True, run_dir=None, checkpoint_every=None, precision="fp32",
                 compile=False, threads="auto"):
        vars(self).update({name: value for name, value in locals().items() if name != "self"})  # scikit-learn:
        # parameters are stored as given and checked when fit runs

    def fit(self, X, y) -> "_Estimator":
        """Train a fresh module on (X, y); with warm_start=True and an earlier fit, go on from its weights."""
        continuing = self.warm_start and hasattr(self, "model_")
        x, target = self._training_data(X, y, first=not continuing)
        self._train(x, target, continuing=continuing)
        return self

    def _partial_fit(self, X, y, classes=None) -> "_Estimator":
        """One epoch over (X, y), from the current weights when fitted (see CONTINUE_LR), else from fresh ones."""
        first = not hasattr(self, "model_")
        x, target = self._training_data(X, y, first=first, classes=classes)
        self._train(x, target, continuing=not first, epochs=1)
        return self

    def _train(self, x: np.ndarray, target: np.ndarray, *, continuing: bool, epochs: int | None = None) -> None:
        if not isinstance(self.optimizer, str):
            raise DescendTypeError(f"optimizer must be a name such as 'adamw' or 'auto' (an estimator builds its "
                                   f"module at fit, so an Optimizer instance has nothing to train), got "
                                   f"{type(self.optimizer).__name__}")
        settings = {name: getattr(self, name) for name in FIT_OPTIONS}
        settings.update(loss=self.default_loss if self.loss is None else self.loss,
                        stop=copy.deepcopy(list(self.stop)))   # rules keep per-run memory; the parameter stays as given
        if continuing:
            settings.update(optimizer=self.optimizer_, lr=None if self.lr_ is None else self.lr_ * CONTINUE_LR,
                            init=None)
            model = self.model_
        else:
            torch.manual_seed(self.seed)   # the same seed builds the same initial weights (fit seeds the same way)
            model = modules.build(self.module, x.shape[1], self._outputs_count(), self.hidden_layer_sizes,
                                  self.activation)
        if epochs is not None:
            settings.update(max_epochs=epochs, max_steps=None)
        train, val = self._split(_tensor(x), self._target_tensor(target))
        self._keep(fit(model, train, val=val, **settings), continuing)   # a fit that fails leaves the estimator
        # as it was (unfitted, or fitted before)

    def _split(self, x: torch.Tensor, y: torch.Tensor) -> tuple[tuple, tuple | None]:
        """(train, val): a seeded random `validation_fraction` of the rows validates (for Patience, the doctor and
        metrics), or no validation rows."""
        fraction = self.validation_fraction
        if fraction is None:
            return (x, y), None
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise DescendError(f"validation_fraction must be None or a number between 0 and 1, got {fraction!r}")
        n_val = int(round(fraction * len(x)))
        if not 1 <= n_val < len(x):
            raise DescendError(f"validation_fraction={fraction} of {len(x)} rows leaves {n_val} validation and "
                               f"{len(x) - n_val} training rows; both need at least one: give more rows or another "
                               "fraction")
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
        val, train = order[:n_val], order[n_val:]
        return (x[train], y[train]), (x[val], y[val])

    def _keep(self, result: FitResult, continuing: bool) -> None:
        """The result's model, and its history and findings after the earlier ones (steps and epochs counting on)."""
        earlier, found = (self.history_, self.findings_) if continuing else ([], [])
        last = earlier[-1] if earlier else {"step": 0, "epoch": 0}
        self.history_ = earlier + [dict(r, step=r["step"] + last["step"], epoch=r["epoch"] + last["epoch"])
                                   for r in result.history]
        self.findings_ = Findings([*found, *result.findings])   # Jupyter shows them as a coloured table
        self.model_, self.result_, self.stop_reason_ = result.model, result, result.stop_reason
        if not continuing:
            self.lr_ = result.lr
            self.optimizer_ = result.choice.optimizer if result.choice is not None else self.optimizer
        self.n_iter_ = int(self.history_[-1]["epoch"]) if self.history_ else 0

    def _raw_outputs(self, X) -> np.ndarray:
        """The module's outputs for X, in float64, computed in eval mode without gradients."""
        check_is_fitted(self, "model_")   # (fit's checks set n_features_in_ before a fit that may fail)
        x = _tensor(validate_data(self, X, reset=False, dtype=np.float32))
        model = self.model_
        weights = next(model.parameters(), None)
        device = weights.device if weights is not None else torch.device("cpu")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                parts = [model(x[i:i + PREDICT_ROWS].to(device)).cpu() for i in range(0, len(x), PREDICT_ROWS)]
        finally:
            model.train(was_training)
        return torch.cat(parts).double().reshape(len(x), -1).numpy()


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing the array's memory, or a copy's when the array is read-only (a memory map, say), which
    torch cannot share."""
    return torch.from_numpy(np.require(array, requirements="W"))


def _numeric_targets(y) -> None:
    """Refuse text targets for a regressor with a line that says what to use, before scikit-learn's bare 'could
    not convert string to float'."""
    values = np.asarray(y)
    if values.dtype.kind in "biuf":
        return
    text = next((str(v) for v in values.ravel() if isinstance(v, (str, bytes)) and not _reads_as_number(v)), None)
    if text is not None:
        raise DescendError(f"y holds text ({text!r}): a Regressor predicts numbers; for labels use "
                           f"descend.sklearn.Classifier, or convert y to numbers first")


def _reads_as_number(value) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


class Regressor(RegressorMixin, _Estimator):
    """A scikit-learn regressor that trains a torch module with `descend.fit` (mse by default).

    The targets are standardized for training (mean 0, standard deviation 1 per output, from the first fit's rows)
    and predictions mapped back, so the default learning rates suit any target scale. After fit: `model_`,
    `history_` (one dict per step), `findings_` (the doctor's), `stop_reason_`, `lr_`, `result_` (the last
    FitResult). `partial_fit(X, y)` trains one more epoch from the current weights.
    """

    default_loss = "mse"

    def partial_fit(self, X, y) -> "Regressor":
        """One epoch over (X, y), from the current weights when fitted, else from fresh ones."""
        return self._partial_fit(X, y)

    def predict(self, X) -> np.ndarray:
        outputs = self._raw_outputs(X) * self.y_scale_ + self.y_mean_
        return outputs[:, 0] if self._one_column else outputs

    def _training_data(self, X, y, *, first: bool, classes=None):
        _numeric_targets(y)
        x, y = validate_data(self, X, y, reset=first, dtype=np.float32, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if first:
            self._one_column = y.ndim == 1
            columns = y.reshape(len(y), -1)
            self.n_outputs_ = columns.shape[1]
            self.y_mean_ = columns.mean(axis=0)
            scale = columns.std(axis=0)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
        elif y.reshape(len(y), -1).shape[1] != self.n_outputs_:
            raise DescendError(f"y has {y.reshape(len(y), -1).shape[1]} output column(s); this regressor was fitted "
                               f"on {self.n_outputs_}")
        return x, y

    def _outputs_count(self) -> int:
        return self.n_outputs_

    def _target_tensor(self, y: np.ndarray) -> torch.Tensor:
        scaled = (y.reshape(len(y), -1) - self.y_mean_) / self.y_scale_
        return torch.from_numpy(scaled.astype(np.float32))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class Classifier(ClassifierMixin, _Estimator):
    """A scikit-learn classifier that trains a torch module with `descend.fit` (cross-entropy over one output per
    class). After fit: `classes_`, `model_`, `history_`, `findings_`, `stop_reason_`, `lr_`, `result_`.
    `partial_fit(X, y, classes=...)` trains one more epoch from the current weights (the first call needs every
    class, in `classes` or in y)."""

    default_loss = "cross_entropy"

    def partial_fit(self, X, y, classes=None) -> "Classifier":
        """One epoch over (X, y), from the current weights when fitted, else from fresh ones."""
        return self._partial_fit(X, y, classes)

    def predict_proba(self, X) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self._raw_outputs(X)), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        outputs = self._raw_outputs(X)   # first: an unfitted classifier says so (NotFittedError)
        return self.classes_[outputs.argmax(axis=1)]

    def _training_data(self, X, y, *, first: bool, classes=None):
        x, y = validate_data(self, X, y, reset=first, dtype=np.float32)
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise DescendError(f"y holds one class ({self.classes_[0]!r}); a classifier needs examples of "
                                   "at least two classes")
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise DescendError(f"y holds class(es) {unknown.tolist()} that are not among classes_ "
                               f"{self.classes_.tolist()}; give every class to the first partial_fit (classes=...)")
        return x, y

    def _outputs_count(self) -> int:
        return len(self.classes_)

    def _target_tensor(self, y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.searchsorted(self.classes_, y).astype(np.int64))
