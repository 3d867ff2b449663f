"""`fit`: train a PyTorch model on data with the shared step loop and return a FitResult.

Read `fit` below first: the spec of the call (spec.py: every argument, checked), the plan (the data, the steps),
the doctor and the run directory, the optimizer, the loop over FitTask's steps (task.py), the result.

May import: core, optim, doctor, runs.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import doctor as doctor_lib, optim, runs
from ..core import stop as stop_lib
from ..core.loop import Loop
from ..runs.config import fit_config
from ..runs.ranks import is_main_process
from . import distributed, initializers, progress as progress_lib
from .data import BatchStream, examples, input_sample
from .lr_find import auto_lr
from .spec import FitSpec, Plan
from .task import FitTask, make_optimizer


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
    stop_code: str | None = None  # which rule stopped the run, for code to act on: "max_steps", "patience",
                                  # "non_finite", ... (Rule.code; None when it was not a rule)


def fit(model: nn.Module, train, **settings) -> FitResult:
    """Train `model` on `train` ((X, y) tensors or arrays, a Dataset or a DataLoader) and return a FitResult.

    Every step runs `accumulate` mini-batches forward and backward, clips the gradient if asked (`grad_clip`: a
    max norm, {"norm": x} or {"value": x}), and updates. With `val`, the validation loss and `metrics` are computed
    every epoch (or every `eval_every` steps). The run stops at `max_epochs`, `max_steps` (20 epochs when neither
    is given), or the first rule in `stop` that fires; NonFinite is always on.

    `lr=None` and `weight_decay=None` take the optimizer's own defaults (`descend.optim.entry(name).defaults()`:
    AdamW lr 1e-3 and weight_decay 0.01, Prodigy and Schedule-Free SGD lr 1.0, ...); `lr="auto"` picks the
    learning rate with `lr_find` first. Weight decay skips biases and normalization weights (every parameter
    with fewer than two dimensions) unless `decay_norms_and_biases=True`. An Optimizer instance keeps its own
    param groups and learning rates (`lr="auto"` sets them); `weight_decay` and `decay_norms_and_biases` apply
    only to optimizers fit builds by name.

    `doctor` watches the run and puts findings in the result (True), also rolls back divergence and cuts the lr
    ("fix"), or is off (False). With `run_dir`, the run is recorded there (config, history, a checkpoint every
    `checkpoint_every` steps) and `resume=True` continues it from its last checkpoint exactly as if it had never
    stopped. Every argument is checked (see FitSpec, which declares them), and one batch run through model, loss
    and metrics, before the run directory is made or the model touched.
    """
    spec = FitSpec.of(model, train, settings)
    plan = Plan.of(spec)
    watch = _doctor(spec, plan)
    run = runs.open_run(spec.run_dir, lambda: _config(spec, plan), resume=spec.resume,
                        checkpoint_every=spec.checkpoint_every)
    opt = _optimizer(spec, watch, run)
    loop = _loop(spec, plan, watch, opt, run)
    state = loop.run()
    if state.restored_step is None:  # a restored snapshot already holds evaluation weights
        optim.eval_mode(opt)  # the returned model holds the averaged (Schedule-Free x, EMA) weights
    result = FitResult(model=model, history=state.history, best=best_record(state.history, loop.rules),
                       stop_reason=state.stop_reason, findings=watch.findings, elapsed=state.elapsed(),
                       lr=opt.param_groups[0]["initial_lr"], stop_code=state.stop_code)
    return run.finish(result) if run is not None else result


fit.__signature__ = inspect.signature(FitSpec).replace(return_annotation=FitResult)  # help(fit) lists every argument


def _doctor(spec: FitSpec, plan: Plan) -> doctor_lib.Doctor:
    """The doctor of the run, handed what it reads of the data (it never looks into fit's objects)."""
    sample, val_size = (input_sample(plan.train), examples(plan.val)) if spec.doctor else (None, None)
    return doctor_lib.Doctor(spec.doctor, spec.model, sample, spec.loss, spec.progress and is_main_process(),
                             val_size=val_size)


def _config(spec: FitSpec, plan: Plan) -> dict:
    """config.json of the run: the recorded settings of the spec, the model, the data, and where it runs."""
    return fit_config({**spec.recorded(), "processes": plan.processes}, model=spec.model, train=spec.train,
                      val=spec.val, checkpoint_every=spec.checkpoint_every, device=spec.device)


def _optimizer(spec: FitSpec, watch, run) -> torch.optim.Optimizer:
    """Seed, re-initialize and place the model, and build (or adopt, in train mode) the optimizer; for lr="auto"
    lr_find picks the learning rate first (a resumed run takes it from its checkpoint instead)."""
    model, optimizer, lr = spec.model, spec.optimizer, spec.lr
    if isinstance(optimizer, torch.optim.Optimizer):
        optim.train_mode(optimizer)  # a Schedule-Free / EMA optimizer an earlier fit left in eval mode
    torch.manual_seed(spec.seed)
    initializers.initialize(model, spec.init)
    model.to(spec.device)
    model.train()   # a model handed over in eval mode trains with dropout and batch statistics all the same
    if lr == "auto" and run is not None and run.resume_from is not None:
        lr = run.resumed_lr(spec.device)  # the lr lr_find chose is in the checkpoint: no new search
    elif lr == "auto":
        lr = auto_lr(model, spec.train, spec.loss_fn, optimizer, batch_size=spec.batch_size,
                     weight_decay=spec.weight_decay, decay_norms_and_biases=spec.decay_norms_and_biases,
                     seed=spec.seed, device=spec.device, progress=spec.progress)
        watch.note_auto_lr(lr)
        if isinstance(optimizer, torch.optim.Optimizer):
            for group in optimizer.param_groups:
                group["initial_lr"] = group["lr"]  # schedules multiply the lr found, not an earlier one
    return make_optimizer(model, optimizer, lr=lr, weight_decay=spec.weight_decay,
                          decay_norms_and_biases=spec.decay_norms_and_biases)


def _loop(spec: FitSpec, plan: Plan, watch, opt: torch.optim.Optimizer, run) -> Loop:
    """The step loop over the training stream, with the spec's rules, schedules and callbacks, and the run
    directory's recorder."""
    train_source, progress, parallel = distributed.attach(spec.model, plan.train, spec.progress)
    stream = BatchStream(train_source, spec.device)
    task = watch.guard(FitTask(spec.model, spec.loss_fn, opt, stream, plan.val, accumulate=spec.accumulate,
                               clip=spec.clip, metric_fns=spec.metric_fns, device=spec.device, parallel=parallel),
                       opt)
    loop = Loop(task, opt, spec.rules, schedules=plan.schedules,
                callbacks=[*spec.callbacks, *progress_lib.reporter(progress), *watch.callbacks],
                eval_every=spec.eval_every, has_validation=plan.val is not None, total_steps=plan.total_steps)
    if run is not None:
        loop.add(*runs.Recorder(run, loop, stream, spec.model, spec.device).callbacks)
    return loop


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
