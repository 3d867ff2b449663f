"""One registry for every optimizer descend can build: torch.optim's algorithms, reused, plus our own.

`create(model_or_params, name, **hyperparams)` builds a `torch.optim.Optimizer`. Given a model, weight decay
goes only to weights of two or more dimensions: biases and normalization weights (one-dimensional) are left
undecayed unless `decay_norms_and_biases=True`. `grad_clip=max_norm` works for every entry: descend's own
optimizers clip inside their step, torch's are wrapped in `GradClip`.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from ..core.errors import DescendError, DescendTypeError
from .checks import check_positive, validate
from .naming import accept_unnamed_groups
from .wrappers import GradClip

NamedParams = list[tuple[str, torch.Tensor]]


@dataclass(frozen=True)
class Entry:
    """A registered optimizer: how to build it, one line on what it is, and what it needs beyond a model.

    `needs` is empty for optimizers that train any model with dense gradients in a plain loop; otherwise it
    says what else is required ("a closure", "sparse gradients", "2-D parameters only"). `check`, when set,
    refuses parameters the optimizer cannot take, before it is built.
    """

    name: str
    factory: Callable[..., torch.optim.Optimizer]
    summary: str
    needs: str = ""
    check: Callable[[NamedParams], None] | None = None

    def defaults(self) -> dict:
        """The factory's keyword defaults (lr, betas, ...), read from its signature: what `create` accepts."""
        params = inspect.signature(self.factory).parameters
        return {k: p.default for k, p in params.items()
                if p.default is not inspect.Parameter.empty and k != "params"}


_REGISTRY: dict[str, Entry] = {}


def register(name: str, factory: Callable[..., torch.optim.Optimizer], summary: str = "", *, needs: str = "",
             check: Callable[[NamedParams], None] | None = None) -> None:
    """Make `factory(params, **hyperparams)` available to `create`, `fit` and the CLI as `name`.

    `needs` says what the optimizer requires beyond any dense model (see `Entry`); `check` refuses parameters
    it cannot take.
    """
    key = name.lower()
    if key in _REGISTRY:
        raise DescendError(f"an optimizer named {name!r} is already registered")
    _REGISTRY[key] = Entry(key, factory, summary, needs, check)


def available() -> list[str]:
    """Names accepted by `create`, sorted."""
    return sorted(_REGISTRY)


def general_purpose() -> list[str]:
    """Names, sorted, of the optimizers that train any model with dense gradients in a plain loop.

    Left out are those that need more (`entry(name).needs`): a closure (lbfgs), sparse gradients
    (sparse_adam), 2-D parameters only (muon).
    """
    return sorted(key for key, found in _REGISTRY.items() if not found.needs)


def entry(name: str) -> Entry:
    """The registered optimizer called `name` (any case); an unknown name raises, listing the available ones."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise DescendError(f"unknown optimizer {name!r}; available: {', '.join(available())}")
    return _REGISTRY[key]


def _matrices_only(named: NamedParams) -> None:
    """Muon orthogonalizes matrices: refuse any other parameter, saying how to route it elsewhere."""
    for pname, p in named:
        if p.ndim != 2:
            raise DescendError(
                f"muon updates 2-D weights only, but parameter {pname!r} has shape {tuple(p.shape)}; send the "
                f"others to another optimizer in one line: descend.optim.route(model, "
                f"{{descend.optim.ndim(2): 'muon', descend.optim.other: 'adamw'}})")


_TORCH = [   # (name, attribute of torch.optim, summary, needs); entries missing from this torch are skipped
    ("sgd", "SGD", "stochastic gradient descent, with optional (Nesterov) momentum", ""),
    ("adam", "Adam", "Adam (Kingma & Ba 2015)", ""),
    ("adamw", "AdamW", "Adam with decoupled weight decay (Loshchilov & Hutter 2019)", ""),
    ("adamax", "Adamax", "Adam with the infinity norm", ""),
    ("nadam", "NAdam", "Adam with Nesterov momentum (Dozat 2016)", ""),
    ("radam", "RAdam", "rectified Adam (Liu et al. 2020)", ""),
    ("adagrad", "Adagrad", "Adagrad (Duchi et al. 2011)", ""),
    ("adadelta", "Adadelta", "Adadelta (Zeiler 2012)", ""),
    ("rmsprop", "RMSprop", "RMSprop (Hinton 2012)", ""),
    ("rprop", "Rprop", "resilient backpropagation (full-batch)", ""),
    ("asgd", "ASGD", "averaged SGD", ""),
    ("lbfgs", "LBFGS", "L-BFGS quasi-Newton (needs a closure; full-batch)", "a closure"),
    ("sparse_adam", "SparseAdam", "Adam for sparse gradients (embeddings)", "sparse gradients"),
    ("adafactor", "Adafactor", "Adafactor, factored second moments (Shazeer & Stern 2018)", ""),   # torch >= 2.5
    ("muon", "Muon", "Muon, orthogonalized momentum for 2-D weights (Jordan et al. 2024)",      # torch >= 2.9
     "2-D parameters only"),
]
for _name, _attr, _summary, _needs in _TORCH:
    if hasattr(torch.optim, _attr):
        register(_name, getattr(torch.optim, _attr), _summary, needs=_needs,
                 check=_matrices_only if _name == "muon" else None)


def _named_parameters(model_or_params) -> list[tuple[str, torch.Tensor]]:
    if isinstance(model_or_params, nn.Module):
        return [(n, p) for n, p in model_or_params.named_parameters() if p.requires_grad]
    if isinstance(model_or_params, torch.Tensor):
        return [("param0", model_or_params)]
    items = list(model_or_params)
    if items and isinstance(items[0], tuple):
        return items
    if not all(isinstance(p, torch.Tensor) for p in items):
        raise DescendTypeError("create() takes a model, an iterable of tensors, or (name, tensor) pairs")
    return [(f"param{i}", p) for i, p in enumerate(items)]


def param_groups(named: list[tuple[str, torch.Tensor]], weight_decay: float | None,
                 decay_norms_and_biases: bool) -> list[dict]:
    """Split parameters into a decayed group (weights, ndim >= 2) and an undecayed one (biases, norms)."""
    if not weight_decay or decay_norms_and_biases:
        groups = [{"params": [p for _, p in named], "param_names": [n for n, _ in named]}]
        if weight_decay is not None:
            groups[0]["weight_decay"] = weight_decay
        return groups
    decay = [(n, p) for n, p in named if p.ndim >= 2]
    keep = [(n, p) for n, p in named if p.ndim < 2]
    groups = [{"params": [p for _, p in part], "param_names": [n for n, _ in part], "weight_decay": wd}
              for part, wd in ((decay, weight_decay), (keep, 0.0)) if part]
    return groups


def create(model_or_params: nn.Module | Iterable, name: str = "adamw", *, weight_decay: float | None = None,
           decay_norms_and_biases: bool = False, **hyperparams) -> torch.optim.Optimizer:
    """Build optimizer `name` over a model's trainable parameters (or given tensors).

    `weight_decay=None` keeps the optimizer's own default; any decay skips one-dimensional parameters unless
    `decay_norms_and_biases=True`. `grad_clip=max_norm` clips the joint gradient norm before every update, for
    every entry (torch's optimizers come back wrapped in `GradClip`). Other keyword arguments go to the
    optimizer unchanged.
    """
    found = entry(name)
    defaults = found.defaults()
    hyperparams = {k: v for k, v in hyperparams.items() if v is not None}
    grad_clip = None if "grad_clip" in defaults else hyperparams.pop("grad_clip", None)
    unknown = [k for k in hyperparams if k not in defaults]
    if unknown:
        raise DescendError(f"optimizer {found.name!r} has no hyperparameter {unknown[0]!r}; "
                           f"it takes: {', '.join(sorted({*defaults, 'grad_clip'}))}")
    validate({**hyperparams, "weight_decay": weight_decay})
    check_positive("grad_clip", grad_clip, allow_none=True)
    named = _named_parameters(model_or_params)
    if not named:
        raise DescendError("there are no trainable parameters to optimize (all have requires_grad=False?)")
    if found.check is not None:
        found.check(named)
    if "weight_decay" not in defaults:
        if weight_decay:
            raise DescendError(f"optimizer {found.name!r} does not take weight_decay")
        weight_decay = None
    elif weight_decay is None:
        weight_decay = defaults["weight_decay"]
    groups = param_groups(named, weight_decay, decay_norms_and_biases)
    try:
        built = found.factory(groups, **hyperparams)
    except ValueError as err:  # torch's own argument checks: keep its words, name the optimizer
        raise DescendError(f"optimizer {found.name!r}: {err}") from err
    accept_unnamed_groups(built)
    return built if grad_clip is None else GradClip(built, grad_clip)
