"""What `fit` checks before anything is created or changed, so each mistake is refused with its name.

The device must exist on this machine, the learning rate must be a number, 'auto' or None, the optimizer must
be registered, every scheduled key must be one of its hyperparameters, and one batch must pass through the
model, the loss and the metrics (shapes, dtypes, class labels, NaN/Inf in inputs or targets).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Callable

import torch
from torch import nn

from .. import optim
from ..core import metrics as metrics_lib
from ..core.checks import unheld_parameters
from ..core.errors import DescendError, DescendTypeError, warn_user
from ..core.loop import check_schedule_keys, schedulable
from ..core import schedules as schedules_lib
from ..core.schedules import Schedule
from . import losses
from .data import TensorBatches, check_finite, first_batch, in_memory, to_device


def available_devices() -> list[str]:
    """The devices torch can use on this machine, e.g. ['cpu', 'cuda:0']."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def _usable(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "mps":
        return torch.backends.mps.is_available() and device.index in (None, 0)
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.xpu, ...
    if backend is None or not callable(getattr(backend, "is_available", None)) or not backend.is_available():
        return False
    return device.index is None or device.index < backend.device_count()


def device(spec) -> torch.device:
    """`spec` as a torch.device that exists here; otherwise an error naming it and the devices available."""
    try:
        found = torch.device(spec)
    except (RuntimeError, TypeError) as err:
        raise DescendError(f"device {spec!r} is not a device name torch knows (e.g. 'cpu', 'cuda', 'cuda:1', "
                           f"'mps'); available here: {', '.join(available_devices())}") from err
    if not _usable(found):
        raise DescendError(f"device {spec!r} is not available on this machine (this torch {torch.__version__} "
                           f"sees {', '.join(available_devices())}); pass one of those")
    return found


def materialized(model: nn.Module) -> None:
    """Refuse a model whose weights live on the meta device (built under torch.device('meta') or loaded lazily):
    they have no values to train or move, and torch's own error comes from deep inside .to()."""
    meta = next((name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta), None)
    if meta is not None:
        raise DescendError(f"the model's {meta!r} is on the meta device (shapes without values): give it storage "
                           f"and values first, e.g. model.to_empty(device='cpu') and then each layer's "
                           f"reset_parameters() or your checkpoint's load_state_dict")


def learning_rate(lr) -> None:
    """Refuse an lr that is not None (the optimizer's default), 'auto' or a finite number >= 0; warn at 0, which
    trains nothing (allowed: a test of an initialization may want the weights untouched)."""
    if lr is None or (isinstance(lr, str) and lr == "auto"):
        return
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise DescendError(f"lr must be a number, 'auto' (lr_find) or None (the optimizer's own default), "
                           f"got {lr!r}")
    if not math.isfinite(lr):
        raise DescendError(f"lr must be a finite number, got {lr}")
    if lr < 0:
        raise DescendError(f"lr must be >= 0, got {lr}")
    if lr == 0:
        warn_user("lr=0 leaves every weight where it starts, so this run trains nothing; give a positive lr, or "
                  "lr='auto' to have a sweep choose one")
    if lr > torch.finfo(torch.float32).max:   # optimizers apply it in float32, where it would overflow
        raise DescendError(f"lr {lr:g} is beyond the largest float32 ({torch.finfo(torch.float32).max:.3g}); "
                           "give a smaller learning rate")


def optimizer_name(optimizer, weight_decay, model: nn.Module | None = None) -> str:
    """How to call `optimizer` (a registered name or an instance) in messages; refuses anything else, an unknown
    name, a bad weight_decay, and an instance that holds none of `model`'s parameters."""
    if isinstance(optimizer, torch.optim.Optimizer):
        if model is not None:
            _check_holds_model(optimizer, model)
        return type(optimizer).__name__
    if not isinstance(optimizer, str):
        raise DescendTypeError(f"optimizer must be a name (see descend.optim.available()) or a "
                               f"torch.optim.Optimizer, got {optimizer!r}")
    found = optim.entry(optimizer)
    optim.registry.validate({"weight_decay": weight_decay})
    return f"optimizer {found.name!r}"


def _check_holds_model(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """Refuse an optimizer built over another model's weights (or a copy's, or before `model.to(...)` replaced
    them): it would step those and leave the model untouched, a run that trains nothing and says nothing. One that
    holds some of the model's weights (fine-tuning a head) or extra tensors (a learnable loss weight) is fine."""
    missing = unheld_parameters(model, optimizer)
    if missing and len(missing["weights"]) == missing["of"]:
        name = type(optimizer).__name__
        raise DescendError(f"the optimizer ({name}) holds none of the model's parameters: it was built on another "
                           f"model or on a copy of it, so fit would step those and the model would never change; "
                           f"build it on this model, {name}(model.parameters(), ...), or pass its name "
                           f"(optimizer={name.lower()!r})")


def line_search_on_batches(optimizer, batches_per_epoch: int | None) -> str | None:
    """The warning for L-BFGS named on mini-batches, said before the run rather than found after it: each of its
    steps iterates up to max_iter times (torch's default 20) on one batch, each iteration a forward and backward
    pass plus a pass over its curvature memory, so an epoch costs many first-order epochs; None otherwise."""
    lbfgs = isinstance(optimizer, torch.optim.LBFGS) or optimizer == "lbfgs"
    if not lbfgs or not batches_per_epoch or batches_per_epoch < 2:
        return None
    iterations = optimizer.defaults["max_iter"] if isinstance(optimizer, torch.optim.LBFGS) else 20
    return (f"L-BFGS on {batches_per_epoch} mini-batches per epoch: each step runs up to {iterations} L-BFGS "
            "iterations (max_iter) on one batch, each a forward and backward pass, so the run is slow (tens of "
            "times slower than a first-order run), and its curvature memory mixes batches; for L-BFGS give "
            "batch_size at least the row count (one full batch, where it converges), or leave optimizer to 'auto' "
            "for mini-batches")


def _hyperparameters(optimizer) -> set[str]:
    """What a schedule can drive in an instance, or in a registered optimizer built over a 2x2 stand-in tensor
    (its param groups say; the model is not touched)."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return schedulable(optimizer)
    return schedulable(optim.entry(optimizer).factory([torch.zeros(2, 2, requires_grad=True)]))


def schedules(schedule, optimizer, owner: str, total_steps: int | None) -> dict[str, Callable]:
    """`schedule=` as {hyperparameter: schedule bound to the run's total steps}; a bare schedule drives lr.
    Every key must be a hyperparameter of `optimizer` (lr always is)."""
    if schedule is None:
        return {}
    spec = schedule if isinstance(schedule, dict) else {"lr": schedule}
    for key, sched in spec.items():
        if not callable(sched) or _torch_scheduler(sched):
            raise DescendTypeError(f"schedule for {key!r} must be a schedule (callable of the step), got "
                                   f"{sched!r}{_schedule_hint(sched)}")
    if set(spec) - {"lr"}:
        check_schedule_keys(spec, _hyperparameters(optimizer), owner)
    bound = {key: sched.bind(total_steps) if isinstance(sched, Schedule) else sched for key, sched in spec.items()}
    for key, sched in bound.items():
        _warn_if_cut_short(key, sched, total_steps)
    return bound


def _warn_if_cut_short(key: str, sched, total_steps: int | None) -> None:
    """Warn when a schedule given in steps spans more than the run: the run ends partway along it, so the values
    it was written to reach (a warmup's peak, a decay's end) are never reached."""
    if not isinstance(sched, Schedule) or total_steps is None or not total_steps < sched.steps() < math.inf:
        return
    def value(step: int) -> str:
        return f"{sched(step):.3g} x the base lr" if key == "lr" else f"{key} {sched(step):.3g}"
    warn_user(f"schedule for {key!r} ({sched.name}) spans {sched.steps():,} steps but the run has {total_steps:,}, "
              f"so the run ends {total_steps / sched.steps():.0%} of the way along it, at {value(total_steps - 1)} "
              f"instead of {value(sched.steps())}; give its lengths as fractions of the run (0.1 for a tenth), "
              f"which fit fits to the run, or set max_steps={sched.steps()}")


TORCH_SCHEDULERS = {"StepLR": "step(every=..., gamma=0.1)", "ExponentialLR": "exponential(gamma=...)",
                    "CosineAnnealingLR": "cosine()", "OneCycleLR": "one_cycle()", "LinearLR": "linear(...)"}


def _torch_scheduler(sched) -> bool:
    """A torch.optim.lr_scheduler class or instance: it steps an optimizer of its own, not a function of the step
    (a class is callable, and calling it with the step failed inside torch)."""
    scheduler = torch.optim.lr_scheduler.LRScheduler
    return isinstance(sched, scheduler) or isinstance(sched, type) and issubclass(sched, scheduler)


def _schedule_hint(sched) -> str:
    """What to pass instead of a schedule's name or a torch scheduler: the descend.schedules function."""
    if isinstance(sched, str):
        known = sched.lower() in schedules_lib.NAMES
        return (f"; pass the schedule itself, descend.schedules.{sched.lower()}() with its settings" if known else
                f"; descend.schedules has {', '.join(schedules_lib.NAMES)}, each called to make one")
    if _torch_scheduler(sched):
        name = sched.__name__ if isinstance(sched, type) else type(sched).__name__
        ours = TORCH_SCHEDULERS.get(name)
        return (f"; torch's {name} steps an optimizer of its own, while fit takes a function of the step that "
                f"multiplies the lr: " + (f"descend.schedules.{ours}" if ours else
                                          f"one of descend.schedules ({', '.join(schedules_lib.NAMES)})"))
    return ""


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return torch.device("cpu") if tensor is None else tensor.device


def _cannot_take(model: nn.Module, x: torch.Tensor, name: str, err: RuntimeError) -> DescendError:
    weights = next((p for p in model.parameters() if p.dtype.is_floating_point), None)
    hint = ""
    if weights is not None and x.dtype != weights.dtype:
        hint = (f"; the {name} inputs are {x.dtype} but the model's weights are {weights.dtype}: "
                f"{_dtype_advice(x.dtype, weights.dtype)}")
    return DescendError(f"the model cannot take the {name} inputs of shape {tuple(x.shape)}: {err}{hint}")


CONVERSIONS = {torch.float32: ("X.float() for a tensor, X.astype('float32') for an array", "model.float()"),
               torch.float64: ("X.double() for a tensor, X.astype('float64') for an array", "model.double()")}


def _dtype_advice(inputs: torch.dtype, weights: torch.dtype) -> str:
    """How to make inputs and weights agree: the inputs converted to the weights' dtype, or, for floating inputs,
    the model to theirs (integer inputs are not a dtype to compute a model in)."""
    convert = f"convert the inputs ({CONVERSIONS[weights][0] if weights in CONVERSIONS else f'X.to({weights})'})"
    if not inputs.is_floating_point:
        return convert
    return f"{convert} or the model ({CONVERSIONS[inputs][1] if inputs in CONVERSIONS else f'model.to({inputs})'})"


def _check_named_loss(loss_fn, out, source, y: torch.Tensor, name: str) -> None:
    """What a loss given by name needs beyond shapes: one output tensor, and for bce targets in [0, 1] (all of them
    for in-memory data, else the first batch's)."""
    named = next((key for key, fn in losses.LOSSES.items() if fn is loss_fn), None)
    if named is None:
        return
    if not isinstance(out, torch.Tensor):
        raise DescendTypeError(f"the model returned a {type(out).__name__}, not a tensor; the {named} loss takes one "
                               "output tensor: return it alone (e.g. a wrapper whose forward returns output[0]) or "
                               "pass loss= a callable that takes what the model returns")
    targets = source.tensors[1] if isinstance(source, TensorBatches) else y
    if named == "bce" and targets.numel() and not bool(((targets >= 0) & (targets <= 1)).all()):
        bad = targets[(targets < 0) | (targets > 1)].flatten()[0].item()
        raise DescendError(f"bce needs {name} targets between 0 and 1 (labels 0/1 or probabilities); found {bad:g}. "
                           "For several classes use cross_entropy")


def _check_named_metric(label: str, metric, out) -> None:
    """A metric given by name (accuracy, mse, ...) scores one output tensor; a model returning a dict or tuple
    needs a metric callable that picks its output."""
    if isinstance(out, torch.Tensor) or metrics_lib.METRICS.get(label) is not metric:
        return
    held = f" with keys {', '.join(map(repr, out))}" if isinstance(out, Mapping) else ""
    pick = f"out[{next(iter(out))!r}]" if isinstance(out, Mapping) and out else "out[0]"
    raise DescendTypeError(f"the model returned a {type(out).__name__}{held}, not a tensor; the {label} metric "
                           f"scores one output tensor: give metrics= a function that picks it, named as the record "
                           f"should be: def {label}(out, y): return descend.core.metrics.{label}({pick}, y), then "
                           f"metrics=[{label}]")


def _what_batch(found) -> str:
    """What a batch that is no (inputs, targets) pair holds, and for a dict (a Dataset in Hugging Face's style)
    how to make the pair."""
    if isinstance(found, Mapping):
        keys = ", ".join(repr(k) for k in found)
        first = next(iter(found), "x")
        return (f"a dict with keys {keys}: have the Dataset's __getitem__ return (inputs, target), e.g. "
                f"(item[{first!r}], item[<the target's key>]); inputs may be a dict of tensors themselves, "
                "({'age': ..., 'dose': ...}, target)")
    if isinstance(found, (tuple, list)):
        return f"{len(found)} item(s)"
    return f"one {type(found).__name__}: a Dataset's __getitem__ returns (inputs, target) for each row"


def batch(model: nn.Module, loss_fn, metric_fns: dict, source, name: str) -> None:
    """Run the model, the loss and the metrics on the first batch (eval mode, no gradient, the model where it is)
    so shape, dtype and data errors surface with a clear message before training."""
    found = first_batch(source)
    if not isinstance(found, (tuple, list)) or len(found) < 2:
        raise DescendError(f"{name} batches must be (inputs, targets) pairs, got {_what_batch(found)}")
    x, y = found[0], found[1]
    if in_memory(source) is None:  # what training draws in full was scanned when its batches were made
        check_finite(x, f"{name} inputs (first batch)")
        check_finite(y, f"{name} targets (first batch)")
    where = _model_device(model)
    x, y = to_device(x, where), to_device(y, where)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                out = model(x)
            except RuntimeError as err:
                raise _cannot_take(model, x, name, err) from err
            value = _scored(loss_fn, metric_fns, out, source, y, name)
    finally:
        model.train(was_training)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = f" {tuple(value.shape)}" if hasattr(value, "shape") else ""
        raise DescendError(f"the loss must return a scalar tensor, got {type(value).__name__}{shape}"
                           f"{_reduce_hint(value)}")


def _scored(loss_fn, metric_fns: dict, out, source, y, name: str):
    """The loss of one batch, its metrics computed too; a refusal on the validation batch says it is the validation
    data's, which fit checks after the training data's (so the two differ)."""
    try:
        _check_named_loss(loss_fn, out, source, y, name)
        value = loss_fn(out, y)
        for label, metric in metric_fns.items():
            _check_named_metric(label, metric, out)
            metric(out, y)
    except DescendError as err:
        if name != "val" or str(err).startswith("val"):
            raise
        raise type(err)(f"val data: {err} (the training data passed the same check)") from err
    return value


def _reduce_hint(value) -> str:
    """The fix for a loss of one value per element: average it over the batch, as torch's losses do by default."""
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        return "; return one number for the batch: the mean over its elements (loss.mean()), as torch's losses do"
    if isinstance(value, (int, float)):
        return "; compute it with torch operations on the output (not .item(), numpy or math), so it has a gradient"
    if isinstance(value, dict):
        keys = ", ".join(repr(key) for key in value)
        total = "its ['loss']" if "loss" in value else "the sum of its parts"
        return (f" with keys {keys}; fit trains on one number: return the total ({total}), and pass the parts you "
                "want recorded as functions of (output, target) in metrics=, which fit computes on the val data")
    return ""
