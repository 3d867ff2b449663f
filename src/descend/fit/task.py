"""FitTask: one optimizer step of `fit` (forward and backward over `accumulate` mini-batches, clip, update),
evaluation on the validation data, and where a NaN/Inf came from; and the optimizer a fit uses."""
from __future__ import annotations

import math
import operator
from typing import Sequence

import torch
from torch import nn

from .. import optim
from ..core.errors import DescendError
from ..core.loop import NonFiniteOrigin
from ..optim.base import step_unwrapped
from . import distributed
from .data import BatchStream, joined, to_device
from .evaluations import LastEvaluation
from .precision import Precision

_CONCAT_LIMIT = 1 << 20  # gradient elements below which grad_norm concatenates
_LOSS, _NORM = operator.itemgetter("loss"), operator.itemgetter("grad_norm")   # a record's values, read in C


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


def clip_spec(grad_clip) -> tuple[str, float] | None:
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
    """One optimizer step = `accumulate` mini-batches forward and backward, then clip and update.

    The loss and gradient norm stay on the device: a step never waits for them. An update after a non-finite loss
    or gradient is skipped on the device (the `found_inf` that torch's fused optimizers and descend's flat buffers
    take), and so is every update after it until the loop settles, so the model is still the one the bad step
    started from when the NonFinite rule stops the run; the batches of the steps since are kept to trace the NaN
    then. An optimizer without such a skip (or `host_checks=True`: doctor="fix", fp16's scaler) reads the two
    values on the host every step instead.
    """

    def __init__(self, model, loss_fn, optimizer, stream: BatchStream, val_source, *, accumulate: int, clip,
                 metric_fns: dict, device, parallel: distributed.DataParallel | None = None,
                 precision: Precision | None = None, forward: nn.Module | None = None, host_checks: bool = False):
        self.model, self.loss_fn, self.optimizer, self.stream = model, loss_fn, optimizer, stream
        self.val_source, self.accumulate, self.clip, self.metric_fns = val_source, accumulate, clip, metric_fns
        self.device, self.parallel = device, parallel
        self.precision = precision or Precision("fp32", torch.device(device))
        self.casts = self.precision.dtype is not None   # float32: no autocast context to enter and leave each step
        self.scaler = self.precision.scaler
        self.forward = forward or model   # torch.compile's wrapper, when asked for
        self.named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in self.named]
        self.needs_closure = isinstance(optimizer, torch.optim.LBFGS)
        self.evaluated = LastEvaluation(self.params)
        self.flat_norm = isinstance(optimizer, optim.AdamWFlat) and _covers(optimizer, self.params)
        self.on_device = not (host_checks or self.needs_closure or self.scaler is not None
                              or not optim.skips_on_found_inf(optimizer))
        self.counts_skips = self.on_device and isinstance(optimizer, optim.AdamWFlat)   # see steps_read
        self._one: torch.Tensor | None = None   # the "scale" of 1 torch's check multiplies by (never written)
        self.skipping: torch.Tensor | None = None   # 1.0 once a step since the loop settled was not finite, else 0.0
        self.kept: list[tuple[list, torch.Tensor, torch.Tensor]] = []   # (batches, loss, norm) since then
        self.last_batches: list = []
        self._origin: NonFiniteOrigin | None = None   # see non_finite_origin

    @property
    def epoch(self) -> int:
        return self.stream.epoch

    def _forward_backward(self) -> torch.Tensor:
        total = None
        self.last_batches = []
        for _ in range(self.accumulate):
            x, y = self.stream.next()
            self.last_batches.append((x, y))
            if self.casts:
                with self.precision.autocast():
                    loss = self.loss_fn(self.forward(x), y)
            else:
                loss = self.loss_fn(self.forward(x), y)
            if self.parallel is not None:
                loss = self.parallel.scale(loss)
            part = loss if self.accumulate == 1 else loss / self.accumulate
            if self.scaler is None:
                part.backward()
            else:
                self.precision.backward(part)
            total = loss.detach() if total is None else total + loss.detach()
        return total if self.accumulate == 1 else total / self.accumulate

    def _clip_and_measure(self) -> torch.Tensor:
        """The gradients' joint norm before clipping (the one place clipping happens), as a device tensor."""
        if self.scaler is not None:
            self.precision.unscale(self.optimizer)
        if self.clip is None:
            return self._grad_norm()
        kind, limit = self.clip
        if kind == "norm":
            return torch.nn.utils.clip_grad_norm_(self.params, limit)
        norm = self._grad_norm()
        torch.nn.utils.clip_grad_value_(self.params, limit)
        return norm

    def _grad_norm(self) -> torch.Tensor:
        """The joint gradient norm: one reduction over the flat optimizer's gradient buffer when it holds every
        trained parameter's gradient, else over the gradients themselves. The update or zero_grad follows with
        nothing between that rebinds a gradient (the doctor's step hooks only read), so the flat optimizer's step
        need not look at its layout again."""
        if self.flat_norm:
            return self.optimizer.grad_norm(steps_next=True)
        return grad_norm([p.grad for p in self.params if p.grad is not None])

    def step(self) -> dict:
        if self.needs_closure:
            return self._closure_step()
        loss = self._forward_backward()
        if self.parallel is not None:  # torch.distributed: mean loss and gradients over all processes
            loss = self.parallel.average(loss, self.params)
        norm = self._clip_and_measure()
        if self.on_device:
            self._update_unless_non_finite(loss, norm)
            return {"loss": loss, "grad_norm": norm}
        loss, norm = loss.item(), norm.item()
        if self.scaler is not None and math.isfinite(loss) and not math.isfinite(norm):
            self.precision.step(self.optimizer)   # the scaled gradients overflowed: the scaler skips and backs off
            self.optimizer.zero_grad(set_to_none=True)
            return {"loss": loss}   # no gradient norm to report for this step; it is not the run's NaN
        self._update_if_finite(loss, norm)
        return {"loss": loss, "grad_norm": norm}

    def _update_unless_non_finite(self, loss: torch.Tensor, norm: torch.Tensor) -> None:
        """Update unless this step or one since the loop last settled was not finite, decided on the device in one
        operation: torch's own check for GradScaler sets `skipping` to 1.0 when the loss or the norm is NaN/Inf
        (the norm is so exactly when a gradient is, or overflows) and never back to 0, so the kernel skips this
        update and every one after it until the loop settles. (It also multiplies both values by 1.)"""
        if self.skipping is None:   # the first step since the loop settled
            self.skipping = torch.zeros((), device=loss.device)
            if self._one is None:   # made once (the task's device): the check only reads it
                self._one = torch.ones((), device=loss.device)
        torch._amp_foreach_non_finite_check_and_unscale_([loss, norm], self.skipping, self._one)
        self.kept.append((self.last_batches, loss, norm))
        self.optimizer.found_inf = self.skipping
        self.optimizer.skips_counted = self.counts_skips
        try:
            step_unwrapped(self.optimizer)
        finally:
            del self.optimizer.found_inf, self.optimizer.skips_counted
        self.optimizer.zero_grad(set_to_none=True)

    def steps_read(self, records: list[dict]) -> None:
        """The loop has the values of the steps since it last settled (`records`), and tells no one of them yet:
        the flat optimizer's step counts give back the steps whose updates were skipped (from the first non-finite
        one on: the flag is sticky), which it would otherwise do with one operation every step."""
        if not self.counts_skips or math.isfinite(sum(map(_LOSS, records)) + sum(map(_NORM, records))):
            return   # all finite: a NaN or Inf carries into the sums (which may overflow: then the scan below)
        first = next((i for i, record in enumerate(records) if not _finite(record)), None)
        if first is not None:
            self.optimizer.take_back(len(records) - first)

    def settled(self) -> None:
        """The loop has read every step taken so far (and a non-finite one would have stopped it): forget them."""
        self.kept.clear()
        self.skipping = None

    def _update_if_finite(self, loss: float, norm: float, closure=None) -> None:
        """Step only on finite values; otherwise record where the NaN/Inf came from while the gradients exist."""
        if math.isfinite(loss) and math.isfinite(norm):
            self.precision.step(self.optimizer) if closure is None else self.optimizer.step(closure)
        else:
            self._origin = self._locate_non_finite(self.last_batches)
        self.optimizer.zero_grad(set_to_none=True)

    def _closure_step(self) -> dict:
        batches_now = [self.stream.next() for _ in range(self.accumulate)]
        self.last_batches = batches_now

        def closure():
            if self.evaluated.matches(batches_now):   # the same point on the same data: nothing new to compute
                return self.evaluated.recall()
            self.optimizer.zero_grad(set_to_none=True)
            with self.precision.autocast():
                total = sum(self.loss_fn(self.forward(x), y) for x, y in batches_now) / len(batches_now)
            total.backward()
            self.evaluated.remember(batches_now, total)
            return total

        loss = closure().item()
        norm = self._clip_and_measure().item()
        self._update_if_finite(loss, norm, closure)
        return {"loss": loss, "grad_norm": norm}

    @torch.no_grad()
    def evaluate(self) -> dict:
        if self.val_source is None:
            return {}
        total, count, outputs, targets = 0.0, 0, [], []
        for out, y in self._validation_outputs():
            total += self.loss_fn(out, y).item() * len(y)
            count += len(y)
            if self.metric_fns:
                outputs.append(out)
                targets.append(y)
        record = {"val_loss": total / count}
        if self.metric_fns:
            out, y = joined(outputs), joined(targets)
            record.update({f"val_{name}": float(fn(out, y)) for name, fn in self.metric_fns.items()})
        return record

    @torch.no_grad()
    def validation_row_losses(self) -> torch.Tensor:
        """The loss of every validation row on its own (the loss of a one-row slice), for paired comparisons of
        two sets of weights on the same rows (auto's KeepBest)."""
        rows = [self.loss_fn(out[i:i + 1], y[i:i + 1]) for out, y in self._validation_outputs() for i in range(len(y))]
        return torch.stack(rows).double().cpu()

    def _validation_outputs(self):
        """(outputs, targets) of each validation batch, in eval mode and on the evaluated weights (Schedule-Free /
        EMA: the averaged ones); the model's mode is put back afterwards."""
        was_training = self.model.training
        self.model.eval()
        try:
            with optim.evaluation_weights(self.optimizer):
                for x, y in self.val_source:
                    x, y = to_device(x, self.device), to_device(y, self.device)
                    with self.precision.autocast():
                        out = self.forward(x)
                    yield out, y
        finally:
            self.model.train(was_training)

    def snapshot(self) -> dict[str, torch.Tensor]:
        with optim.evaluation_weights(self.optimizer):  # keep the weights that were evaluated (Schedule-Free x, EMA)
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(snapshot)

    @property
    def non_finite_origin(self) -> NonFiniteOrigin | None:
        """Where the NaN/Inf of the first non-finite step came from. On the device path it is found after the fact,
        from that step's kept batches: the model has not moved since (its updates were skipped), so the gradients
        are computed again from the same weights."""
        for batches, loss, norm in self.kept:
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                self._origin = self._locate_non_finite(batches, recompute=True)
                self.kept.clear()
                break
        return self._origin

    def _gradients_again(self, batches: list) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            for x, y in batches:
                with self.precision.autocast():
                    loss = self.loss_fn(self.model(x), y)
                loss.backward()

    def _locate_non_finite(self, batches: list, recompute: bool = False) -> NonFiniteOrigin:
        """Where the first NaN/Inf appeared: the input batch, the model output, the loss, or a named gradient."""
        for x, y in batches:
            for part, what, t in (("input", "inputs", x), ("target", "targets", y)):
                if t.dtype.is_floating_point and not torch.isfinite(t).all():
                    row = int((~torch.isfinite(t)).nonzero()[0][0])
                    return NonFiniteOrigin(part, f"the input batch: {what} row {row} of the batch is not finite")
        with torch.no_grad():
            for x, y in batches:
                out = self.model(x)
                if not torch.isfinite(out).all():
                    return NonFiniteOrigin("output", "the model output (inputs were finite); look for overflow or "
                                                     "log/sqrt/division of zero")
                if not torch.isfinite(self.loss_fn(out, y)):
                    return NonFiniteOrigin("loss", _loss_origin(out))
        if recompute:
            self._gradients_again(batches)
        try:
            for name, p in self.named:
                if p.grad is not None and not torch.isfinite(p.grad).all():
                    return NonFiniteOrigin("gradient", f"the gradient of parameter {name!r}; try a lower learning rate "
                                                       "or grad_clip", name)
        finally:
            if recompute:
                self.optimizer.zero_grad(set_to_none=True)
        return NonFiniteOrigin("overflow", "the loss or gradient norm overflowed; try a lower learning rate or grad_clip")


def _finite(record: dict) -> bool:
    """Whether a step's loss and gradient norm (numbers on the host) are both finite, as the device's check found."""
    return math.isfinite(record["loss"]) and math.isfinite(record.get("grad_norm", 0.0))


def _covers(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> bool:
    """Whether the optimizer's param groups hold exactly `params`."""
    held = [p for group in optimizer.param_groups for p in group["params"]]
    return len(held) == len(params) and {id(p) for p in held} == {id(p) for p in params}


def make_optimizer(model: nn.Module, optimizer, *, lr: float | None, weight_decay: float | None,
                   decay_norms_and_biases: bool = False) -> torch.optim.Optimizer:
    """`optimizer` itself when it is an Optimizer instance, else the registry's optimizer of that name (fit and
    lr_find both take either, checked by preflight.optimizer_name); `lr=None` leaves the optimizer's own default."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    return optim.create(model, optimizer, lr=lr, weight_decay=weight_decay,
                        decay_norms_and_biases=decay_norms_and_biases)


OVERFLOWING = 1e15   # outputs this large overflow float32 once squared and summed over a batch


def _loss_origin(output: torch.Tensor) -> str:
    """Why a loss of finite outputs is not finite, in words: outputs so large that the loss overflows (a run
    diverging), or else an undefined operation in the loss itself."""
    largest = float(output.detach().abs().max()) if output.numel() else 0.0
    if largest > OVERFLOWING:
        return (f"the loss (inputs and model output were finite, but outputs reached {largest:.3g}, which overflows "
                "it); the run was diverging: lower the learning rate, or standardize the inputs")
    return "the loss (inputs and model output were finite); check the loss for log(0) or division by 0"
