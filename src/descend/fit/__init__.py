"""`fit`: train a PyTorch model on data with the shared step loop and return a FitResult.

May import: core, optim, doctor, runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from .. import doctor as doctor_lib, optim, runs
from ..core import metrics as metric_lib, stop as stop_lib
from ..core.errors import DescendTypeError, check_positive_int
from ..core.loop import Callback, Loop
from . import distributed, initializers, losses, preflight, precision as precision_lib, progress as progress_lib
from . import threads as threads_lib
from .data import BatchStream, _dataset_len, batches, input_sample
from .lr_find import auto_lr
from .task import FitTask, clip_spec, make_optimizer
from ..runs.ranks import is_main_process, world


DEFAULT_EPOCHS = 20


@dataclass
class FitResult:
    """What a training run leaves: the trained model, its history table and why it stopped."""

    model: nn.Module
    history: list[dict]
    best: dict
    stop_reason: str
    findings: list = field(default_factory=list)
    run_dir: str | None = None
    elapsed: float = 0.0
    lr: float | None = None       # the first param group's base learning rate: what lr="auto" (or None) gave


@dataclass
class _Plan:
    """fit's arguments after every check: validated, resolved, nothing yet created or changed."""

    loss_fn: Callable
    metric_fns: dict
    clip: tuple[str, float] | None
    device: torch.device
    batch_size: int
    accumulate: int
    max_epochs: int | None
    max_steps: int | None
    eval_every: int | None
    total_steps: int | None
    rules: list
    schedules: dict
    train: object
    val: object
    threads: int | None = None


def _check_callbacks(callbacks) -> None:
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise DescendTypeError(f"callbacks must be descend.loop.Callback objects (subclass it and override "
                                   f"on_step_end and friends), got {callback!r}")


def _plan(model, train, *, loss, val, optimizer, lr, schedule, batch_size, max_epochs, max_steps, stop, grad_clip,
          accumulate, weight_decay, init, seed, device, progress, metrics, eval_every, callbacks, precision, compile,
          threads, **_) -> _Plan:
    """Check every argument of fit and run one batch through model, loss and metrics; refuse the first mistake."""
    if not isinstance(model, nn.Module):
        raise DescendTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    batch_size, accumulate = check_positive_int(batch_size, "batch_size"), check_positive_int(accumulate, "accumulate")
    max_epochs = check_positive_int(max_epochs, "max_epochs", allow_none=True)
    max_steps = check_positive_int(max_steps, "max_steps", allow_none=True)
    if max_epochs is None and max_steps is None:
        max_epochs = DEFAULT_EPOCHS
    eval_every = check_positive_int(eval_every, "eval_every", allow_none=True)
    rules = stop_lib.with_defaults(stop, has_validation=val is not None)
    rules += [stop_lib.MaxEpochs(max_epochs)] if max_epochs else []
    rules += [stop_lib.MaxSteps(max_steps)] if max_steps else []
    loss_fn, metric_fns, clip = losses.get(loss), metric_lib.resolve(metrics), clip_spec(grad_clip)
    device = preflight.device(device)
    threads_lib.check(threads)
    precision_lib.check(precision, compile, device)
    preflight.learning_rate(lr)
    owner = preflight.optimizer_name(optimizer, weight_decay)
    initializers.scheme(init)
    progress_lib.check(progress)
    _check_callbacks(callbacks)
    train_source = batches(train, batch_size=batch_size, shuffle=True,
                           generator=torch.Generator().manual_seed(seed), name="train")
    val_source = None if val is None else batches(val, batch_size=max(batch_size, 256), shuffle=False,
                                                  generator=None, name="val")
    total = total_steps(max_epochs, max_steps, _dataset_len(train_source), accumulate)
    schedules = preflight.schedules(schedule, optimizer, owner, total)
    preflight.batch(model, loss_fn, metric_fns, train_source, "train")
    if val_source is not None:
        preflight.batch(model, loss_fn, metric_fns, val_source, "val")
    count = threads_lib.choose(threads, sum(p.numel() for p in model.parameters()), batch_size, device)
    return _Plan(loss_fn, metric_fns, clip, device, batch_size, accumulate, max_epochs, max_steps, eval_every, total,
                 rules, schedules, train_source, val_source, count)


def total_steps(max_epochs: int | None, max_steps: int | None, batches_per_epoch: int | None,
                accumulate: int = 1) -> int | None:
    """The optimizer steps the run takes under its limits, where known. A step uses `accumulate` batches and may
    span an epoch's end, so `max_epochs` ends at the first step that completes the last epoch's final batch."""
    by_epochs = -(-max_epochs * batches_per_epoch // accumulate) if max_epochs and batches_per_epoch else None
    limits = [n for n in (max_steps, by_epochs) if n]
    return min(limits) if limits else None


def _ready(plan: _Plan, watch, *, model: nn.Module, optimizer, lr, weight_decay, decay_norms_and_biases, init,
           seed, train, progress, **_) -> torch.optim.Optimizer:
    """Seed, re-initialize and place the model, and build (or adopt, in train mode) the optimizer; for lr="auto"
    lr_find picks the learning rate first."""
    if isinstance(optimizer, torch.optim.Optimizer):
        optim.train_mode(optimizer)  # a Schedule-Free / EMA optimizer an earlier fit left in eval mode
    torch.manual_seed(seed)
    initializers.initialize(model, init)
    model.to(plan.device)
    model.train()   # a model handed over in eval mode trains with dropout and batch statistics all the same
    if lr == "auto":
        lr = auto_lr(model, train, plan.loss_fn, optimizer, batch_size=plan.batch_size, weight_decay=weight_decay,
                     decay_norms_and_biases=decay_norms_and_biases, seed=seed, device=plan.device, progress=progress)
        watch.note_auto_lr(lr)
        if isinstance(optimizer, torch.optim.Optimizer):
            for group in optimizer.param_groups:
                group["initial_lr"] = group["lr"]  # schedules multiply the lr found, not an earlier one
    return make_optimizer(model, optimizer, lr=lr, weight_decay=weight_decay,
                          decay_norms_and_biases=decay_norms_and_biases)


def _loop(opt, plan: _Plan, watch, *, model: nn.Module, callbacks, progress, doctor, precision, compile,
          **_) -> tuple[Loop, BatchStream]:
    """The step loop over the training stream, with the limits, rules, schedules and callbacks of the plan."""
    train_source, progress, parallel = distributed.attach(model, plan.train, progress)
    stream = BatchStream(train_source, plan.device)
    amp = precision_lib.Precision(precision, plan.device)
    task = watch.guard(FitTask(model, plan.loss_fn, opt, stream, plan.val, accumulate=plan.accumulate,
                               clip=plan.clip, metric_fns=plan.metric_fns, device=plan.device, parallel=parallel,
                               precision=amp, forward=precision_lib.compiled(model, compile),
                               host_checks=doctor == "fix"), opt)
    loop = Loop(task, opt, plan.rules, schedules=plan.schedules,
                callbacks=[*callbacks, *progress_lib.reporter(progress), *watch.callbacks,
                           *([amp] if amp.scaler is not None else [])],
                eval_every=plan.eval_every, has_validation=plan.val is not None, total_steps=plan.total_steps)
    return loop, stream


def fit(model: nn.Module, train, *, loss: str | Callable = "mse", val=None,
        optimizer: str | torch.optim.Optimizer = "adamw", lr: float | str | None = None, schedule=None,
        batch_size: int = 64, max_epochs: int | None = None, max_steps: int | None = None,
        stop: Sequence[stop_lib.Rule] = (), grad_clip=None, accumulate: int = 1, weight_decay: float | None = None,
        decay_norms_and_biases: bool = False, init: str | None = None, seed: int = 0, device: str = "cpu",
        callbacks: Sequence[Callback] = (), progress: bool | int = True, metrics: Sequence = (),
        eval_every: int | None = None, doctor: bool | str = True, run_dir: str | None = None, resume: bool = False,
        checkpoint_every: int | None = None, precision: str = "fp32", compile: bool = False,
        threads: int | str | None = "auto") -> FitResult:
    """Train `model` on `train` ((X, y) tensors or arrays, a Dataset or a DataLoader) and return a FitResult.

    Every step runs `accumulate` mini-batches forward and backward, clips the gradient if asked, and updates.
    With `val`, the validation loss and `metrics` are computed every epoch (or every `eval_every` steps).
    The run stops at `max_epochs`, `max_steps` (20 epochs when neither is given), or the first rule in `stop`
    that fires; NonFinite is always on.

    `lr=None` and `weight_decay=None` take the optimizer's own defaults (`descend.optim.entry(name).defaults()`:
    AdamW lr 1e-3 and weight_decay 0.01, Prodigy and Schedule-Free SGD lr 1.0, ...); `lr="auto"` picks the
    learning rate with `lr_find` first. Weight decay skips biases and normalization weights (every parameter
    with fewer than two dimensions) unless `decay_norms_and_biases=True`. An Optimizer instance keeps its own
    param groups and learning rates (`lr="auto"` sets them); `weight_decay` and `decay_norms_and_biases` apply
    only to optimizers fit builds by name.

    `doctor` watches the run and puts findings in the result (True), also rolls back divergence and cuts the lr
    ("fix"), or is off (False). With `run_dir`, the run is recorded there (config, history, a checkpoint every
    `checkpoint_every` steps) and `resume=True` continues it from its last checkpoint exactly as if it had never
    stopped. Every argument is checked, and one batch run through model, loss and metrics, before the run
    directory is made or the model touched.

    `precision="bf16"` (CPU and CUDA) or `"fp16"` (CUDA, with a gradient scaler) runs the forward pass under
    autocast; `compile=True` runs the model through torch.compile. `threads="auto"` trains small models on one
    CPU thread (more only add waiting there; see descend.fit.threads), a number sets torch's thread count for the
    run, None leaves it. Steps never wait for the device: the loss and gradient norm are read every few steps.
    """
    arguments = dict(locals())
    plan = _plan(**arguments)
    ranks = world()[1]
    if ranks > 1:  # before open_run's collective call, which a refusing rank would never reach
        distributed.check_parallel(optimizer, plan.train, ranks, plan.batch_size)
    watch = doctor_lib.Doctor(doctor, model, input_sample(plan.train) if doctor else None, loss,
                              progress and is_main_process())
    run = runs.open_run(run_dir, {**arguments, "batch_size": plan.batch_size, "accumulate": plan.accumulate,
                                  "max_epochs": plan.max_epochs, "max_steps": plan.max_steps, "device": plan.device,
                                  "processes": ranks},
                        resume=resume, checkpoint_every=checkpoint_every)
    if lr == "auto" and run is not None and run.resume_from is not None:
        arguments["lr"] = run.resumed_lr(plan.device)  # the lr lr_find chose is in the checkpoint: no new search
    with threads_lib.using(plan.threads):
        return _train(plan, watch, run, arguments)


def _train(plan: _Plan, watch, run, arguments: dict) -> FitResult:
    """Build the optimizer and loop, run it, and put the result together (fit's second half, on its threads)."""
    model = arguments["model"]
    opt = _ready(plan, watch, **arguments)
    loop, stream = _loop(opt, plan, watch, **arguments)
    base_lr = opt.param_groups[0]["initial_lr"]
    if run is not None:
        recorder = runs.Recorder(run, loop, stream, model, plan.device)
        loop.callbacks = [recorder, *loop.callbacks, recorder.checkpoints]  # see Recorder
    state = loop.run()
    if state.restored_step is None:  # a restored snapshot already holds evaluation weights
        optim.eval_mode(opt)  # the returned model holds the averaged (Schedule-Free x, EMA) weights
    result = FitResult(model=model, history=state.history, best=best_record(state.history, loop.rules),
                       stop_reason=state.stop_reason, findings=watch.findings, elapsed=state.elapsed(), lr=base_lr)
    return run.finish(result) if run is not None else result


def best_record(history: list[dict], rules=()) -> dict:
    """The best record by the value a Patience rule monitors; else lowest val_loss, else lowest training loss."""
    watched = [r for r in rules if isinstance(r, stop_lib.Patience)]
    if watched:
        key, mode = watched[0].key, watched[0].mode
    else:
        key, mode = ("val_loss" if any("val_loss" in r for r in history) else "loss"), "min"
    scored = [r for r in history if key in r and math.isfinite(r[key])]
    if not scored:
        return {}
    pick = min if mode == "min" else max
    return dict(pick(scored, key=lambda r: r[key]))
