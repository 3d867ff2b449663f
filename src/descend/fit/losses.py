"""Losses by name, built on torch.nn.functional, with the shape checks people otherwise trip over.

Elementwise losses accept a model output of shape (N, 1) for a target of shape (N,): the trailing 1 is
dropped instead of silently broadcasting to an (N, N) loss. cross_entropy takes class indices (integers, or
floats holding whole numbers) of shape (N,) or class probabilities of the output's shape; for a sequence or image
output (N, classes, d1, ...) the indices are (N, d1, ...), and classes last (N, T, classes) gets a message saying
how to move them.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..core.checks import align, check_choice
from ..core.errors import DescendError, DescendTypeError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _elementwise(fn, name: str) -> LossFn:
    what = f"the {name} loss"

    def loss(output, target):
        if not target.dtype.is_floating_point:
            target = target.to(output.dtype)
        return fn(align(output, target, what), target)
    return loss


def _class_indices(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class targets as int64 indices, refusing fractional floats and indices the output has no class for."""
    classes = output.shape[1]
    if target.dtype.is_floating_point:
        fractional = target != target.round()
        if fractional.any():
            first = tuple(fractional.nonzero()[0].tolist())
            raise DescendError(f"cross_entropy class targets must be whole numbers, but row {first[0]} holds "
                               f"{target[first].item():g} ({int(fractional.sum())} fractional in all); round them "
                               f"or encode the labels as integers 0..{classes - 1}")
        target = target.long()
    if ((target < 0) | (target >= classes)).any():
        raise DescendError(f"cross_entropy targets must be class indices in [0, {classes - 1}] for a model with "
                           f"{classes} outputs; got values from {int(target.min())} to {int(target.max())}")
    return target


def _probabilities(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class-probability (or one-hot) targets of the output's shape, as the output's dtype."""
    if target.shape == output.shape:
        return target if target.dtype.is_floating_point else target.to(output.dtype)
    if not target.dtype.is_floating_point and target.shape[-1] == 1:
        raise DescendError(f"cross_entropy got class labels of shape {tuple(target.shape)}; pass them as shape "
                           f"{tuple(target.shape[:-1])}, e.g. y.squeeze(-1) or y.view(-1)")
    raise DescendError(f"cross_entropy with probability targets needs target shape {tuple(output.shape)}, "
                       f"got {tuple(target.shape)}; for class labels give shape {(output.shape[0], *output.shape[2:])}")


def _cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if output.dim() < 2:
        raise DescendError(f"cross_entropy needs model output of shape (N, classes), got {tuple(output.shape)}")
    if target.dim() == output.dim():
        return F.cross_entropy(output, _probabilities(output, target))
    if output.dim() > 2 and target.shape != (output.shape[0], *output.shape[2:]):
        raise _layout_error(output, target)
    return F.cross_entropy(output, _class_indices(output, target))


def _layout_error(output: torch.Tensor, target: torch.Tensor) -> DescendError:
    """Class indices that do not fit torch's layout (N, classes, d1, ...): most often a sequence model's classes
    last, (N, T, classes) for targets (N, T)."""
    expected = (output.shape[0], *output.shape[2:])
    if target.shape == output.shape[:-1]:
        return DescendError(f"cross_entropy takes the classes on dim 1, as torch does: output {tuple(output.shape)} "
                            f"with class targets {tuple(target.shape)} has them last; return output.movedim(-1, 1) "
                            f"from the model's forward (shape {(output.shape[0], output.shape[-1], *output.shape[1:-1])})"
                            f" or flatten both: output.reshape(-1, {output.shape[-1]}) and target.reshape(-1)")
    return DescendError(f"cross_entropy class targets for output {tuple(output.shape)} (N, classes, ...) must have "
                        f"shape {expected}; got {tuple(target.shape)}")


def _poisson(log_rate: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Half the Poisson deviance for a log-rate output: the negative log-likelihood plus a constant per target,
    so a perfect fit scores 0 and the value never goes negative; the gradient is the likelihood's."""
    return F.poisson_nll_loss(log_rate, count, log_input=True, full=False) + (torch.xlogy(count, count) - count).mean()


LOSSES: dict[str, LossFn] = {
    "mse": _elementwise(F.mse_loss, "mse"),
    "mae": _elementwise(F.l1_loss, "mae"),
    "huber": _elementwise(F.huber_loss, "huber"),
    "bce": _elementwise(F.binary_cross_entropy_with_logits, "bce"),
    "poisson": _elementwise(_poisson, "poisson"),
    "cross_entropy": _cross_entropy,
}


def get(loss: str | LossFn) -> LossFn:
    """A loss function from a name (see LOSSES) or a callable(output, target) -> scalar tensor; a class (such as
    nn.CrossEntropyLoss, not yet called) is refused: called as a loss, it would be built with the output as its
    weight and fail on the first batch with a message about tensors."""
    if isinstance(loss, type):
        raise DescendTypeError(f"loss={loss.__name__} is a class, not a loss: pass an instance, "
                               f"loss={loss.__name__}(), or a name ({', '.join(sorted(LOSSES))})")
    if callable(loss):
        return loss
    if not isinstance(loss, str):
        raise DescendTypeError(f"loss must be a name ({', '.join(sorted(LOSSES))}) or a callable(output, target), "
                               f"got {loss!r}")
    return LOSSES[check_choice("loss", loss, LOSSES)]
