"""descend: gradient-based optimization as a complete tool, on PyTorch.

The public surface: `fit` trains a model on data, `minimize` minimizes any objective, `lr_find` suggests a
learning rate, `tune` searches settings with Optuna. The submodules `optim`, `schedules` and `stop` hold what
`fit` takes, `loop` the Callback it calls, `doctor` the findings it reports, `runs` its run directories and
reports, `constraints` and `solve` what `minimize` uses, `bench` the optimizer benchmark, `sklearn` scikit-learn
estimators that train with `fit`, `landscape` loss landscapes, optimizer paths and sharpness as pictures.

Layers (each package's docstring says what it may import; tests/test_layers.py holds them to it):
core -> optim -> doctor, runs -> fit -> minimize -> apps (tabular, tuning, bench) -> cli.
"""
import importlib
import sys
import types

from .core import __version__
from .core.errors import DescendError

__all__ = ["fit", "FitResult", "minimize", "MinimizeResult", "lr_find", "tune", "DescendError",
           "optim", "schedules", "stop", "loop", "doctor", "runs", "bench", "constraints", "solve", "sklearn",
           "landscape"]


_LAZY = {   # name -> (module, attribute or None for the module itself): loaded on first use, so that
    # `descend --help` and `import descend` cost nothing until torch is needed
    "fit": (".fit", "fit"), "FitResult": (".fit", "FitResult"), "lr_find": (".fit.lr_find", "lr_find"),
    "minimize": (".minimize", "minimize"), "MinimizeResult": (".minimize", "MinimizeResult"),
    "constraints": (".minimize.constraints", None), "solve": (".minimize.solve", None),
    "optim": (".optim", None), "doctor": (".doctor", None), "runs": (".runs", None), "loop": (".core.loop", None),
    "schedules": (".core.schedules", None), "stop": (".core.stop", None),
    "tune": (".apps.tuning", "tune"), "bench": (".apps.bench", None), "sklearn": (".sklearn", None),
    "landscape": (".apps.landscape", None)}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'descend' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """`descend.fit` and `descend.minimize` are functions, though subpackages of the same names exist: when the
    import system binds a subpackage to its parent (on `import descend.fit.task`, say), the function keeps the name."""

    def __setattr__(self, name: str, value) -> None:
        if name in ("fit", "minimize") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
