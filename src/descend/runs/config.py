"""config.json: what defines a fit run, in JSON, and the differences between two runs' configs.

The "run", "model" and "data" sections decide the result, so a resume must match them; "recording" and
"environment" are kept for the record only (a resume may write checkpoints more often or run elsewhere).
The model is described by its architecture (`repr(model)`) and its parameter shapes, so a run built with ReLU
is not resumed into a model built with Tanh.
"""
from __future__ import annotations

import hashlib
import re
import inspect
import platform
from datetime import datetime, timezone

import numpy as np
import torch
from torch import nn

from ..core import __version__
from ..core.errors import DescendError
from ..core.schedules import Schedule
from ..core.stop import Rule
from .files import jsonable

CONFIG_FORMAT = 1
COMPARED = ("run", "model", "data")
_HASH_LIMIT = 64 << 20  # bytes of data hashed in full; larger data is fingerprinted from evenly spaced rows


def describe(value):
    """A JSON description of a setting that is equal for equal settings (no memory addresses)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, Schedule):  # its name and its values over a 1000-step run tell schedules apart
        bound = value.bind(1000)
        return {"schedule": repr(value), "values": [bound(step) for step in range(0, 1001, 100)]}
    if isinstance(value, Rule):  # its settings (constructor arguments), not what it learned in an earlier run
        settings = [p for p in inspect.signature(type(value).__init__).parameters if p != "self"]
        return {"rule": type(value).__name__, **{k: describe(getattr(value, k)) for k in settings if hasattr(value, k)}}
    if isinstance(value, torch.optim.Optimizer):
        described = {"optimizer": type(value).__name__, "defaults": describe(jsonable(value.defaults))}
        inner = getattr(value, "inner", None)   # a wrapper's (EMA, Lookahead, GradClip) optimizer
        return described if inner is None else {**described, "inner": describe(inner)}
    if isinstance(value, nn.Module):
        return repr(value)
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return type(value).__qualname__


def labels(settings: dict) -> dict:
    """The settings whose objects name themselves in words (a `setting_label` attribute), by setting: reports show
    "bce, averaged over the networks" where the compared record holds a class path. Not compared on resume."""
    found = {}
    for key, value in settings.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        named = [getattr(item, "setting_label", None) for item in items]
        if any(isinstance(name, str) for name in named):
            found[key] = ", ".join(name if isinstance(name, str) else str(describe(item)).rsplit(".", 1)[-1]
                                   for name, item in zip(named, items))
    return found


def describe_model(model: nn.Module) -> dict:
    """The model's class, its architecture as torch prints it, and every state entry's shape and dtype."""
    return {"class": type(model).__qualname__, "architecture": repr(model),
            "parameters": {n: [*p.shape, str(p.dtype)] for n, p in model.state_dict().items()}}


def _fingerprint(array: np.ndarray) -> str:
    if array.nbytes > _HASH_LIMIT and len(array) > 0:
        rows = np.linspace(0, len(array) - 1, num=max(1, _HASH_LIMIT // max(array[0].nbytes, 1))).astype(np.int64)
        array = array[rows]
    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8)).hexdigest()[:16]


def describe_data(data) -> dict | None:
    """Rows, shapes, dtypes and a content fingerprint for tensors/arrays; the type and length otherwise."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)):
        arrays = [t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t) for t in data]
        return {"parts": [{"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _fingerprint(a)}
                          for a in arrays]}
    try:
        length = len(data)
    except TypeError:
        length = None
    return {"type": type(data).__qualname__, "length": length}


def fit_config(settings: dict, *, model: nn.Module, train, val, checkpoint_every: int | None, device) -> dict:
    """config.json for a call of `fit`: the settings that decide its result (fit's recorded arguments and the
    number of processes, each with its own random generators), the model, the data, and where it ran."""
    return {"format": CONFIG_FORMAT,
            "run": {key: describe(value) for key, value in settings.items()},
            "model": describe_model(model),
            "data": {"train": describe_data(train), "val": describe_data(val)},
            "recording": {"checkpoint_every": checkpoint_every},
            "labels": labels(settings),
            "environment": {"descend": __version__, "torch": torch.__version__, "python": platform.python_version(),
                            "device": str(device),
                            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}}


_ABSENT = object()


def _changes(old, new, path: str, out: list[tuple[str, str, str]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            _changes(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}", out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            _changes(a, b, f"{path}[{i}]", out)
    elif old != new:
        show = lambda v: "absent" if v is _ABSENT else repr(v)
        out.append((path, show(old), show(new)))


def changes(first: dict, second: dict) -> list[tuple[str, str, str]]:
    """(setting, value in first, value in second) for each setting of the compared sections that differs, the
    setting named by its path, e.g. ("run.lr", "0.01", "0.1")."""
    found: list[tuple[str, str, str]] = []
    for section in COMPARED:
        _changes(jsonable(first.get(section)), jsonable(second.get(section)), section, found)
    return _one_line_per_model(found)


def _one_line_per_model(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Where the architecture differs, it alone says so, on one line: its class and every parameter's shape
    follow from it, and a module's printout spans lines ('Sequential(\\n  (0): Linear(...)\\n ...')."""
    if not any(path == "model.architecture" for path, _, _ in found):
        return found
    flat = lambda text: re.sub(r"(\\n)+\s*", " ", text).replace("( ", "(").replace(" )", ")")
    return [(path, flat(a), flat(b)) if path == "model.architecture" else (path, a, b) for path, a, b in found
            if path != "model.class" and not path.startswith("model.parameters.")]


def differences(saved: dict, now: dict) -> list[str]:
    """Lines naming each setting that differs between a saved run and a resume, e.g. "run.lr: 0.01 in the run,
    0.1 now"."""
    return [f"{path}: {old} in the run, {new} now" for path, old, new in changes(saved, now)]


def check_format(config: dict, path) -> None:
    """Refuse a config.json written by a newer descend, naming both format versions."""
    version = config.get("format", CONFIG_FORMAT) if isinstance(config, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise DescendError(f"{path} has no valid format version (got {version!r}); it was not written by descend")
    if version > CONFIG_FORMAT:
        raise DescendError(f"{path} was written in config format {version}, newer than the format {CONFIG_FORMAT} "
                           "this descend reads; upgrade descend to resume this run")
