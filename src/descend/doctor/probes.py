"""Probes of the trained model that the doctor runs once, when a run ends, on a few comparison rows: is evaluation
random (and is that dropout layers built to stay on), does a sequence model ignore the order of its steps, how far
back its gradient reaches, and after a bad start, where each init scheme would have started. Each costs a forward
pass or two of a few dozen rows, and most run only where their question arises (sequences, random outputs, a bad
start). Random generators and the model's mode are put back."""
from __future__ import annotations

import contextlib
import copy
import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from ..core import initializers
from ..core.modes import Modules
from .instruments import Readings
from .reference import per_example


def evaluate(model: nn.Module, x: torch.Tensor):
    """The model's output for `x` in eval mode, without gradients; the model's mode is restored (every module
    gets the model's own flag back, as model.train(was_training) gives it, set by the flags: core.modes)."""
    was_training, modules = model.training, Modules.of(model)
    modules.train(False)
    try:
        with torch.no_grad():
            return model(x)
    finally:
        modules.train(was_training)


FAST_MOMENTUM = 0.5   # a BatchNorm momentum from which the running statistics are mostly the last few batches


def on_batch_statistics(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's output for `x` in eval mode except that its BatchNorm layers normalize by the statistics of `x`
    itself, as in training; their running statistics are left as they were (momentum 0 while it runs, and the
    batch count put back)."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    kept = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    was_training = model.training
    model.eval()
    try:
        for m in norms:
            m.momentum = 0.0
            m.train()
        with torch.no_grad():
            return model(x)
    finally:
        for m, (momentum, count) in zip(norms, kept):
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)
        model.train(was_training)


EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)


@contextlib.contextmanager
def ids_seen(model: nn.Module):
    """While it is open, {embedding table: (its rows, the distinct ids it was given)} for every forward pass (a
    hook on each embedding table; nothing when the model has none)."""
    seen: dict[nn.Module, tuple[int, set]] = {}

    def hook(module, args):
        if args and isinstance(args[0], torch.Tensor):
            rows, ids = seen.setdefault(module, (module.num_embeddings, set()))
            ids.update(torch.unique(args[0]).tolist())

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, EMBEDDINGS)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def last_activation(model: nn.Module):
    """While it is open, [module, output, the output's version counter] of the activation module (see
    is_activation) that ran last in the forward passes made; one output is held at a time, each call replacing
    the one before, so that the memory of a deep model's activations is not kept. Empty without one."""
    last: list = []

    def hook(module, args, output):
        last[:] = (module, output, getattr(output, "_version", None))

    handles = [m.register_forward_hook(hook) for m in model.modules() if is_activation(m)]
    try:
        yield last
    finally:
        for handle in handles:
            handle.remove()


def output_activation(last: list, out: torch.Tensor) -> str | None:
    """The name of the activation module that made the model's output `out`: the one that ran last (see
    last_activation), when its output is `out` itself or holds its values (see made_output); None when a layer or
    a function changed it after (a head built before the blocks it follows, a block's own activation)."""
    return type(last[0]).__name__ if last and made_output(last[1], last[2], out) else None


def made_output(made, version: int | None, out: torch.Tensor) -> bool:
    """Whether tensor `made` (its version counter `version` when it was made) is the model's output `out`: `out`
    itself or its values (a reshape, a squeeze, a Dropout after it in eval mode), not changed in place since."""
    if not isinstance(made, torch.Tensor) or made._version != version:
        return False
    return made is out or (made.numel() == out.numel() and made.dtype == out.dtype
                           and torch.equal(made.reshape(-1), out.reshape(-1)))


def is_activation(module: nn.Module) -> bool:
    """Whether `module` is one of torch's activation modules (nn.ReLU, nn.Sigmoid, nn.Softmax, ...)."""
    return type(module).__module__ == "torch.nn.modules.activation"


def fewest_ids(seen: dict, rows: int) -> dict | None:
    """The embedding table that saw the fewest distinct ids on `rows` rows: {"table_rows", "distinct", "rows",
    "largest": its largest id}; None without one."""
    if not seen:
        return None
    table_rows, ids = min(seen.values(), key=lambda v: len(v[1]))
    return {"table_rows": table_rows, "distinct": len(ids), "rows": rows, "largest": max(ids, default=0)}


RANDOM_ROWS = 32   # rows evaluated twice to tell whether evaluation is random


def random_evaluation(model: nn.Module, x: torch.Tensor) -> float | None:
    """The largest change of the model's outputs for the same rows between two evaluations in eval mode, as a
    share of their largest size, when over 1e-3 (dropout or noise left on at evaluation); else None. Random
    generators are put back, so the check leaves no trace."""
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        first, second = evaluate(model, x), evaluate(model, x)
    if not (isinstance(first, torch.Tensor) and first.dtype.is_floating_point) or first.numel() == 0:
        return None
    change = float((first.double() - second.double()).abs().max()) / (float(first.double().abs().max()) + 1e-12)
    return change if change > 1e-3 else None


def early_step_reach(model: nn.Module, x: torch.Tensor) -> float | None:
    """For sequences `x` (rows, steps, features): the gradient of the model's summed outputs with respect to the
    first quarter of the steps, over that for the last quarter (mean absolute values): how much the earliest steps
    can still move the output. One forward and backward pass of RANDOM_ROWS rows in eval mode, through the inputs
    only (the parameters' gradients are left alone); None when the outputs are not a float tensor or the model
    cannot run backward in eval mode."""
    was_training = model.training
    model.eval()
    try:
        x = x.detach().clone().requires_grad_(True)
        out = model(x)
        if not (isinstance(out, torch.Tensor) and out.dtype.is_floating_point and out.requires_grad):
            return None
        (grad,) = torch.autograd.grad(out.sum(), x)
    except RuntimeError:   # e.g. cuDNN's RNN, whose backward runs only in training mode
        return None
    finally:
        model.train(was_training)
    per_step = grad.detach().double().abs().mean(dim=(0, 2))
    quarter = max(len(per_step) // 4, 1)
    late = float(per_step[-quarter:].mean())
    return float(per_step[:quarter].mean()) / late if late > 0 else None


def started_far_off(r: Readings) -> bool:
    """Whether the run's first loss was 10x a constant prediction's or more (or not finite): a bad start."""
    if not r.history or not r.target_baseline:
        return False
    first = r.history[0]["loss"]
    return not math.isfinite(first) or first >= 10 * r.target_baseline


START_ROWS = 256   # comparison rows a re-initialized copy of the model is scored on


def init_starts(model: nn.Module, loss, sample, weights: torch.Tensor) -> dict[str, float]:
    """The mean loss on up to START_ROWS comparison rows of a copy of the model re-initialized by each scheme fit's
    init= offers: which of them would start the run near a constant prediction (a fix that is tried before it is
    offered). Only after a bad start; random generators are put back."""
    x, y = sample.model_eval[:START_ROWS].to(weights.device, weights.dtype), sample.y_eval[:START_ROWS]
    starts = {}
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        for name in INIT_SCHEMES:
            torch.manual_seed(0)
            fresh = copy.deepcopy(model)
            initializers.initialize(fresh, name)
            losses = per_example(loss, evaluate(fresh, x).cpu(), y)
            starts[name] = float(losses.mean()) if losses is not None else math.nan
    return starts


INIT_SCHEMES = ("kaiming", "xavier", "orthogonal")


def order_blind(model: nn.Module, x: torch.Tensor) -> bool | None:
    """Whether the model's outputs for sequences `x` (rows, steps, features) stay the same, to float rounding, when
    each row's steps are put in another fixed order: a model with no positional information (attention or pooling
    over steps without a position signal). One forward pass of RANDOM_ROWS rows; None when outputs are not a
    float tensor. False when the rows' outputs are the same for every row: such a model ignores its inputs
    altogether (a network knocked onto a constant output), not their order alone."""
    order = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(0))
    first, moved = evaluate(model, x), evaluate(model, x[:, order.to(x.device)])
    if not (isinstance(first, torch.Tensor) and first.dtype.is_floating_point) or first.shape != moved.shape:
        return None
    first, moved = first.double(), moved.double()
    tolerance = 1e-4 * float(first.abs().max()) + 1e-6
    if float((first - first[:1]).abs().max()) <= tolerance:
        return False
    return float((first - moved).abs().max()) <= tolerance


def sampling_layers(model: nn.Module, x: torch.Tensor) -> str | None:
    """The class name of the dropout layers that stay on at evaluation, when they alone make it random: subclasses
    of torch's dropout whose forward ignores eval mode, the way Monte Carlo dropout is built on purpose (a forward
    that calls F.dropout with its default training=True, or adds noise, is no such choice). Tested by evaluating
    again with their p at 0 (put back after); None when randomness remains or there are no such layers."""
    layers = [m for m in model.modules() if isinstance(m, _DropoutNd) and type(m).forward is not _stock_forward(m)]
    if not layers:
        return None
    kept = [m.p for m in layers]
    try:
        for m in layers:
            m.p = 0.0
        still = random_evaluation(model, x)
    finally:
        for m, p in zip(layers, kept):
            m.p = p
    return type(layers[0]).__name__ if still is None else None


def _stock_forward(module: nn.Module):
    """The forward of the torch dropout class that `module` derives from (nn.Dropout, nn.Dropout1d, ...)."""
    stock = next(c for c in type(module).__mro__ if c.__module__ == "torch.nn.modules.dropout")
    return stock.forward


def batch_mixing(model: nn.Module, x: torch.Tensor) -> float | None:
    """How much the model's outputs for the second half of rows `x` change, in eval mode, when that half is
    evaluated alone instead of after the first half, as a share of their largest size, when over 1e-4: each row's
    output then depends on the other rows of its batch (a recurrent layer reading (batch, steps, ...) without
    batch_first, a softmax or a normalization over dimension 0). Where it does, the half is also evaluated two rows
    at a time (see _in_pairs) and the larger change is returned. None when the outputs do not keep one row per
    input row."""
    half = len(x) // 2
    if half < 2:
        return None
    together, alone = evaluate(model, x), evaluate(model, x[half:])
    if not (isinstance(together, torch.Tensor) and together.dtype.is_floating_point) or together.dim() == 0 \
            or len(together) != len(x) or alone.shape != together[half:].shape:
        return None
    size = float(together.double().abs().max()) + 1e-12
    share = float((together[half:].double() - alone.double()).abs().max()) / size
    if not share > 1e-4:   # NaN outputs (a run that overflowed) say nothing about mixing either
        return None
    return max(share, _in_pairs(model, x[half:], together[half:]) / size)


def _in_pairs(model: nn.Module, x: torch.Tensor, together: torch.Tensor) -> float:
    """The largest change of the outputs for rows `x` (`together`: as evaluated in the whole batch) when they are
    evaluated two rows at a time, as predictions served a few at a time are: a layer that uses its batch's own
    statistics in eval mode (a BatchNorm built with track_running_stats=False, a mean over dimension 0) moves
    little between a batch and its half, whose statistics agree, and far on a pair. 0.0 when the model cannot
    take a batch of two."""
    pairs = len(x) - len(x) % 2
    try:
        served = torch.cat([evaluate(model, x[i:i + 2]) for i in range(0, pairs, 2)])
    except (RuntimeError, ValueError):   # a model whose shapes need more rows than two
        return 0.0
    if served.shape != together[:pairs].shape:
        return 0.0
    return float((together[:pairs].double() - served.double()).abs().max())


RESCALE = 10   # the factor every input is scaled by to ask whether the model reads the inputs' size at all


def size_blind(model: nn.Module, x: torch.Tensor) -> bool | None:
    """Whether the model's outputs for rows `x`, in eval mode, move under 1e-4 as much when every input is scaled by
    RESCALE as they differ between the rows: the model reads each row's direction and divides its size away
    (F.normalize over a row's values, a norm layer first), so the inputs' size cannot be what a run paid for. A
    model whose outputs are the same for every row (all its units dead) reads nothing and is not size-blind. None
    when `x` is not floating point, the outputs are not one float tensor, or the model cannot take the scaled rows:
    ids held in float columns (descend fit's category codes, one-hot or embedded) leave their range when scaled, and
    such a model has no size to read."""
    if not x.dtype.is_floating_point or len(x) == 0:
        return None
    plain = evaluate(model, x)
    try:
        scaled = evaluate(model, RESCALE * x)
    except (RuntimeError, IndexError):   # F.one_hot, nn.Embedding: "out of range" / "smaller than num_classes"
        return None
    if not (isinstance(plain, torch.Tensor) and plain.dtype.is_floating_point) or plain.shape != scaled.shape:
        return None
    plain = plain.double()
    change, across = float((plain - scaled.double()).abs().max()), float((plain - plain.mean(dim=0)).abs().max())
    return across > 0 and change <= 1e-4 * across


def unpaired_loss(loss, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a loss the user wrote (a callable): whether it ignores which output belongs to which target. It is
    scored on random outputs of the model's output shape, drawn around the targets' mean with their spread (a
    generator of its own), against `target`, then with the outputs moved one row down: a loss that pairs rows
    changes, one that broadcasts (batch, 1) against (batch,) into every pair does not. Outputs on the targets'
    scale matter: a pinball or absolute loss against targets in their own units (all far above outputs near 0) is
    a sum of target minus output, which no reordering of the outputs changes. When it does not, also which named loss it equals once the shapes agree
    ({"output": shape, "target": shape, "same_as": "mse" | "mae" | None}); None when it pairs rows or cannot be
    scored."""
    if isinstance(loss, str) or not callable(loss) or len(target) < 4 or not target.dtype.is_floating_point \
            or bool((target == target[0]).all()):
        return None
    g = torch.Generator().manual_seed(20261207)
    center, spread = target.double().mean(), target.double().std().clamp_min(1e-12)
    z = (center + spread * torch.randn(output.shape, generator=g, dtype=torch.float64)).to(output.dtype)
    try:
        with torch.no_grad():
            paired, moved = float(loss(z, target)), float(loss(z.roll(1, 0), target))
            aligned = float(loss(z.reshape(target.shape), target)) if z.numel() == target.numel() else math.nan
    except (RuntimeError, TypeError, ValueError, IndexError):   # IndexError: a loss that indexes output[:, 0]
        return None
    if not (math.isfinite(paired) and abs(paired - moved) <= 1e-6 * abs(paired) + 1e-12):
        return None
    flat = z.reshape(target.shape) if z.numel() == target.numel() else None
    named = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss}
    same = next((name for name, f in named.items() if flat is not None
                 and math.isclose(aligned, float(f(flat, target)), rel_tol=1e-5)), None)
    return {"output": list(output.shape), "target": list(target.shape), "same_as": same}


def unread_outputs(loss, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a loss the user wrote and outputs of the targets' own shape (rows, columns >= 2): the output columns
    whose gradient under the loss is zero on every row of random outputs (a generator of its own), the columns
    the loss never reads, and whether it equals mse on the columns it reads ({"unread": [...], "columns": k,
    "same_as": "mse" | None}); where it reads every column, the combinations of columns it never reads (see
    `_unread_combinations`); None when it reads all of them or cannot be scored."""
    if isinstance(loss, str) or not callable(loss) or output.dim() != 2 or output.shape[1] < 2 \
            or output.shape != target.shape or not target.dtype.is_floating_point:
        return None
    g = torch.Generator().manual_seed(20261208)
    z = torch.randn(output.shape, generator=g, dtype=output.dtype).requires_grad_(True)
    try:
        with torch.enable_grad():
            value = loss(z, target)
            grad, = torch.autograd.grad(value, z, allow_unused=True)
    except (RuntimeError, TypeError, ValueError):
        return None
    if grad is None:
        return None
    read = (grad != 0).any(0)
    unread = [i for i, r in enumerate(read.tolist()) if not r]
    if len(unread) == output.shape[1]:
        return None
    if not unread:
        return _unread_combinations(grad)
    kept = read.nonzero().reshape(-1)
    plain = nn.functional.mse_loss(z.detach()[:, kept], target[:, kept])
    same = math.isclose(float(value.detach()), float(plain), rel_tol=1e-5)
    return {"unread": unread, "columns": output.shape[1], "same_as": "mse" if same else None}


FLAT_DIRECTION = 1e-5   # a singular value under this share of the largest: a direction the gradient never takes


def _unread_combinations(grad: torch.Tensor) -> dict | None:
    """The output gradient's rows (one per row of random outputs, over k columns) span fewer than k directions:
    the loss reads the columns only through that many combinations of them (an error averaged over the columns
    before squaring reads only their mean), and the rest are never fitted ({"unread": [], "columns": k, "read": r,
    "same_as": None}). One unread direction along all-ones is a softmax's indifference to a common offset, no
    fault; fewer than 2k rows cannot tell."""
    rows, k = grad.shape
    if rows < 2 * k:
        return None
    _, singular, vh = torch.linalg.svd(grad.double(), full_matrices=False)
    rank = int((singular > FLAT_DIRECTION * singular[0]).sum())
    if rank == k or singular[0] == 0:
        return None
    offset = torch.full((k,), k ** -0.5, dtype=torch.float64)
    if rank == k - 1 and float((vh[-1] @ offset).abs()) > 1 - FLAT_DIRECTION:
        return None
    return {"unread": [], "columns": k, "read": rank, "same_as": None}


BALANCED = (0.35, 0.65)   # a share of the positive class at which weighting the classes has no imbalance to offset


def class_lean(output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For one logit per row against 0/1 targets of about balanced classes (BALANCED): the share of rows the model
    calls positive (logit above 0), the positive share of the targets, and the accuracy at 0 and at the best
    threshold over the logits seen: how far the scores lean to one class. None for other outputs or targets."""
    if not target.dtype.is_floating_point or len(target) < 50 or output.numel() != len(target):
        return None
    y, score = target.reshape(-1).double(), output.reshape(-1).double()
    if not bool(((y == 0) | (y == 1)).all()) or not BALANCED[0] <= float(y.mean()) <= BALANCED[1]:
        return None
    order = score.argsort(descending=True)
    positives = torch.cat([torch.zeros(1, dtype=torch.float64), y[order].cumsum(0)])   # top k called positive
    called = torch.arange(len(y) + 1, dtype=torch.float64)
    accuracy = (positives + (len(y) - float(y.sum())) - (called - positives)) / len(y)
    return {"rows": len(y), "predicted": float((score > 0).double().mean()), "actual": float(y.mean()),
            "accuracy": float(((score > 0).double() == y).double().mean()), "best_accuracy": float(accuracy.max())}


CLASS_ROWS = 5   # comparison rows a class needs before its weight and recall say anything


def class_weights(loss, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a class loss the user built (a callable) on scores (rows, classes >= 2) and class ids: how much it weighs
    each class, as the gradient it gives a row of that class at all-zero scores over the average row's (1 for every
    class under a plain cross entropy, the inverse of the class weights' spread otherwise, 0 for an ignore_index),
    with the model's recall of each class on the same rows ({"weights": {class: share}, "recall": {class: share}}).
    None for other outputs or targets, or a loss that cannot be scored so."""
    if isinstance(loss, str) or not callable(loss) or output.dim() != 2 or output.shape[1] < 2 \
            or target.dtype.is_floating_point or target.dim() != 1 or len(target) != len(output):
        return None
    z = torch.zeros(output.shape, dtype=output.dtype, requires_grad=True)
    try:
        loss(z, target).backward()
    except Exception:  # noqa: BLE001 - a user's loss may refuse made-up scores in any way; then there is no reading
        return None
    per_row = z.grad.norm(dim=1).double() if z.grad is not None else None
    if per_row is None or not bool(torch.isfinite(per_row).all()) or float(per_row.mean()) <= 0:
        return None
    predicted, average = output.argmax(1), float(per_row.mean())
    counted = [int(c) for c in torch.unique(target) if int((target == c).sum()) >= CLASS_ROWS]
    return {"weights": {c: float(per_row[target == c].mean()) / average for c in counted},
            "recall": {c: float((predicted[target == c] == c).double().mean()) for c in counted}}


def batch_normalized_loss(loss, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a class loss the user wrote (a callable) on scores (rows, classes >= 2) and class ids: whether it
    normalizes over the batch instead of over the classes (a log_softmax over dim 0). Scored on random scores (a
    generator of its own): such a loss keeps its value when one class's score moves by the same amount on every
    row, and changes when one row's scores all move; a loss over the classes does the opposite. Then no loss
    value pins how the classes compare within a row, which is all that argmax reads. {"output": shape}, or None."""
    if isinstance(loss, str) or not callable(loss) or output.dim() != 2 or output.shape[1] < 2 or len(output) < 4 \
            or target.dtype.is_floating_point or target.shape != output.shape[:1]:
        return None
    z = torch.randn(output.shape, generator=torch.Generator().manual_seed(20261209), dtype=torch.float64)
    column, row = z.clone(), z.clone()
    column[:, 0] += 3.0
    row[0] += 3.0
    try:
        with torch.no_grad():
            base, by_column, by_row = (float(loss(s.to(output.dtype), target)) for s in (z, column, row))
    except Exception:  # noqa: BLE001 - a user's loss may refuse made-up scores in any way; then there is no reading
        return None
    if not math.isfinite(base) or abs(by_column - base) > 1e-5 * abs(base) + 1e-9 \
            or abs(by_row - base) <= 1e-3 * abs(base) + 1e-9:
        return None
    return {"output": list(output.shape)}


SCALE_NAMED = {"mse": lambda z, y: nn.functional.mse_loss(z.reshape(y.shape), y),
               "cross_entropy": lambda z, y: nn.functional.cross_entropy(z, y)}


def loss_scale(loss, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a loss the user wrote (a callable): whether it is a named loss (mse on float targets of the outputs'
    size, cross_entropy on class ids) times a fixed factor, the same at two draws of random outputs (a generator of
    its own) and at half the rows (a sum over the batch would scale with them): {"same_as": name, "factor": c}, or
    None when it is no such multiple, or the factor is 1."""
    if isinstance(loss, str) or not callable(loss) or len(target) < 8:
        return None
    name = ("mse" if target.dtype.is_floating_point and output.numel() == target.numel() else
            "cross_entropy" if not target.dtype.is_floating_point and output.dim() == 2 and target.dim() == 1
            else None)
    if name is None:
        return None
    g = torch.Generator().manual_seed(20261210)
    ratios = []
    try:
        with torch.no_grad():
            for rows in (len(target), len(target), len(target) // 2):
                z = torch.randn(output[:rows].shape, generator=g, dtype=torch.float64).to(output.dtype)
                named = float(SCALE_NAMED[name](z, target[:rows]))
                ratios.append(float(loss(z, target[:rows])) / named if named > 0 else math.nan)
    except Exception:  # noqa: BLE001 - a user's loss may refuse made-up outputs in any way; then there is no reading
        return None
    factor = ratios[0]
    if not all(math.isfinite(x) and x > 0 for x in ratios) or abs(factor - 1) < 1e-3 \
            or any(abs(x / factor - 1) > 1e-4 for x in ratios[1:]):
        return None
    return {"same_as": name, "factor": factor}


def summed_loss(loss, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a loss the user wrote (a callable): whether its value grows with the batch's rows, read on random outputs
    of `output`'s shape (a generator of its own) and on the same rows given twice: a mean over rows stays the same,
    a sum over them doubles. {"rows": the rows read} when it doubles (to 1e-3), else None."""
    if isinstance(loss, str) or not callable(loss) or len(target) < 2:
        return None
    g = torch.Generator().manual_seed(20261207)
    z = torch.randn(output.shape, generator=g, dtype=torch.float64).to(output.dtype)
    try:
        with torch.no_grad():
            once, twice = float(loss(z, target)), float(loss(torch.cat([z, z]), torch.cat([target, target])))
    except Exception:  # noqa: BLE001 - a user's loss may refuse made-up outputs in any way; then there is no reading
        return None
    if not (math.isfinite(once) and math.isfinite(twice) and once > 0 and abs(twice / once - 2) < 1e-3):
        return None
    return {"rows": len(target)}


@contextlib.contextmanager
def _zeroed(parameters: list[torch.Tensor]):
    """While it is open, `parameters` hold zeros; their values are put back after."""
    saved = [p.detach().clone() for p in parameters]
    try:
        with torch.no_grad():
            for p in parameters:
                p.zero_()
        yield
    finally:
        with torch.no_grad():
            for p, value in zip(parameters, saved):
                p.copy_(value)


def _constant_output(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """The best constant prediction in the output's shape: the targets' mean for numbers of the outputs' size, the
    log of the class shares for class ids under one score per class; None otherwise."""
    if target.dtype.is_floating_point and output.numel() == target.numel():
        flat = target.double().reshape(len(target), -1)
        return flat.mean(dim=0).expand_as(flat).reshape(output.shape).to(output.dtype)
    if not target.dtype.is_floating_point and target.dim() == 1 and output.dim() == 2 and int(target.min()) >= 0 \
            and int(target.max()) < output.shape[1]:
        shares = torch.bincount(target.long(), minlength=output.shape[1]).double() / len(target)
        return shares.clamp_min(1e-12).log().expand(output.shape).to(output.dtype)
    return None


def weight_penalty(loss, model: nn.Module, output: torch.Tensor, target: torch.Tensor) -> dict | None:
    """For a loss the user wrote: the part of its value that reads the model's weights directly (a penalty written
    by hand, such as weight x the sum of squared weights), with the outputs held fixed: the loss's drop when the
    weights it reads are set to zero. {"penalty", "data": the rest, "constant": the rest at the best constant
    prediction, "weights": how many tensors it reads}; None when it reads none or cannot be scored. One loss call
    when it reads none (its value then has no gradient to any weight)."""
    if isinstance(loss, str) or not callable(loss) or len(target) < 8:
        return None
    output, target = output.detach(), target.detach()
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        with torch.enable_grad():
            value = loss(output, target)
            if not isinstance(value, torch.Tensor) or not value.requires_grad:
                return None
            grads = torch.autograd.grad(value, trainable, allow_unused=True)
        read = [p for p, g in zip(trainable, grads) if g is not None]
        constant = _constant_output(output, target)
        with _zeroed(read), torch.no_grad():
            data = float(loss(output, target))
            floor = float(loss(constant, target)) if constant is not None else math.nan
    except (RuntimeError, TypeError, ValueError, IndexError):
        return None
    penalty = float(value.detach()) - data
    if not read or not (math.isfinite(penalty) and math.isfinite(data)):
        return None
    return {"penalty": penalty, "data": data, "constant": floor, "weights": len(read),
            "same_as": _named_data_term(data, output, target)}


def _named_data_term(data: float, output: torch.Tensor, target: torch.Tensor) -> str | None:
    """The named loss (mse, cross_entropy) that equals a loss's data term `data` on these outputs, if one does."""
    for name, named in SCALE_NAMED.items():
        try:
            if math.isclose(data, float(named(output, target)), rel_tol=1e-5):
                return name
        except (RuntimeError, TypeError, ValueError, IndexError):   # the named loss refuses these shapes
            continue
    return None
