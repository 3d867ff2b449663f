"""FitSpec: every argument of `fit`, declared once (name, default, whether config.json records it) and checked
once, when the spec is made; and the Plan fit makes from a spec and the data before touching anything.

A new fit argument is one field here plus its use. `fit`'s signature is this class's (see `fit.__signature__`), and
config.json's "run" section is the fields marked `recorded`, so a renamed argument is recorded under its new name.
"""
from __future__ import annotations

import difflib
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from .. import doctor as doctor_lib
from ..core import initializers, metrics as metric_lib, stop as stop_lib
from ..core.checks import check_positive_int
from ..core.errors import DescendError, DescendTypeError, warn_user
from ..core.loop import Callback
from ..runs.ranks import world
from . import distributed, losses, preflight, precision as precision_lib, progress as progress_lib
from . import threads as threads_lib
from .data import _dataset_len, batches, holds_batch_norm
from .auto import FIRST_ORDER
from .task import clip_spec

DEFAULT_EPOCHS = 20
DEFAULT_BATCH = 64


def setting(default, *, recorded: bool = True):
    """A fit argument with its default; `recorded` ones decide the result and go into config.json's "run"."""
    return field(default=default, metadata={"recorded": recorded})


def derived():
    """What a spec computes from its arguments when made (not an argument)."""
    return field(init=False, repr=False, compare=False)


# keywords other training libraries take for what fit does with a stop rule: the rule that does it
_STOP_RULES = {"time_limit": "MaxTime(seconds)", "max_time": "MaxTime(seconds)", "timeout": "MaxTime(seconds)",
               "patience": "Patience(evaluations)", "early_stopping": "Patience(evaluations)",
               "early_stopping_patience": "Patience(evaluations)"}


def _name_hint(name: str, names: list[str]) -> str:
    """What to write instead of a keyword fit does not take: the stop rule that does its job, the closest name, or
    the names fit takes."""
    if name.lower() in _STOP_RULES:
        return (f"fit takes limits and early stopping as stop rules: stop=[descend.stop.{_STOP_RULES[name.lower()]}] "
                "(max_epochs and max_steps are keywords)")
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {close[0]!r}?" if close else f"fit takes {', '.join(names[2:])}"


@dataclass(frozen=True, eq=False)   # holds tensors: compared by identity, never by value
class FitSpec:
    """The arguments of one `fit` call, checked (see `fit` for what each means). Counts come out as ints, the device
    as a torch.device and max_epochs as DEFAULT_EPOCHS when no limit is given; nothing is created or touched."""

    model: nn.Module
    train: Any
    _: KW_ONLY
    loss: str | Callable = setting("mse")
    val: Any = setting(None, recorded=False)            # config.json describes the data in its own section
    optimizer: str | torch.optim.Optimizer = setting("auto")   # descend.fit.auto chooses
    lr: float | str | None = setting(None)
    schedule: Any = setting(None)
    batch_size: int = setting(DEFAULT_BATCH)
    max_epochs: int | None = setting(None)
    max_steps: int | None = setting(None)
    stop: Sequence[stop_lib.Rule] = setting(())
    grad_clip: Any = setting(None)
    accumulate: int = setting(1)
    weight_decay: float | None = setting(None)
    decay_norms_and_biases: bool = setting(False)
    init: str | None = setting(None)
    seed: int = setting(0)
    device: str | torch.device = setting("cpu", recorded=False)    # where it ran: config.json's "environment"
    callbacks: Sequence[Callback] = setting((), recorded=False)
    progress: bool | int = setting(True, recorded=False)
    metrics: Sequence = setting(())
    eval_every: int | None = setting(None)
    doctor: bool | str = setting(True)
    run_dir: str | None = setting(None, recorded=False)
    resume: bool = setting(False, recorded=False)
    checkpoint_every: int | None = setting(None, recorded=False)    # config.json's "recording"
    precision: str = setting("fp32")
    compile: bool = setting(False)
    threads: int | str | None = setting("auto")
    loss_fn: Callable = derived()
    metric_fns: dict = derived()
    clip: tuple[str, float] | None = derived()
    rules: tuple = derived()
    limit_given: bool = derived()      # max_epochs or max_steps was given (auto's L-BFGS otherwise runs to converge)
    default_limit: Any = derived()     # the MaxEpochs(DEFAULT_EPOCHS) rule added when no limit was given
    owner: str = derived()             # how messages name the optimizer

    @classmethod
    def of(cls, model: nn.Module, train, settings: dict) -> "FitSpec":
        """The spec of `fit(model, train, **settings)`; a name fit does not take is refused with the closest one."""
        names = [f.name for f in fields(cls) if f.init]
        for name in settings:
            if name not in names:
                raise DescendTypeError(f"fit() got an unexpected keyword argument {name!r}; {_name_hint(name, names)}")
        return cls(model, train, **settings)

    def __post_init__(self):
        if not isinstance(self.model, nn.Module):
            raise DescendTypeError(f"model must be a torch.nn.Module, got {type(self.model).__name__}")
        preflight.materialized(self.model)
        for name in ("batch_size", "accumulate"):
            self._set(name, check_positive_int(getattr(self, name), name))
        for name in ("max_epochs", "max_steps", "eval_every"):
            self._set(name, check_positive_int(getattr(self, name), name, allow_none=True))
        self._set("limit_given", self.max_epochs is not None or self.max_steps is not None)
        if not self.limit_given:
            self._set("max_epochs", DEFAULT_EPOCHS)
        rules = stop_lib.with_defaults(self.stop, has_validation=self.val is not None)
        rules += [stop_lib.MaxEpochs(self.max_epochs)] if self.max_epochs else []
        self._set("default_limit", None if self.limit_given else rules[-1])
        self._set("rules", tuple(rules + ([stop_lib.MaxSteps(self.max_steps)] if self.max_steps else [])))
        self._set("loss_fn", losses.get(self.loss))
        self._set("metric_fns", metric_lib.resolve(self.metrics))
        self._set("clip", clip_spec(self.grad_clip))
        self._set("device", preflight.device(self.device))
        preflight.learning_rate(self.lr)
        self._set("owner", preflight.optimizer_name(self.named_optimizer, self.weight_decay, self.model))
        initializers.scheme(self.init)
        progress_lib.check(self.progress)
        self._check_rest()

    def _check_rest(self) -> None:
        if isinstance(self.callbacks, Callback):   # one callback, as stop= takes one rule
            self._set("callbacks", [self.callbacks])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                made = f"; pass an instance, {callback.__name__}()" if isinstance(callback, type) else ""
                raise DescendTypeError(f"callbacks must be descend.loop.Callback objects (subclass it and override "
                                       f"on_step_end and friends), got {callback!r}{made}")
        doctor_lib.check_mode(self.doctor)
        threads_lib.check(self.threads)
        precision_lib.check(self.precision, self.compile, self.device)
        self._set("checkpoint_every", check_positive_int(self.checkpoint_every, "checkpoint_every", allow_none=True))
        if self.resume and self.run_dir is None:
            raise DescendError("resume=True needs run_dir= (the directory of the run to continue)")

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)   # normalizing while the frozen spec is being made

    @property
    def named_optimizer(self):
        """The optimizer as the checks see it: "auto" stands for the first-order optimizer it may choose (it
        chooses L-BFGS only in one process, without schedules or weight decay, which then need no checking)."""
        return FIRST_ORDER if self.optimizer == "auto" else self.optimizer

    def recorded(self) -> dict:
        """The settings that decide the result, by name: config.json's "run" section."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("recorded")}


@dataclass(frozen=True, eq=False)
class Plan:
    """What `fit` makes of a spec and the data before anything is changed: the batch sources, the number of steps
    (where known), the schedules bound to it, and how many processes share the run."""

    train: Any
    val: Any
    total_steps: int | None
    schedules: dict
    processes: int

    @classmethod
    def of(cls, spec: FitSpec) -> "Plan":
        """The plan of `spec`, after one batch has gone through model, loss and metrics (a mistake in the data is
        refused here, naming it); under torch.distributed, the data is checked for sharding too."""
        train = batches(spec.train, batch_size=spec.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(spec.seed), name="train",
                        fold_single=holds_batch_norm(spec.model))
        val = None if spec.val is None else batches(spec.val, batch_size=max(spec.batch_size, 256), shuffle=False,
                                                    generator=None, name="val")
        total = total_steps(spec.max_epochs, spec.max_steps, _dataset_len(train), spec.accumulate)
        for unused in (_unused_batch_size(spec), *_unused_by_instance(spec)):
            if unused:
                warn_user(unused)
        if total is None:
            warn_user("the training data has no length (an IterableDataset, say): an epoch ends only when it "
                      "runs out, so max_epochs never stops an endless stream; pass max_steps to bound the run")
        slow = preflight.line_search_on_batches(spec.optimizer, _dataset_len(train))
        if slow:
            warn_user(slow)
        if spec.metric_fns and val is None:
            warn_user(f"metrics {', '.join(spec.metric_fns)} are computed on validation data and there is none, "
                      "so no record will hold them; pass val=(X_val, y_val)")
        schedules = preflight.schedules(spec.schedule, spec.named_optimizer, spec.owner, total)
        for source, name in ((train, "train"), (val, "val")):
            if source is not None:
                preflight.batch(spec.model, spec.loss_fn, spec.metric_fns, source, name)
        processes = world()[1]
        if processes > 1:  # before open_run's collective call, which a refusing rank would never reach
            distributed.check_parallel(spec.named_optimizer, train, processes, spec.batch_size)
        return cls(train, val, total, schedules, processes)


def _unused_batch_size(spec: FitSpec) -> str | None:
    """The warning for a batch_size given beside a DataLoader, which makes its own batches and keeps its size."""
    loader = spec.train
    if not isinstance(loader, DataLoader) or spec.batch_size in (DEFAULT_BATCH, loader.batch_size):
        return None
    own = f"of {loader.batch_size} rows" if loader.batch_size else "from its batch sampler"
    return (f"batch_size={spec.batch_size} is not used: the training DataLoader makes its own batches ({own}); set "
            f"the size there, DataLoader(dataset, batch_size={spec.batch_size}, shuffle=True)")


def _unused_by_instance(spec: FitSpec) -> list[str]:
    """The warnings for an lr or weight_decay given beside an optimizer instance whose param groups hold other
    values: the instance keeps its own, so fit would train at those and say nothing. A value one of its groups holds
    (the instance built with it; biases undecayed in a group of their own) is no warning."""
    optimizer = spec.optimizer
    if not isinstance(optimizer, torch.optim.Optimizer):
        return []
    name = type(optimizer).__name__
    given = {"lr": spec.lr if isinstance(spec.lr, (int, float)) else None, "weight_decay": spec.weight_decay}
    lines = []
    for key, value in given.items():
        held = sorted({group.get(key) for group in optimizer.param_groups}, key=str)
        if value is None or value in held:
            continue
        lines.append(f"{key}={value!r} is not used: the optimizer instance keeps its own {key} "
                        f"({', '.join(map(str, held))}); set it where you build it, {name}(model.parameters(), "
                        f"{key}={value!r}), or pass the optimizer's name, optimizer={name.lower()!r}, {key}={value!r}")
    return lines


def total_steps(max_epochs: int | None, max_steps: int | None, batches_per_epoch: int | None,
                accumulate: int = 1) -> int | None:
    """The optimizer steps the run takes under its limits, where known. A step uses `accumulate` batches and may
    span an epoch's end, so `max_epochs` ends at the first step that completes the last epoch's final batch."""
    by_epochs = -(-max_epochs * batches_per_epoch // accumulate) if max_epochs and batches_per_epoch else None
    limits = [n for n in (max_steps, by_epochs) if n]
    return min(limits) if limits else None
