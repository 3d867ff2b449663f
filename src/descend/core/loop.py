"""The one step loop shared by `fit` and `minimize`.

A task knows how to take one optimization step and report it; the loop applies schedules, records history,
runs evaluations, asks the stopping rules and tells callbacks. Nothing here knows whether the loss came from
mini-batches or from a single function.

A task may report its values as tensors still on the device (fit does): then the loop takes further steps
without waiting for them, and copies the values of all steps taken since in one transfer (`settle`) when an
evaluation is due, every `sync_every` steps, or when a rule or callback says it must see the step now
(`needs_sync`). Rules and callbacks are then told about each of those steps in order, with `state.step` set to
that step (and `state.replaying` True for all but the last, whose model the run has moved past). A rule that
stops the run at an earlier one ends the history there.
"""
from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch

from .errors import DescendError
from .schedules import Schedule

SYNC_EVERY = 32   # steps taken at most before the device's values are copied to the host
BETAS = {"beta1": 0, "beta2": 1}   # schedule keys for the two entries of Adam-style `betas`
LR_SCALE = "lr_scale"   # a param group's lr relative to the run's: the history records the run's lr
_NOT_SCHEDULABLE = {"params", "param_names", "initial_lr", LR_SCALE}


@dataclass(frozen=True)
class NonFiniteOrigin:
    """Where a step's first NaN/Inf appeared, as a value (behaviour is keyed on `part`, never on the words):
    `part` is "input" or "target" (the data), "output" (the model), "loss", "gradient" (of parameter `name`, or of
    x in minimize) or "overflow" (everything was finite until the norm); `detail` says it in words."""

    part: str
    detail: str
    name: str | None = None

    @property
    def from_data(self) -> bool:
        """True when the data itself holds the NaN/Inf (no learning rate or clipping can help)."""
        return self.part in ("input", "target")

    def __str__(self) -> str:
        return self.detail


class Task(Protocol):
    """What the loop needs from an objective."""

    epoch: int                     # completed passes over the data (0 for objectives without data)
    non_finite_origin: NonFiniteOrigin | None   # after a step with NaN/Inf: where it first appeared

    def step(self) -> dict: ...    # one optimizer step; returns at least {"loss": float or a one-element tensor}
    def evaluate(self) -> dict: ...  # validation metrics, {} when there is nothing to evaluate
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...
    # optional: steps_read(records), called with the records of the steps since the last settle once their values are
    # numbers, before any rule or callback is told of them (FitTask gives skipped steps back to the flat optimizer);
    # settled(), called once the loop has read every step taken so far (FitTask forgets kept batches)


class Callback:
    """Hooks into the loop; override what you need. `fit(callbacks=[...])` takes these.

    The loop calls callbacks by `order`, lowest first (equal orders keep the order they were given in): FIRST runs
    before every other callback (a run directory's recorder restores a checkpoint before the others start), LAST
    after them (its checkpoint holds every other callback's memory of the step). A callback with memory across
    steps defines `state_dict()` and `load_state_dict(state)`, and the loop's own state_dict holds it.
    """

    order: int = 0

    def needs_sync(self, state: "LoopState") -> bool:
        """Whether this callback must be told about the step just taken before the next one runs. By default a
        callback that overrides on_step or on_step_end is (it may look at the model); one that reads only the
        record can return False and be told in batches (see the module notes)."""
        return type(self).on_step is not Callback.on_step or type(self).on_step_end is not Callback.on_step_end

    def on_start(self, state: "LoopState") -> None: ...
    def on_step_begin(self, state: "LoopState") -> None: ...  # before each step, as it happens (state.step: done)
    def on_step(self, state: "LoopState", record: dict) -> None: ...
    def on_evaluate(self, state: "LoopState", record: dict) -> None: ...
    def on_step_end(self, state: "LoopState", record: dict) -> None: ...  # after the rules: the step is complete
    def on_end(self, state: "LoopState") -> None: ...


FIRST, LAST = -100, 100   # the orders of callbacks that must run before, or after, all others


@dataclass
class LoopState:
    """Where the run stands; rules and callbacks read it."""

    task: Task
    optimizer: torch.optim.Optimizer
    total_steps: int | None = None
    has_validation: bool = False
    step: int = 0
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    stop_reason: str | None = None
    stop_code: str | None = None   # the code of the rule that stopped the run (Rule.code), for code to act on
    restored_step: int | None = None
    started: float = field(default_factory=time.perf_counter)
    time_before: float = 0.0       # seconds spent before a resume
    replaying: bool = False        # told about a step the model has already moved past (see the module notes)
    retired: list = field(default_factory=list)   # callbacks that asked not to be told of steps any more (retire)

    def retire(self, callback: "Callback") -> None:
        """Stop telling `callback` of steps from the next record on (on_step_begin, on_step, on_evaluate,
        on_step_end, needs_sync): for one whose work ended with a phase of the run (auto's lr sweep once its watch
        is over), so that the loop stops calling it every step. Its on_end and its state_dict still count."""
        self.retired.append(callback)

    def elapsed(self) -> float:
        return self.time_before + time.perf_counter() - self.started

    def state_dict(self) -> dict:
        """The counters a checkpoint needs; the history itself is saved line by line beside it."""
        return {"step": self.step, "epoch": self.epoch, "elapsed": self.elapsed(), "history_length": len(self.history)}

    def load_state_dict(self, state: dict, history: list[dict]) -> None:
        """Continue from a checkpoint: counters, time spent so far and the history recorded up to it."""
        self.step, self.epoch, self.time_before = state["step"], state["epoch"], state["elapsed"]
        self.history[:] = history


def schedulable(optimizer: torch.optim.Optimizer) -> set[str]:
    """The hyperparameters a schedule can drive: the numeric entries of the param groups, and beta1/beta2 for
    `betas` (flags such as `foreach` or `nesterov` are not values a schedule could give), less what the optimizer
    names `unschedulable` (running state such as Schedule-Free's step count)."""
    keys = {"lr"}
    for group in optimizer.param_groups:
        keys |= {key for key, value in group.items() if key not in _NOT_SCHEDULABLE and
                 isinstance(value, (numbers.Real, torch.Tensor)) and not isinstance(value, bool)}
        keys |= set(BETAS) if "betas" in group else set()
    return keys - set(getattr(optimizer, "unschedulable", ()))


def check_schedule_keys(keys, valid: set[str], owner: str) -> None:
    """Refuse a schedule for a hyperparameter outside `valid` (see `schedulable`), listing those it can drive."""
    unknown = sorted(set(keys) - valid)
    if unknown:
        raise DescendError(f"schedule for {unknown[0]!r}: {owner} has no such hyperparameter; it can schedule "
                           f"{', '.join(sorted(valid))}")


def decay_exempt(optimizer: torch.optim.Optimizer) -> frozenset[int]:
    """The param groups kept free of weight decay: those at 0 while another group decays (biases and norms in
    descend's split, or your own no-decay group). A weight_decay schedule leaves them at 0."""
    groups = optimizer.param_groups
    if not any(group.get("weight_decay") for group in groups):
        return frozenset()
    return frozenset(i for i, group in enumerate(groups) if group.get("weight_decay") == 0)


def apply_schedules(optimizer: torch.optim.Optimizer, schedules: dict[str, Schedule], step: int,
                    exempt: frozenset[int] = frozenset()) -> None:
    """Set each scheduled hyperparameter for `step`: lr multiplies each group's base lr, others are set to the
    schedule's value in every group that has them, except weight decay in the `exempt` groups."""
    for key, schedule in schedules.items():
        value = schedule(step)
        if key == "lr":   # the usual one, set every step: no other test per group
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * value
            continue
        for i, group in enumerate(optimizer.param_groups):
            if key in BETAS:
                if "betas" in group:
                    betas = list(group["betas"])
                    betas[BETAS[key]] = value
                    group["betas"] = tuple(betas)
            elif key in group and not (key == "weight_decay" and i in exempt):
                group[key] = value


STEP_HOOKS = ("on_step_begin", "on_step", "on_evaluate", "on_step_end")   # what a retired callback is no longer told


def _overridden(callbacks, name: str) -> list[Callable]:
    return [getattr(cb, name) for cb in callbacks if getattr(type(cb), name) is not getattr(Callback, name)]


def _not_bound_to(methods: list[Callable], owners: set[int]) -> list[Callable]:
    """The `methods` not bound to an object whose id is in `owners`."""
    return [method for method in methods if id(getattr(method, "__self__", None)) not in owners]


def never(self, state: "LoopState") -> bool:
    """`needs_sync = never` in a rule or callback that need not see each step before the next: the loop skips
    asking it."""
    return False


def host_values(tensors: list[torch.Tensor]) -> list[float]:
    """The values of one-element tensors as Python numbers, copied to the host in one transfer."""
    if not tensors:
        return []
    try:
        return torch.stack(tensors).tolist()   # the common case: 0-dim tensors of one dtype and device
    except RuntimeError:
        return torch.stack([t.detach().reshape(()).to("cpu", torch.float64) for t in tensors]).tolist()


def settle(records: list[dict]) -> None:
    """Replace every tensor value in `records` (one-element tensors: a loss, a norm) by its Python number, copying
    them all in one transfer."""
    found = [(record, key) for record in records for key, value in record.items() if isinstance(value, torch.Tensor)]
    if not found:
        return
    values = host_values([record[key] for record, key in found])
    for (record, key), value in zip(found, values):
        record[key] = value


class Loop:
    """Runs a task step by step until a rule says stop."""

    def __init__(self, task: Task, optimizer: torch.optim.Optimizer, rules, *, schedules=None,
                 callbacks=(), eval_every: int | None = None, has_validation: bool = False,
                 total_steps: int | None = None, sync_every: int = SYNC_EVERY):
        self.task, self.optimizer, self.rules = task, optimizer, list(rules)
        self.sync_every = sync_every
        self.schedules = dict(schedules or {})
        self.callbacks: list[Callback] = []
        self.add(*callbacks)
        self.eval_every = eval_every
        self.state = LoopState(task, optimizer, total_steps, has_validation)
        if self.schedules:   # fit checked them already; a Loop built by hand is checked here
            check_schedule_keys(self.schedules, schedulable(optimizer), type(optimizer).__name__)
        self.exempt = decay_exempt(optimizer)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def add(self, *callbacks: Callback) -> None:
        """Put `callbacks` among the loop's, in `order` (see Callback)."""
        self.callbacks = sorted([*self.callbacks, *callbacks], key=lambda callback: callback.order)

    def state_dict(self) -> dict:
        """What a checkpoint needs of the loop: counters, the optimizer, the stopping rules' memory and that of the
        callbacks with state (by class name, in order). The history itself is saved line by line beside it."""
        return {"loop": self.state.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rules": [rule.state_dict() for rule in self.rules],
                "callbacks": [[type(cb).__qualname__, cb.state_dict()] for cb in self._stateful()]}

    def load_state_dict(self, saved: dict, history: list[dict]) -> None:
        """Continue from `state_dict()` and the history recorded up to it; the callbacks with state must be the
        ones the run started with."""
        self.optimizer.load_state_dict(saved["optimizer"])
        for rule, rule_state in zip(self.rules, saved["rules"]):
            rule.load_state_dict(rule_state)
        callbacks, states = self._stateful(), saved.get("callbacks", [])
        names, saved_names = [type(cb).__qualname__ for cb in callbacks], [name for name, _ in states]
        if names != saved_names:
            raise DescendError(f"the checkpoint holds the memory of callbacks {saved_names or 'none'}, but this run "
                               f"has {names or 'none'} with state_dict; resume with the callbacks the run started with")
        for callback, (_, callback_state) in zip(callbacks, states):
            callback.load_state_dict(callback_state)
        self.state.load_state_dict(saved["loop"], history)

    def _stateful(self) -> list[Callback]:
        return [cb for cb in self.callbacks if callable(getattr(cb, "state_dict", None))
                and callable(getattr(cb, "load_state_dict", None))]

    def run(self) -> LoopState:
        state = self.state
        hooks = {name: _overridden(self.callbacks, name) for name in ("on_start", *STEP_HOOKS, "on_end")}
        self._askers = [obj.needs_sync for obj in [*self.rules, *self.callbacks] if type(obj).needs_sync is not never]
        for rule in self.rules:
            rule.setup(state)
        for hook in hooks["on_start"]:
            hook(state)
        state.started = time.perf_counter()
        pending: list[dict] = []
        try:
            while state.stop_reason is None:
                for hook in hooks["on_step_begin"]:
                    hook(state)
                record, epoch_end = self._step()
                pending.append(record)
                evaluated = state.has_validation and self._evaluation_due(epoch_end)
                if evaluated or self._sync_due(record, len(pending)):
                    told, pending = pending, []
                    self._tell(told, evaluated, hooks)
        finally:
            self._settle(pending)   # cut short by an error: the history holds numbers all the same
            for rule in self.rules:
                rule.finish(state)
            for hook in hooks["on_end"]:
                hook(state)
        return state

    def _sync_due(self, record: dict, pending: int) -> bool:
        """Whether the steps taken must be told now: values already on the host, `sync_every` steps pending, or a
        rule or callback that must see this step."""
        if pending >= self.sync_every or not isinstance(record.get("loss"), torch.Tensor):
            return True
        for ask in self._askers:   # a plain loop: no generator made every step
            if ask(self.state):
                return True
        return False

    def _tell(self, pending: list[dict], evaluated: bool, hooks: dict) -> None:
        """Copy the pending steps' values to the host in one transfer, then evaluate (for the last one) and tell
        the callbacks and rules about each step in order. A rule that stops at an earlier step ends the history
        there."""
        state = self.state
        self._settle(pending)
        settled = getattr(self.task, "settled", None)
        latest = (state.step, state.epoch)
        on_step, on_step_end, final = hooks["on_step"], hooks["on_step_end"], len(pending) - 1
        for i, record in enumerate(pending):
            last = i == final
            state.step, state.epoch, state.replaying = record["step"], record["epoch"], not last
            if last and evaluated:
                self._evaluate(record, hooks["on_evaluate"])
            for hook in on_step:
                hook(state, record)
            state.stop_reason = self._ask_rules(record)
            if state.stop_reason is not None and not (last and evaluated) and state.has_validation:
                self._evaluate(record, hooks["on_evaluate"])  # the run's last record always carries validation
            if state.stop_reason is not None and not last:
                del state.history[len(state.history) - len(pending) + i + 1:]
                latest = (state.step, state.epoch)
            for hook in on_step_end:
                hook(state, record)
            if state.retired:
                on_step, on_step_end = self._retire(hooks)
            if state.stop_reason is not None:
                break
        state.step, state.epoch = latest
        state.replaying = False
        if settled is not None:
            settled()

    def _retire(self, hooks: dict) -> tuple[list, list]:
        """Leave the retired callbacks out of the per-step hooks (new lists: one being run goes on as it was) and
        out of the loop's questions; the on_step and on_step_end hooks from now on."""
        gone = {id(callback) for callback in self.state.retired}
        self.state.retired.clear()
        for name in STEP_HOOKS:
            hooks[name] = _not_bound_to(hooks[name], gone)
        self._askers = _not_bound_to(self._askers, gone)
        return hooks["on_step"], hooks["on_step_end"]

    def _settle(self, pending: list[dict]) -> None:
        """Turn the pending steps' values into numbers and hand their records to the task's `steps_read`, if any."""
        settle(pending)
        read = getattr(self.task, "steps_read", None)
        if read is not None and pending:
            read(pending)

    def _step(self) -> tuple[dict, bool]:
        state = self.state
        if self.schedules:
            apply_schedules(self.optimizer, self.schedules, state.step, self.exempt)
        first = self.optimizer.param_groups[0]
        lr = first["lr"] / first.get(LR_SCALE, 1.0)
        epoch_before = self.task.epoch
        record = self.task.step()
        state.step += 1
        state.epoch = self.task.epoch
        record["step"], record["epoch"], record["lr"] = state.step, state.epoch, float(lr)
        state.history.append(record)
        return record, state.epoch != epoch_before

    def _evaluation_due(self, epoch_end: bool) -> bool:
        """Whether a run with validation evaluates after this step: at each epoch's end, or every eval_every."""
        if self.eval_every is None:
            return epoch_end
        return self.state.step % self.eval_every == 0

    def _evaluate(self, record: dict, hooks) -> None:
        record.update(self.task.evaluate())
        for hook in hooks:
            hook(self.state, record)

    def _ask_rules(self, record: dict) -> str | None:
        for rule in self.rules:
            reason = rule.check(self.state, record)
            if reason is not None:
                self.state.stop_code = rule.code
                return reason
        return None
