"""descend: gradient-based optimization as a complete tool, on PyTorch.

The public surface: `fit` trains a model on data, `minimize` minimizes any objective, `lr_find` suggests a
learning rate, `tune` searches settings with Optuna. The submodules `optim`, `schedules` and `stop` hold what
`fit` takes, `loop` the Callback it calls, `doctor` the findings it reports, `runs` its run directories and
reports, `constraints` and `solve` what `minimize` uses, `bench` the optimizer benchmark.

Layers (each package's docstring says what it may import; tests/test_layers.py holds them to it):
core -> optim -> doctor, runs -> fit -> minimize -> apps (tabular, tuning, bench) -> cli.
"""
from . import doctor, optim, runs
from .core import __version__, loop, schedules, stop
from .core.errors import DescendError
from .fit import FitResult, fit
from .fit.lr_find import lr_find
from .minimize import MinimizeResult, constraints, minimize, solve

__all__ = ["fit", "FitResult", "minimize", "MinimizeResult", "lr_find", "tune", "DescendError",
           "optim", "schedules", "stop", "loop", "doctor", "runs", "bench", "constraints", "solve"]


def __getattr__(name: str):  # tune (Optuna) and bench (scikit-learn, scipy) load only when first used
    if name == "tune":
        from .apps.tuning import tune
        return tune
    if name == "bench":
        import importlib
        return importlib.import_module(".apps.bench", __name__)
    raise AttributeError(f"module 'descend' has no attribute {name!r}")
