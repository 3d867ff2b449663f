"""`fit`: train a PyTorch model on data with the shared step loop and return a FitResult."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from . import auto as auto_lib, distributed, doctor as doctor_lib, initializers, losses, metrics as metric_lib, optim, preflight
from . import progress as progress_lib, runs, stop as stop_lib
from .data import BatchStream, _dataset_len, batches
from .errors import DescendError, DescendTypeError, check_positive_int
from .evaluations import LastEvaluation
from .loop import Callback, Loop


DEFAULT_EPOCHS = 20
_CONCAT_LIMIT = 1 << 20  # gradient elements below which grad_norm concatenates


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
    choice: auto_lib.Choice | None = None   # what optimizer="auto" or lr="auto" chose, and why


def grad_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Euclidean norm of all gradients together, as one tensor.

    Small models: one concatenation and one reduction, the cheapest variant measured for many small tensors.
    Large ones: per-tensor norms, so no copy of every gradient is made.
    """
    if not grads:
        return torch.zeros(())
    if sum(g.numel() for g in grads) <= _CONCAT_LIMIT:
        return torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(grads))))


def _clip_spec(grad_clip) -> tuple[str, float] | None:
    if grad_clip is None:
        return None
    if isinstance(grad_clip, (int, float)) and not isinstance(grad_clip, bool):
        grad_clip = {"norm": grad_clip}
    if not isinstance(grad_clip, dict) or len(grad_clip) != 1 or next(iter(grad_clip)) not in ("norm", "value"):
        raise DescendError(f"grad_clip must be a number (max norm), {{'norm': x}} or {{'value': x}}; got {grad_clip!r}")
    kind, limit = next(iter(grad_clip.items()))
    if not limit > 0:
        raise DescendError(f"grad_clip {kind} must be > 0, got {limit}")
    return kind, float(limit)


class FitTask:
    """One optimizer step = `accumulate` mini-batches forward and backward, then clip and update."""

    def __init__(self, model, loss_fn, optimizer, stream: BatchStream, val_source, *, accumulate: int, clip,
                 metric_fns: dict, device, parallel: distributed.DataParallel | None = None):
        self.model, self.loss_fn, self.optimizer, self.stream = model, loss_fn, optimizer, stream
        self.val_source, self.accumulate, self.clip, self.metric_fns = val_source, accumulate, clip, metric_fns
        self.device, self.parallel = device, parallel
        self.named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in self.named]
        self.needs_closure = isinstance(optimizer, torch.optim.LBFGS)
        self.evaluated = LastEvaluation(self.params)
        self.last_batches: list = []
        self.non_finite_origin = ""

    @property
    def epoch(self) -> int:
        return self.stream.epoch

    def _forward_backward(self) -> torch.Tensor:
        total = None
        self.last_batches = []
        for _ in range(self.accumulate):
            x, y = self.stream.next()
            self.last_batches.append((x, y))
            loss = self.loss_fn(self.model(x), y)
            if self.parallel is not None:
                loss = self.parallel.scale(loss)
            (loss if self.accumulate == 1 else loss / self.accumulate).backward()
            total = loss.detach() if total is None else total + loss.detach()
        return total if self.accumulate == 1 else total / self.accumulate

    def _clip_and_measure(self) -> float:
        grads = [p.grad for p in self.params if p.grad is not None]
        if self.clip is None:
            return grad_norm(grads).item()
        kind, limit = self.clip
        if kind == "norm":
            return torch.nn.utils.clip_grad_norm_(self.params, limit).item()
        norm = grad_norm(grads).item()
        torch.nn.utils.clip_grad_value_(self.params, limit)
        return norm

    def step(self) -> dict:
        if self.needs_closure:
            return self._closure_step()
        loss = self._forward_backward()
        if self.parallel is not None:  # torch.distributed: mean loss and gradients over all processes
            loss = self.parallel.average(loss, self.params)
        loss = loss.item()
        norm = self._clip_and_measure()
        self._update_if_finite(loss, norm)
        return {"loss": loss, "grad_norm": norm}

    def _update_if_finite(self, loss: float, norm: float, closure=None) -> None:
        """Step only on finite values; otherwise record where the NaN/Inf came from while the gradients exist."""
        if math.isfinite(loss) and math.isfinite(norm):
            self.optimizer.step(closure) if closure else self.optimizer.step()
        else:
            self.non_finite_origin = self._locate_non_finite()
        self.optimizer.zero_grad(set_to_none=True)

    def _closure_step(self) -> dict:
        batches_now = [self.stream.next() for _ in range(self.accumulate)]
        self.last_batches = batches_now

        def closure():
            if self.evaluated.matches(batches_now):   # the same point on the same data: nothing new to compute
                return self.evaluated.recall()
            self.optimizer.zero_grad(set_to_none=True)
            total = sum(self.loss_fn(self.model(x), y) for x, y in batches_now) / len(batches_now)
            total.backward()
            self.evaluated.remember(batches_now, total)
            return total

        loss = closure().item()
        norm = self._clip_and_measure()
        self._update_if_finite(loss, norm, closure)
        return {"loss": loss, "grad_norm": norm}

    @torch.no_grad()
    def evaluate(self) -> dict:
        if self.val_source is None:
            return {}
        was_training = self.model.training
        self.model.eval()
        optim.eval_mode(self.optimizer)  # Schedule-Free / EMA: evaluate on the averaged weights
        total, count, outputs, targets = 0.0, 0, [], []
        for x, y in self.val_source:
            x, y = x.to(self.device), y.to(self.device)
            out = self.model(x)
            total += self.loss_fn(out, y).item() * len(y)
            count += len(y)
            if self.metric_fns:
                outputs.append(out)
                targets.append(y)
        self.model.train(was_training)
        optim.train_mode(self.optimizer)
        record = {"val_loss": total / count}
        if self.metric_fns:
            out, y = torch.cat(outputs), torch.cat(targets)
            record.update({f"val_{name}": float(fn(out, y)) for name, fn in self.metric_fns.items()})
        return record

    def snapshot(self) -> dict[str, torch.Tensor]:
        optim.eval_mode(self.optimizer)  # keep the weights that were evaluated (Schedule-Free x, EMA average)
        snap = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        optim.train_mode(self.optimizer)
        return snap

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(snapshot)

    def explain_non_finite(self) -> str:
        return self.non_finite_origin

    def _locate_non_finite(self) -> str:
        """Where the first NaN/Inf appeared: the input batch, the model output, the loss, or a named gradient."""
        for i, (x, y) in enumerate(self.last_batches):
            for what, t in (("inputs", x), ("targets", y)):
                if t.dtype.is_floating_point and not torch.isfinite(t).all():
                    row = int((~torch.isfinite(t)).nonzero()[0][0])
                    return f"the input batch: {what} row {row} of the batch is not finite"
        with torch.no_grad():
            for x, y in self.last_batches:
                out = self.model(x)
                if not torch.isfinite(out).all():
                    return "the model output (inputs were finite); look for overflow or log/sqrt/division of zero"
                if not torch.isfinite(self.loss_fn(out, y)):
                    return "the loss (inputs and model output were finite); check the loss for log(0) or division by 0"
        for name, p in self.named:
            if p.grad is not None and not torch.isfinite(p.grad).all():
                return f"the gradient of parameter {name!r}; try a lower learning rate or grad_clip"
        return "the loss or gradient norm overflowed; try a lower learning rate or grad_clip"


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


def _check_callbacks(callbacks) -> None:
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise DescendTypeError(f"callbacks must be descend.loop.Callback objects (subclass it and override "
                                   f"on_step_end and friends), got {callback!r}")


def _plan(model, train, *, loss, val, optimizer, lr, schedule, batch_size, max_epochs, max_steps, stop, grad_clip,
          accumulate, weight_decay, init, seed, device, progress, metrics, eval_every, callbacks, **_) -> _Plan:
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
    loss_fn, metric_fns, clip = losses.get(loss), metric_lib.resolve(metrics), _clip_spec(grad_clip)
    device = preflight.device(device)
    preflight.learning_rate(lr)
    owner = preflight.optimizer_name(auto_lib.FIRST_ORDER if optimizer == "auto" else optimizer, weight_decay)
    initializers.scheme(init)
    progress_lib.check(progress)
    _check_callbacks(callbacks)
    train_source = batches(train, batch_size=batch_size, shuffle=True,
                           generator=torch.Generator().manual_seed(seed), name="train")
    val_source = None if val is None else batches(val, batch_size=max(batch_size, 256), shuffle=False,
                                                  generator=None, name="val")
    total = total_steps(max_epochs, max_steps, _dataset_len(train_source), accumulate)
    schedules = preflight.schedules(schedule, auto_lib.FIRST_ORDER if optimizer == "auto" else optimizer, owner,
                                    total)
    preflight.batch(model, loss_fn, metric_fns, train_source, "train")
    if val_source is not None:
        preflight.batch(model, loss_fn, metric_fns, val_source, "val")
    return _Plan(loss_fn, metric_fns, clip, device, batch_size, accumulate, max_epochs, max_steps, eval_every, total,
                 rules, schedules, train_source, val_source)


def total_steps(max_epochs: int | None, max_steps: int | None, batches_per_epoch: int | None,
                accumulate: int = 1) -> int | None:
    """The optimizer steps the run takes under its limits, where known. A step uses `accumulate` batches and may
    span an epoch's end, so `max_epochs` ends at the first step that completes the last epoch's final batch."""
    by_epochs = -(-max_epochs * batches_per_epoch // accumulate) if max_epochs and batches_per_epoch else None
    limits = [n for n in (max_steps, by_epochs) if n]
    return min(limits) if limits else None


def make_optimizer(model: nn.Module, optimizer, *, lr: float | None, weight_decay: float | None,
                   decay_norms_and_biases: bool = False) -> torch.optim.Optimizer:
    """`optimizer` itself when it is an Optimizer instance, else the registry's optimizer of that name (fit and
    lr_find both take either); `lr=None` leaves the optimizer's own default."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise DescendTypeError(f"optimizer must be a name or a torch.optim.Optimizer, got {optimizer!r}")
    return optim.create(model, optimizer, lr=lr, weight_decay=weight_decay,
                        decay_norms_and_biases=decay_norms_and_biases)


def _ready(plan: _Plan, *, model: nn.Module, optimizer, lr, weight_decay, decay_norms_and_biases, init, seed,
           **_) -> auto_lib.Auto:
    """Seed, re-initialize and place the model, and build (or adopt, in train mode) the optimizer; for
    optimizer="auto" or lr="auto" descend.auto decides what trains (see descend/auto)."""
    if isinstance(optimizer, torch.optim.Optimizer):
        optim.train_mode(optimizer)  # a Schedule-Free / EMA optimizer an earlier fit left in eval mode
    torch.manual_seed(seed)
    initializers.initialize(model, init)
    model.to(plan.device)
    model.train()   # a model handed over in eval mode trains with dropout and batch statistics all the same

    def build(chosen, chosen_lr):
        return make_optimizer(model, chosen, lr=chosen_lr, weight_decay=weight_decay,
                              decay_norms_and_biases=decay_norms_and_biases)
    if optimizer != "auto" and lr != "auto":
        return auto_lib.Auto(build(optimizer, lr))
    return auto_lib.decide(model, optimizer, lr, loss_fn=plan.loss_fn, source=plan.train, accumulate=plan.accumulate,
                           device=plan.device, weight_decay=weight_decay, total_steps=plan.total_steps,
                           lr_schedule=plan.schedules.get("lr"), processes=distributed.world()[1],
                           make_optimizer=build)


def _loop(chosen: auto_lib.Auto, plan: _Plan, watch, *, model: nn.Module, callbacks, progress,
          **_) -> tuple[Loop, BatchStream]:
    """The step loop over the training stream, with the limits, rules, schedules and callbacks of the plan (and
    auto's sweep, which drives the lr until it has chosen one)."""
    opt, sweep = chosen.optimizer, chosen.sweep
    schedules = plan.schedules if sweep is None else {**plan.schedules, "lr": sweep.multiplier}
    callbacks = list(callbacks) if sweep is None else [sweep, *callbacks]
    train_source, progress, parallel = distributed.attach(model, plan.train, progress)
    stream = BatchStream(train_source, plan.device)
    task = watch.guard(FitTask(model, plan.loss_fn, opt, stream, plan.val, accumulate=plan.accumulate,
                               clip=plan.clip, metric_fns=plan.metric_fns, device=plan.device, parallel=parallel), opt)
    loop = Loop(task, opt, plan.rules, schedules=schedules,
                callbacks=[*callbacks, *progress_lib.reporter(progress), *watch.callbacks],
                eval_every=plan.eval_every, has_validation=plan.val is not None, total_steps=plan.total_steps)
    return loop, stream


def fit(model: nn.Module, train, *, loss: str | Callable = "mse", val=None,
        optimizer: str | torch.optim.Optimizer = "auto", lr: float | str | None = None, schedule=None,
        batch_size: int = 64, max_epochs: int | None = None, max_steps: int | None = None,
        stop: Sequence[stop_lib.Rule] = (), grad_clip=None, accumulate: int = 1, weight_decay: float | None = None,
        decay_norms_and_biases: bool = False, init: str | None = None, seed: int = 0, device: str = "cpu",
        callbacks: Sequence[Callback] = (), progress: bool | int = True, metrics: Sequence = (),
        eval_every: int | None = None, doctor: bool | str = True, run_dir: str | None = None, resume: bool = False,
        checkpoint_every: int | None = None) -> FitResult:
    """Train `model` on `train` ((X, y) tensors or arrays, a Dataset or a DataLoader) and return a FitResult.

    Every step runs `accumulate` mini-batches forward and backward, clips the gradient if asked, and updates.
    With `val`, the validation loss and `metrics` are computed every epoch (or every `eval_every` steps).
    The run stops at `max_epochs`, `max_steps` (20 epochs when neither is given), or the first rule in `stop`
    that fires; NonFinite is always on.

    `optimizer="auto"` (the default) chooses the algorithm, lr and schedule from what it observes (descend.auto):
    L-BFGS with line searches for a deterministic full-batch objective, else AdamW with its lr from a sweep that
    is the run's first steps; `result.choice` says what and why. `lr=None` and `weight_decay=None` take a named
    optimizer's own defaults (`descend.optim.entry(name).defaults()`: AdamW lr 1e-3 and weight_decay 0.01,
    Prodigy and Schedule-Free SGD lr 1.0, ...); `lr="auto"` finds the lr with the same in-run sweep. Weight decay skips biases and normalization weights (every parameter
    with fewer than two dimensions) unless `decay_norms_and_biases=True`. An Optimizer instance keeps its own
    param groups and learning rates (`lr="auto"` sets them); `weight_decay` and `decay_norms_and_biases` apply
    only to optimizers fit builds by name.

    `doctor` watches the run and puts findings in the result (True), also rolls back divergence and cuts the lr
    ("fix"), or is off (False). With `run_dir`, the run is recorded there (config, history, a checkpoint every
    `checkpoint_every` steps) and `resume=True` continues it from its last checkpoint exactly as if it had never
    stopped. Every argument is checked, and one batch run through model, loss and metrics, before the run
    directory is made or the model touched.
    """
    arguments = dict(locals())
    plan = _plan(**arguments)
    ranks = distributed.world()[1]
    if ranks > 1:  # before open_run's collective call, which a refusing rank would never reach
        distributed.check_parallel(auto_lib.FIRST_ORDER if optimizer == "auto" else optimizer, plan.train, ranks,
                                   plan.batch_size)
    watch = doctor_lib.Doctor(doctor, model, plan.train, loss, progress and distributed.is_main_process())
    run = runs.open_run(run_dir, {**arguments, "batch_size": plan.batch_size, "accumulate": plan.accumulate,
                                  "max_epochs": plan.max_epochs, "max_steps": plan.max_steps, "device": plan.device,
                                  "processes": ranks},
                        resume=resume, checkpoint_every=checkpoint_every)
    chosen = _ready(plan, **arguments)
    _tell_choice(chosen, watch, run, progress and distributed.is_main_process())
    loop, stream = _loop(chosen, plan, watch, **arguments)
    opt, base_lr = chosen.optimizer, chosen.optimizer.param_groups[0]["initial_lr"]
    if run is not None:
        recorder = run.recorder(loop, stream, model, plan.device)
        loop.callbacks = [recorder, *loop.callbacks, recorder.checkpoints]  # see Recorder
    state = loop.run()
    if state.restored_step is None:  # a restored snapshot already holds evaluation weights
        optim.eval_mode(opt)  # the returned model holds the averaged (Schedule-Free x, EMA) weights
    choice = chosen.final()
    result = FitResult(model=model, history=state.history, best=best_record(state.history, loop.rules),
                       stop_reason=state.stop_reason, findings=watch.findings, elapsed=state.elapsed(),
                       lr=base_lr if choice is None else choice.lr, choice=choice)
    return run.finish(result) if run is not None else result


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
