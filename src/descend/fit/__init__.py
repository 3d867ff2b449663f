"""`fit`: train a PyTorch model on data with the shared step loop and return a FitResult.

Read `fit` below first: the spec of the call (spec.py: every argument, checked), the plan (the data, the steps),
the doctor and the run directory, the optimizer, the loop over FitTask's steps (task.py), the result.

May import: core, optim, doctor, runs.
"""
from __future__ import annotations

import inspect
import math
import operator
import sys
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import doctor as doctor_lib, optim, runs
from ..core import initializers, stop as stop_lib
from ..core.loop import Loop
from ..core.seeding import manual_seed
from ..runs.best import best_rows
from ..runs.config import fit_config
from ..runs.ranks import is_main_process
from . import auto as auto_lib, distributed, precision as precision_lib, progress as progress_lib
from . import threads
from .auto import converge
from .auto.observe import batches_per_epoch
from .observer import tell_result, tell_settings
from .data import BatchStream, examples, input_sample, repeated_draws, stored_order_targets
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
    lr: float | None = None       # the first param group's base learning rate: what "auto" (or None) gave
    stop_code: str | None = None  # which rule stopped the run, for code to act on: "max_steps", "patience",
                                  # "non_finite", ... (Rule.code; None when it was not a rule)
    choice: auto_lib.Choice | None = None   # what optimizer="auto" or lr="auto" chose, and why

    def __post_init__(self):
        self.findings = doctor_lib.Findings(self.findings)   # a list that Jupyter shows as a coloured table

    def _repr_html_(self) -> str:
        """Jupyter's view: the summary beside the loss curve, and the findings coloured by severity."""
        from ..runs import notebook   # matplotlib and pandas, only when a notebook asks
        return notebook.run_html("descend fit", self.summary_rows(), self.history, self.findings,
                                      self.best.get("step"))

    def __repr__(self) -> str:
        """What a terminal shows for `print(result)`: the summary and the findings in a few lines; the model and
        the history (one record a step) are attributes to look at on their own."""
        rows = [f"  {label}: {f'{value:.4g}' if isinstance(value, float) else value}"
                for label, value in self.summary_rows()]
        findings = doctor_lib.findings.summary(self.findings).replace("\n", "\n  ")
        return "\n".join(["FitResult", *rows, f"  {findings}",
                          f"  (.model: {type(self.model).__name__}; .history: {len(self.history)} records, one a "
                          "step; .findings, .choice, .best)"])

    def summary_rows(self) -> list[list]:
        """[label, value] rows: steps, epochs, why it stopped, time, lr (and auto's choice), the best record."""
        last = self.history[-1] if self.history else {}
        searched = self.choice is not None and self.choice.lr is None   # auto's L-BFGS: lr 1 is no learning rate
        rows = [["steps", len(self.history)], ["epochs", last.get("epoch", 0)], ["stopped because", self.stop_reason],
                ["elapsed (s)", round(self.elapsed, 3)],
                ["lr", "none: a line search sets each step's length" if searched else self.lr],
                ["chosen", self.choice.line() if self.choice else None], ["run directory", self.run_dir],
                ["final training loss", last.get("loss")],
                ["final validation loss", next((r["val_loss"] for r in reversed(self.history) if "val_loss" in r), None)]]
        return [row for row in rows if row[1] is not None] + best_rows(self.best)


def fit(model: nn.Module, train, **settings) -> FitResult:
    """Train `model` on `train` ((X, y) tensors or arrays, a Dataset or a DataLoader) and return a FitResult.

    Every step runs `accumulate` mini-batches forward and backward, clips the gradient if asked (`grad_clip`: a
    max norm, {"norm": x} or {"value": x}), and updates. With `val`, the validation loss and `metrics` are computed
    every epoch (or every `eval_every` steps). The run stops at `max_epochs`, `max_steps` (20 epochs when neither
    is given, except auto's L-BFGS, which then runs until it has converged: fit/auto/converge.py), or the first
    rule in `stop` that fires; NonFinite is always on.

    `optimizer="auto"` (the default) chooses the algorithm, lr and schedule from what it observes (fit/auto):
    L-BFGS with line searches for a deterministic full-batch objective, else AdamW with its lr from a sweep that
    is the run's first steps; `result.choice` says what and why. `lr=None` and `weight_decay=None` take a named
    optimizer's own defaults (`descend.optim.entry(name).defaults()`: AdamW lr 1e-3 and weight_decay 0.01,
    Prodigy and Schedule-Free SGD lr 1.0, ...); `lr="auto"` finds the lr with the same in-run sweep. Weight
    decay skips biases and normalization weights (every parameter with fewer than two dimensions) unless `decay_norms_and_biases=True`. An Optimizer instance keeps its own
    param groups and learning rates (`lr="auto"` sets them); `weight_decay` and `decay_norms_and_biases` apply
    only to optimizers fit builds by name.

    `doctor` watches the run and puts findings in the result (True), also rolls back divergence and cuts the lr
    ("fix"), or is off (False). With `run_dir`, the run is recorded there (config, history, a checkpoint every
    `checkpoint_every` steps) and `resume=True` continues it from its last checkpoint exactly as if it had never
    stopped. Every argument is checked (see FitSpec, which declares them), and one batch run through model, loss
    and metrics, before the run directory is made or the model touched.

    `precision="bf16"` (CPU and CUDA) or `"fp16"` (CUDA, with a gradient scaler) runs the forward pass under
    autocast; `compile=True` runs the model through torch.compile. `threads="auto"` trains small models on one
    CPU thread (more only add waiting there; see descend.fit.threads), a number sets torch's thread count for the
    run, None leaves it. Steps never wait for the device: the loss and gradient norm are read every few steps.
    """
    spec = FitSpec.of(model, train, settings)
    plan = Plan.of(spec)
    watch = _doctor(spec, plan)
    run = runs.open_run(spec.run_dir, lambda: _config(spec, plan), resume=spec.resume,
                        checkpoint_every=spec.checkpoint_every)
    try:
        with threads.using(threads.choose(spec.threads, sum(p.numel() for p in model.parameters()), spec.batch_size,
                                          spec.device)):
            return _train(spec, plan, watch, run)
    finally:
        if run is not None:
            run.close()   # the run directory's lock


def _train(spec: FitSpec, plan: Plan, watch, run) -> FitResult:
    """Build the optimizer and the loop, run it, and put the result together (fit's second half, on its threads)."""
    model = spec.model
    chosen = _optimizer(spec, plan)
    _tell_choice(chosen, watch, run, spec.progress and is_main_process())
    loop = _loop(spec, plan, watch, chosen, run)
    opt = chosen.optimizer
    tell_settings(spec.callbacks, spec.recorded())
    state = loop.run()
    if state.restored_step is None:  # a restored snapshot already holds evaluation weights
        optim.eval_mode(opt)  # the returned model holds the averaged (Schedule-Free x, EMA) weights
    choice = chosen.final()
    swept = chosen.sweep is not None and choice is not None   # the sweep's groups hold a multiplier base of 1
    result = FitResult(model=model, history=state.history, best=best_record(state.history, loop.rules),
                       stop_reason=state.stop_reason, findings=watch.findings, elapsed=state.elapsed(),
                       lr=choice.lr if swept else opt.param_groups[0]["initial_lr"], stop_code=state.stop_code,
                       choice=choice)
    result = run.finish(result) if run is not None else result
    tell_result(spec.callbacks, result)
    return result


fit.__signature__ = inspect.signature(FitSpec).replace(return_annotation=FitResult)  # help(fit) lists every argument


def _doctor(spec: FitSpec, plan: Plan) -> doctor_lib.Doctor:
    """The doctor of the run, handed what it reads of the data (it never looks into fit's objects)."""
    sample, val_size = (input_sample(plan.train), examples(plan.val)) if spec.doctor else (None, None)
    val_sample = input_sample(plan.val) if spec.doctor and plan.val is not None else None
    settings = {name: getattr(spec, name) for name in doctor_lib.SETTINGS}
    batches = batches_per_epoch(plan.train)
    return doctor_lib.Doctor(spec.doctor, spec.model, sample, spec.loss, spec.progress and is_main_process(),
                             val_size=val_size, val_sample=val_sample, settings=settings,
                             steps_per_epoch=math.ceil(batches / spec.accumulate) if batches else None,
                             drawn=repeated_draws(plan.train) if spec.doctor else None,
                             in_order=stored_order_targets(plan.train) if spec.doctor else None,
                             planned_rows=_planned_rows(plan, batches, spec.accumulate))


def _planned_rows(plan: Plan, batches: int | None, accumulate: int) -> int | None:
    """The training rows the whole run goes through (its planned steps' batches), when the data and the run's
    length say; the doctor sizes its fixed work to it."""
    rows = examples(plan.train)
    if not (plan.total_steps and batches and rows):
        return None
    return plan.total_steps * accumulate * rows // batches


def _config(spec: FitSpec, plan: Plan) -> dict:
    """config.json of the run: the recorded settings of the spec, the model, the data, and where it runs."""
    return fit_config({**spec.recorded(), "processes": plan.processes}, model=spec.model, train=spec.train,
                      val=spec.val, checkpoint_every=spec.checkpoint_every, device=spec.device)


def _optimizer(spec: FitSpec, plan: Plan) -> auto_lib.Auto:
    """Seed, re-initialize and place the model, and build (or adopt, in train mode) the optimizer; for
    optimizer="auto" or lr="auto" fit/auto decides what trains (a resumed run's sweep state, in its checkpoint,
    brings the same choice back)."""
    model, optimizer, lr = spec.model, spec.optimizer, spec.lr
    if isinstance(optimizer, torch.optim.Optimizer):
        optim.train_mode(optimizer)  # a Schedule-Free / EMA optimizer an earlier fit left in eval mode
    manual_seed(spec.seed)
    initializers.initialize(model, spec.init)
    model.to(spec.device)
    model.train()   # a model handed over in eval mode trains with dropout and batch statistics all the same

    def build(chosen, chosen_lr):
        return make_optimizer(model, chosen, lr=chosen_lr, weight_decay=spec.weight_decay,
                              decay_norms_and_biases=spec.decay_norms_and_biases)
    if optimizer != "auto" and lr != "auto":
        opt = build(optimizer, lr)
        return auto_lib.Auto(opt, rules=converge.for_named(opt, spec.rules, batches_per_epoch(plan.train) == 1),
                             total_steps=plan.total_steps)
    return auto_lib.decide(model, optimizer, lr, loss=spec.loss, loss_fn=spec.loss_fn, source=plan.train,
                           accumulate=spec.accumulate, device=spec.device, weight_decay=spec.weight_decay,
                           lr_schedule=plan.schedules.get("lr"),
                           limits=auto_lib.Limits(spec.rules, spec.default_limit, spec.limit_given, plan.total_steps,
                                                  plan.val is not None),
                           processes=plan.processes, make_optimizer=build)


def _tell_choice(chosen: auto_lib.Auto, watch, run, progress) -> None:
    """Let the doctor, the run directory and the progress line know the choice: now, or when the sweep makes it."""
    def tell(choice: auto_lib.Choice) -> None:
        watch.note_choice(choice)
        if run is not None:
            run.record_choice(choice.to_dict())
        if progress:
            print(choice.line(), file=sys.stderr, flush=True)
    if chosen.sweep is not None:
        chosen.sweep.on_choice = tell
    elif chosen.choice is not None:
        tell(chosen.choice)


def _loop(spec: FitSpec, plan: Plan, watch, chosen: auto_lib.Auto, run) -> Loop:
    """The step loop over the training stream, with the spec's rules, schedules and callbacks, auto's sweep (which
    drives the lr until it has chosen one) and the run directory's recorder."""
    opt, sweep = chosen.optimizer, chosen.sweep
    rules = spec.rules if chosen.rules is None else chosen.rules
    total_steps = plan.total_steps if chosen.rules is None else chosen.total_steps
    schedules = plan.schedules if sweep is None else {**plan.schedules, "lr": sweep.multiplier}
    callbacks = list(spec.callbacks) if sweep is None else [sweep, *spec.callbacks]
    train_source, progress, parallel = distributed.attach(spec.model, plan.train, spec.progress)
    stream = BatchStream(train_source, spec.device)
    amp = precision_lib.Precision(spec.precision, spec.device)
    task = watch.guard(FitTask(spec.model, spec.loss_fn, opt, stream, plan.val, accumulate=spec.accumulate,
                               clip=spec.clip, metric_fns=spec.metric_fns, device=spec.device, parallel=parallel,
                               precision=amp, forward=precision_lib.compiled(spec.model, spec.compile),
                               host_checks=spec.doctor == "fix"), opt)
    loop = Loop(task, opt, rules, schedules=schedules,
                callbacks=[*callbacks, *progress_lib.reporter(progress), *watch.callbacks,
                           *([amp] if amp.scaler is not None else [])],
                eval_every=spec.eval_every, has_validation=plan.val is not None, total_steps=total_steps)
    if run is not None:
        loop.add(*runs.Recorder(run, loop, stream, spec.model, spec.device).callbacks)
    return loop


def best_record(history: list[dict], rules=()) -> dict:
    """The best record by the value a Patience rule monitors, among the evaluations it reads (a caller's Patience
    skips auto's sweep, whose weights the run left); else lowest val_loss, else lowest training loss."""
    watched = [r for r in rules if isinstance(r, stop_lib.Patience)]
    if watched:
        key, mode = watched[0].key, watched[0].mode
        history = history if watched[0].reads_sweep else [r for r in history if not r.get("sweep")]
    else:
        key, mode = ("val_loss" if any("val_loss" in r for r in history) else "loss"), "min"
    scored = [r for r in history if key in r and math.isfinite(r[key])]
    if not scored:
        return {}
    pick = min if mode == "min" else max
    return dict(pick(scored, key=operator.itemgetter(key)))
