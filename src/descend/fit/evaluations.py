"""The last evaluation of a closure (loss and gradients at a point, on a batch), reused when an optimizer asks for
the same point on the same batch again.

L-BFGS asks for exactly that: fit evaluates the closure once for the step's record and L-BFGS evaluates it again at
the same point when its step begins, and on a full batch each step begins where the previous line search's last
evaluation ended. Reusing those halves its gradient evaluations without changing a single number.
"""
from __future__ import annotations

from typing import Sequence

import torch


class LastEvaluation:
    """Remembers one evaluation: the parameters' values, their gradients, the loss and the batches it used."""

    def __init__(self, params: Sequence[torch.Tensor]):
        self.params = list(params)
        self.point: list[torch.Tensor] | None = None
        self.grads: list[torch.Tensor | None] = []
        self.batches: list = []
        self.loss: torch.Tensor | None = None

    def matches(self, batches: list) -> bool:
        """Whether the parameters and the batches are those of the remembered evaluation, bit for bit. Batches
        match when they view the same memory; the remembered ones are held, so their memory is not reused."""
        if self.point is None or not _same_batches(batches, self.batches):
            return False
        return all(torch.equal(p, q) for p, q in zip(self.params, self.point))

    def remember(self, batches: list, loss: torch.Tensor) -> None:
        self.batches, self.loss = batches, loss.detach()
        self.point = [p.detach().clone() for p in self.params]
        self.grads = [None if p.grad is None else p.grad.detach().clone() for p in self.params]

    def recall(self) -> torch.Tensor:
        """Put the remembered gradients back into `.grad` and return the remembered loss."""
        for p, grad in zip(self.params, self.grads):
            p.grad = None if grad is None else grad.clone()
        return self.loss


def _same_batches(first: list, second: list) -> bool:
    views = lambda batches: [t for batch in batches for t in batch]  # noqa: E731
    a, b = views(first), views(second)
    return len(a) == len(b) and all(
        isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.data_ptr() == y.data_ptr()
        and x.shape == y.shape and x.stride() == y.stride() and x.dtype == y.dtype for x, y in zip(a, b))
