"""Training several members at once: which rows each member may learn from, and the loss and metric that know it.

Targets travel with a second column: the member each row is held out of (-1 for none). In training mode each
member's loss counts only the rows it may see; in evaluation the model has already blended its members (each
held-out row is predicted by the member that never saw it), so the ordinary loss and metric apply.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ...fit import losses

KFOLD_MAX_ROWS = 2000   # up to this many training rows (and no dates), folds choose; beyond, one validation slice
FOLDS = 5
MEMBERS_PER_FOLD = 2   # networks trained on each fold's rows: more members, less seed-to-seed spread
SLICE_MEMBERS = 4   # networks trained side by side on a table validated on one slice of its rows
LARGE_TABLE_ROWS = 5000   # above this many training rows, a slice's table trains LARGE_TABLE_MEMBERS instead
LARGE_TABLE_MEMBERS = 2
FOLD_SEED = 0   # folds are part of the split, fixed like the time split: reruns with another --seed share them
CHAIN_MAX_ROWS = 2000   # up to this many training rows, a dated table validates on forward-chained blocks of time
CHAIN_BLOCKS = 3        # blocks judged in turn, each by networks that learned only from the rows before it
CHAIN_SHARE = 1 / 3     # at most this share of the training rows in the blocks: the first block's networks learn
                        # from the rest (at most half: measured worse on the dated tables outside the suite)


def slice_members(training_rows: int) -> int:
    """How many networks train side by side on one validation slice: SLICE_MEMBERS, or LARGE_TABLE_MEMBERS on a
    table with more than LARGE_TABLE_ROWS training rows. There a step's time is the members' (each epoch's steps
    grow with the rows, and the members are most of a step), while each network sees enough rows that averaging
    four bought no test score over two (benchmarks/RESULTS.md, "fifth pass"; the step takes about a third less)."""
    return LARGE_TABLE_MEMBERS if training_rows > LARGE_TABLE_ROWS else SLICE_MEMBERS


def fold_ids(rows: int, folds: int, seed: int) -> np.ndarray:
    """Each row's fold, 0..folds-1, balanced and shuffled with `seed`."""
    return np.random.default_rng(seed).permutation(np.arange(rows) % folds)


def chain_ids(rows: int, blocks: int, block: int) -> np.ndarray:
    """Each time-ordered row's block: -1 for the first rows (every member learns from them), then 0..blocks-1 for
    the last `blocks` runs of `block` rows (the members of block j learn from the rows before it, predict it)."""
    start = rows - blocks * block
    return np.concatenate([np.full(start, -1), np.repeat(np.arange(blocks), block)])


def seen_share(blocks: np.ndarray, folds: int) -> float:
    """The share of (row, member) pairs that chained members learn from (row blocks as `chain_ids` gives them)."""
    return float(np.mean([np.mean(blocks < fold) for fold in range(folds)]))


def with_member(y: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
    """Targets plus the held-out member of each row, as float columns (class indices are exact below 2**24)."""
    return torch.stack([y.float(), member.float()], dim=1)


def _per_member(loss: str, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss of every (row, member) pair, shape (rows, members), for member outputs (rows, members, outputs)."""
    if loss == "cross_entropy":
        rows, members, classes = output.shape
        flat = F.cross_entropy(output.reshape(rows * members, classes), y.long().repeat_interleave(members),
                               reduction="none")
        return flat.view(rows, members)
    out, target = output[..., 0], y[:, None].expand(-1, output.shape[1])
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(out, target, reduction="none")
    if loss == "poisson":
        return torch.exp(out) - target * out + torch.xlogy(target, target) - target
    return (out - target) ** 2


class MemberLoss:
    """The target's loss for member outputs (each member on the rows it may see: member m belongs to fold
    m % folds and learns from no row held out of that fold; with chained blocks of time, from the rows before its
    block) or for a blended output. `held_out`: whether any training row is held out of a member (False: every
    member learns from every row, and each step takes the plain mean without looking, decided once for the table
    rather than once a batch). `seen`, for chained blocks: the share of (row, member) pairs the members learn
    from; their losses are summed over those pairs and divided by the batch's pairs times `seen`, a constant, so
    a batch split across processes (--nproc) adds up to the whole batch's loss although the shards hold
    different shares of each block."""

    def __init__(self, loss: str, folds: int | None = None, held_out: bool = True, seen: float | None = None,
                 input_names: list[str] | None = None):
        self.loss = loss   # a name, not the function: the object travels to worker processes (--nproc)
        self.folds, self.held_out, self.seen = folds, held_out, seen
        self.input_names = input_names   # the table column each input feature comes from: the doctor names them

    @property
    def setting_label(self) -> str:
        """The loss in words for reports (config.json's labels), instead of this class's path."""
        if self.seen is not None and self.held_out:
            return f"{self.loss}, each network on the rows before its block of time, averaged"
        if self.folds and self.held_out:
            return f"{self.loss}, each network on the rows of its training folds, averaged"
        return f"{self.loss}, averaged over the networks"

    def __call__(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = y[:, 0]
        if output.dim() == 3:
            per_member = _per_member(self.loss, output, target)
            if not self.held_out:
                return per_member.mean()
            held_out = y[:, 1].long()   # not checked for a batch holding none: that would read the host each step
            fold = torch.arange(output.shape[1]) % (self.folds or output.shape[1])
            if self.seen is not None:
                return (per_member * (held_out[:, None] < fold)).sum() / (per_member.numel() * self.seen)
            allowed = held_out[:, None] != fold
            return (per_member * allowed).sum() / allowed.sum().clamp_min(1)
        return losses.get(self.loss)(output, target.long() if self.loss == "cross_entropy" else target)

    @property
    def validates_training_rows(self) -> bool:
        """Whether validation rows are training rows too, each scored by the members that never learned from it
        (chained blocks: the doctor must not read them as rows copied from training)."""
        return self.seen is not None and self.held_out

    @property
    def reference_loss(self) -> str:
        """The named loss that judges the evaluation-mode output (the members blended) against the target that
        `readings_view` gives: the doctor compares the trained model with its references under it."""
        return self.loss

    def readings_view(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The features and the target without the held-out member columns, for the doctor's data readings: the
        member column sits in both and would read as a target copied into the inputs (a leak)."""
        target = y[:, 0]
        return x[:, :-1], target.long() if self.loss == "cross_entropy" else target

    def folds_view(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Each row's fold (the held-out member column) when validation rows are training rows that the members
        score out of fold (K folds, chained blocks), so the doctor fits its references out of fold too; None when
        no row is held out of any member (one validation slice, or training on every row)."""
        return y[:, 1].long() if self.held_out else None


class MemberMetric:
    """A validation metric for targets that carry the held-out member column (the column is ignored)."""

    def __init__(self, metric: Callable, class_indices: bool):
        self.metric, self.class_indices = metric, class_indices
        self.__name__ = self.setting_label = getattr(metric, "__name__", "metric")

    def __call__(self, output: torch.Tensor, y: torch.Tensor) -> float:
        target = y[:, 0]
        return self.metric(output, target.long() if self.class_indices else target)
