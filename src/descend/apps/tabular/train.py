"""`fit_table`: a table and a target column in, a trained TabularRun with an honest test report out.

Three steps, each usable alone: `prepare` infers columns and task, splits the rows and builds a fresh network;
`train` fits it on the training rows (validation rows carved from the training part drive early stopping and
the best epoch's weights are kept); `grade` touches the test rows once, at the end, to compare the model with
the training mean (or majority class) and with a linear model on the same features (closed-form ridge, or
logistic regression for classes).
"""
from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from ... import optim
from ...core import __version__, stop as stop_lib
from ...core.errors import DescendError
from ...core.loop import Callback
from ...doctor.findings import load_findings
from ...fit import FitResult, auto, distributed, fit, parallel, threads
from ...fit.lr_find import LRFindResult, lr_find
from ...runs.checkpoint import weights_bytes
from ...runs.files import write_atomic, write_json
from .. import tracking
from . import baselines, checks, evaluate, importance, lags, linear, subruns
from .cells import check_plain
from .columns import infer_columns, known_columns, left_out_identifiers, misnamed_target, numbers
from .dates import as_dates, day_first
from .io import reading_notes
from .members import (CHAIN_BLOCKS, CHAIN_MAX_ROWS, CHAIN_SHARE, FOLD_SEED, FOLDS, KFOLD_MAX_ROWS, MEMBERS_PER_FOLD,
                      MemberLoss, MemberMetric, chain_ids, fold_ids, seen_share, slice_members,
                      with_member)
from .model import LINKS, TabularNet, architecture, count_cap, from_mean_space, inputs, joined, with_held_out
from .options import REFIT_MAX_ROWS, TUNED_LR, Options, schedule_named
from .preprocess import MAX_ONEHOT_LEVELS, ROWS_PER_BIN, Preprocessor
from .run import TabularRun
from .split import Split, date_order_note, split_rows, time_order
from .statistic import KeyStatistic, key_candidates
from .stopping import GrowingPatience, least_wait
from .target import Target, infer_target, present_rows

LINEAR_NAMES = {"mse": "ridge regression", "poisson": "Poisson regression", "bce": "logistic regression",
                "cross_entropy": "logistic regression"}
FIRST_RUN = "first_run.json"   # in a run folder: the first run's lr, so an interrupted refit resumes alike
FIRST_WEIGHTS = "first_run.safetensors"   # and its weights (model.safetensors becomes the final model's)
WEIGHT_AVERAGE = 0.95   # decay of the networks' exponential weight average: about their last 20 steps
LR_CANDIDATES = (1.0, 1 / 3)   # with folds and no lr named: the default lr and a third of it, chosen by validation
UNAVERAGED = ("lbfgs", "schedule_free_adamw", "schedule_free_adamw_paper", "schedule_free_sgd")
Say = Callable[[str], None]


@dataclass
class Scheme:
    """Which rows the networks learn from and which rows judge them: K folds (each member learns from all folds
    but its own, and predicts that one), forward-chained blocks of time (each member learns from the rows before
    its block, and predicts that one) or one validation slice (every member learns from the same rows)."""

    kind: str                  # "folds", "chain" or "slice"
    members: int
    train_rows: np.ndarray     # frame positions the networks take steps on
    train_held: np.ndarray     # per train row: the member that must not learn from it (-1: none)
    val_rows: np.ndarray       # frame positions that score the networks
    val_held: np.ndarray       # per validation row: the member that predicts it (-1: all of them)
    refit: bool                # train again on every training row for the chosen number of epochs
    dated: bool                # the table has dates: later rows lie beyond the training range along trends
    folds: int | None = None   # with folds: member m learns from every fold but m % folds (chain: the rows
                               # before block m % folds)

    @property
    def keeps_first(self) -> bool:
        """Whether the first run's members stay in the final average beside the refit's: with folds they are
        several networks each trained on most of the rows, so keeping them halves the variance of the average
        for no more training."""
        return self.refit and self.kind == "folds"

    def linear_folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(fit rows, validation rows) pairs for the linear model, the same rows the networks used."""
        if self.kind == "slice":
            return [(self.train_rows, self.val_rows)]
        learns = (lambda j: self.train_held < j) if self.kind == "chain" else (lambda j: self.train_held != j)
        return [(self.train_rows[learns(j)], self.train_rows[self.train_held == j]) for j in range(self.folds)]

    def base_rows(self) -> np.ndarray:
        """The rows the linear model under residual networks is fitted on while they are validated: every row
        the networks learn from, or with chained blocks only the rows before the first block (no block's rows
        may reach the members that predict it through the linear part)."""
        return self.train_rows[self.train_held < 0] if self.kind == "chain" else self.train_rows


@dataclass
class Prepared:
    """A table made ready to train on: its rows split, its columns encoded, and a fresh network for it."""

    frame: pd.DataFrame
    split: Split
    scheme: Scheme
    run: TabularRun
    x: torch.Tensor
    y: torch.Tensor
    dense: torch.Tensor   # the design matrix the linear baseline sees (numbers plus every category one-hot)
    warnings: list[str] = field(default_factory=list)   # leaks and unseen levels, also kept in metrics.json
    in_order: bool = True   # the rows' dates run forward (a panel saved one series after another does not)


def rows_with_target(frame: pd.DataFrame, name: str, say: Say) -> pd.DataFrame:
    """The rows whose target is present; row labels stay those of the file so later messages name real rows. The
    count of rows left out is a note on reading the file: `say` is where such notes go (see io.reading_notes)."""
    if name not in frame.columns:
        raise DescendError(misnamed_target(name, frame)
                           or f"target column {name!r} is not in the data; {known_columns(name, frame.columns)}")
    mask = present_rows(frame[name], name)
    if not mask.all():
        say(f"note: {int((~mask).sum())} row(s) with an empty {name!r} left out (first: data row "
            f"{int(np.flatnonzero(~mask)[0]) + 1})")
    return frame[mask]


def choose_scheme(split: Split, opts: Options, dated: bool) -> Scheme:
    """K folds on a small table without dates (every row validates once, and no single slice decides);
    forward-chained blocks on a small dated table under a time split (several origins judge, none learning from
    its future: the latest slice alone is one period, whose turn the others need not share); otherwise the
    validation slice of the split (the latest training rows under a time split). The refit, by
    default, where it pays most for its time: small tables, and dated ones (whose validation rows are the most
    recent, the most like the future)."""
    train = split.train
    refit = opts.refit == "yes" or (opts.refit == "auto" and (len(train) <= REFIT_MAX_ROWS or dated))
    if len(train) <= KFOLD_MAX_ROWS and not dated and len(train) >= 2 * FOLDS:
        folds = fold_ids(len(train), FOLDS, FOLD_SEED)   # part of the split: --seed varies only the models
        return Scheme("folds", FOLDS * MEMBERS_PER_FOLD, train, folds, train, folds, refit, dated, FOLDS)
    if dated and opts.split == "time" and CHAIN_BLOCKS * 4 <= len(train) <= CHAIN_MAX_ROWS:
        blocks = chain_ids(len(train), CHAIN_BLOCKS, min(len(split.val), int(len(train) * CHAIN_SHARE) // CHAIN_BLOCKS))
        judged = blocks >= 0
        return Scheme("chain", CHAIN_BLOCKS * MEMBERS_PER_FOLD, train, blocks, train[judged], blocks[judged], refit,
                      dated, CHAIN_BLOCKS)
    none = np.full(len(split.fit), -1)
    members = opts.members or slice_members(len(train))
    return Scheme("slice", members, split.fit, none, split.val, np.full(len(split.val), -1), refit, dated)


def _split_order(opts: Options, dated: bool, in_order: bool) -> str:
    """How the rows were ordered for the split, in words; a table with no dates, or whose dates run backwards or
    jump about (`in_order` False), is in file order, not time order."""
    if opts.split != "time":
        return f"random (--split-seed {opts.split_seed})"
    if opts.time_column:
        return f"time order by {opts.time_column!r}"
    if dated and not in_order:
        return "rows in file order, which is not time order (see the note below)"
    if dated:
        return "time order (rows as given)"
    return ("rows in file order (no column holds dates, so the file's order stands for time; --split random draws "
            "the test rows at random)")


def _describe_split(split: Split, scheme: Scheme, opts: Options, in_order: bool) -> str:
    how = _split_order(opts, scheme.dated, in_order)
    test = (f"{len(split.test)} test rows ({'last ' if opts.split == 'time' else 'a random '}{opts.test_fraction:g}"
            ", used once at the end)" if len(split.test) else "no test rows (--test-fraction 0: the model is not "
            "tested here)")
    if scheme.kind == "folds":
        parts = (f"{len(split.train)} training rows in {FOLDS} folds ({MEMBERS_PER_FOLD} networks a fold, each "
                 f"learning from {len(split.train) - len(split.train) // FOLDS} and validated on the rest, for early "
                 "stopping and the blend)")
    elif scheme.kind == "chain":
        parts = (f"{len(split.train)} training rows, the last {len(scheme.val_rows)} in {scheme.folds} "
                 f"{_blocks(in_order)} "
                 f"({MEMBERS_PER_FOLD} networks a block, each learning from the rows before its block and "
                 "validated on it, for early stopping and the blend)")
    else:
        parts = (f"{len(split.fit)} training, {len(split.val)} validation rows (early stopping and the blend)")
    refit = (f"; then trained again on all {len(split.train)} training rows"
             + (f" ({scheme.members} more networks, averaged with the folds' {scheme.members})"
                if scheme.keeps_first else "") if scheme.refit else "")
    return f"split: {how}; {parts}, {test}{refit}"


def _new_run(pre: Preprocessor, target: Target, opts: Options, scheme: Scheme, linear_free: list[int]) -> TabularRun:
    """A fresh model whose members and linear part already predict the training average, with its config. On a
    table with dates and a squared-error target the networks learn what the linear model leaves."""
    hidden = tuple(opts.hidden) if opts.model == "mlp" else ()
    spec = architecture(pre, hidden, target.out_dim, scheme.members, target.loss, scheme.folds, linear_free,
                        residual=scheme.dated and target.loss == "mse", clipped=networks_clip(scheme, target),
                        seen=seen_share(scheme.train_held, scheme.folds) if scheme.kind == "chain" else None)
    config = {"options": asdict(opts), "architecture": spec, "descend_version": __version__}
    return TabularRun(pre, target, fresh_model(spec, target, opts.seed), config)


def networks_clip(scheme: Scheme, target: Target) -> bool:
    """Whether the networks clip numbers to the training range: on tables with dates (later rows leave it along
    trends that need not stay straight) and for classes (a logit growing on beyond the data makes a class sure
    where nothing was seen, which log-loss punishes: wine and breast_cancer rose 22% and 10% unclipped). A value
    or a count, on a table without dates, carries on along the straight line a ReLU network ends in, as ridge's
    does: clipped, it flattens there (Credit's largest card limits in benchmarks/islp_tables.py, RMSE 92 against
    33)."""
    return scheme.dated or target.task == "classification"


def fresh_model(spec: dict, target: Target, seed: int) -> TabularNet:
    torch.manual_seed(seed)
    model = TabularNet.build(spec)
    model.set_output_bias(target.output_bias())
    return model


def default_lr(opts: Options) -> float | None:
    """The lr of a run that names none: auto's own choice (None), the tuned one for AdamW, else the optimizer's
    own default."""
    if opts.optimizer == "auto":
        return None
    return TUNED_LR if opts.optimizer == "adamw" else optim.entry(opts.optimizer).defaults()["lr"]


def batch_size(opts: Options, rows: int) -> int:
    """--batch-size, else about a 25th of the training rows as a power of 2 between 32 and 256 (a small table
    still takes several steps per epoch, a large one few enough to be quick)."""
    if opts.batch_size is not None:
        return opts.batch_size
    return int(min(256, max(32, 2 ** round(np.log2(max(rows, 1) / 25)))))


def _describe_model(run: TabularRun, opts: Options, scheme: Scheme) -> str:
    rows = len(scheme.train_rows)
    lrs = lr_candidates(scheme, opts, opts.lr or default_lr(opts))
    lr = ("lr from its sweep" if opts.lr == "auto" or opts.optimizer == "auto" and opts.lr is None
          else "lr " + " or ".join(f"{lr:.3g}" for lr in lrs) + (" (whichever validates better)" if lrs[1:] else ""))
    average = (f", weights averaged over the last steps (EMA, decay {WEIGHT_AVERAGE:g})"
               if _averages(opts, opts.lr or default_lr(opts)) else "")
    return (f"model: {_networks(run, opts)} trained side by side and averaged, {_linear_part(run)}; "
            f"{_trained_weights(run)} trained weights; {opts.optimizer} "
            f"{lr} with {opts.schedule} schedule{average}, batch {batch_size(opts, rows)}, up to "
            f"{_epochs(opts.max_epochs)}, {_stopping_words(opts, scheme)}")


def _describe_sweep(run: TabularRun, opts: Options, scheme: Scheme) -> str:
    """The lr sweep's line: the networks it steps, on which rows, with which optimizer and batch (`find_lr`)."""
    rows = len(scheme.train_rows)
    optimizer = auto.FIRST_ORDER if opts.optimizer == "auto" else opts.optimizer
    decay = f", weight decay {opts.weight_decay:g}" if opts.weight_decay is not None else ""
    return (f"sweep: {_networks(run, opts)} side by side, {_trained_weights(run)} trained weights, on the {rows} "
            f"training rows as fit's first run shares them out; {optimizer}{decay}, batch {batch_size(opts, rows)}")


def _networks(run: TabularRun, opts: Options) -> str:
    """'10 mlp networks 128x64': how many networks of which kind and shape."""
    spec = run.config["architecture"]
    shape = f" {'x'.join(map(str, spec['hidden']))}" if spec["hidden"] else ""
    return f"{spec['members']} {opts.model} networks{shape}"


def _trained_weights(run: TabularRun) -> int:
    """How many weights the run's training steps (the linear model is fitted apart and frozen)."""
    return sum(p.numel() for p in run.model.parameters() if p.requires_grad)


def _epochs(count: int) -> str:
    """'1 epoch', '5 epochs': the model line's counts in words."""
    return f"{count} epoch{'' if count == 1 else 's'}"


def _stopping_words(opts: Options, scheme: Scheme) -> str:
    """The model line's stopping rule: how many epochs without a better validation loss stop a run, or that none
    can when the run's epochs are too few for even the shortest wait (the best comes at epoch 1 at the earliest)."""
    least = least_wait(opts.patience, math.ceil(len(scheme.train_rows) / batch_size(opts, len(scheme.train_rows))))
    shortest = least if scheme.kind == "slice" else opts.patience
    if opts.max_epochs <= shortest:
        return (f"no early stopping (it waits {_epochs(shortest)} without a better validation loss, and a run of "
                f"{_epochs(opts.max_epochs)} leaves no room for that)")
    wait = _epochs(opts.patience) if shortest == opts.patience else (
        f"up to {_epochs(opts.patience)} (as many as the best epoch took, at least {least})")
    return f"early stopping after {wait} without a better validation loss"


def _linear_part(run: TabularRun) -> str:
    """How the networks meet the linear model, in words."""
    name = LINEAR_NAMES[run.target.loss]
    if run.model.residual:
        return (f"learning what a {name} leaves (a table with dates: its trend carries on), their part weighted "
                "by validation")
    if run.target.task == "classification":
        return f"blended with a {name} by validation, then made more or less sure by a temperature chosen there too"
    return f"blended with a {name} by validation"


def _has_dates(pre: Preprocessor, opts: Options) -> bool:
    return opts.time_column is not None or any(c.kind in ("date", "datetime") for c in pre.columns)


def prepare(frame: pd.DataFrame, opts: Options, say: Say = print, sweep: bool = False) -> Prepared:
    """Infer column kinds (on the training rows) and the task, split the rows, fit the preprocessing on the
    training rows and build a fresh model; every choice is said (`sweep`: for an lr sweep, which uses the networks,
    the training rows, the optimizer and the batch, and no blend, schedule, stopping or refit, only those)."""
    opts.check()
    check_plain(frame, [c for c in frame.columns if c not in opts.drop], "the data")
    frame = rows_with_target(frame, opts.target, reading_notes(say))
    order = time_order(frame, opts.time_column, opts.dayfirst)
    split = split_rows(order, opts.split, opts.test_fraction, opts.val_fraction, opts.split_seed, opts.target)
    columns, notes = infer_columns(frame.iloc[split.train], opts.target, opts.drop, opts.categorical, opts.numeric,
                                   opts.dayfirst)
    target = infer_target(frame[opts.target], opts.target, opts.task, train=split.fit)
    pre = Preprocessor.fit(columns, frame.iloc[split.fit])
    scheme = choose_scheme(split, opts, _has_dates(pre, opts))
    y = target.encode(frame[opts.target])
    key = _add_key(pre, frame, y, target, split)
    say(f"target {opts.target!r}: {target.task} ({target.reason})")
    for line in pre.describe(networks_clip(scheme, target), linear_clips=scheme.dated) + notes:
        say(f"  {line}")
    found = _target_lags(frame.iloc[order[np.isin(order, split.train)]], pre, target) if scheme.dated else {}
    if found:
        rows = "row" if list(found.values()) == [1] else "rows"
        say(f"  {', '.join(found)}: the target's own earlier values ({', '.join(map(str, found.values()))} {rows} "
            "earlier): neither the networks nor the linear model clip them to the training range (they trend with the "
            "target)")
    dates = [c for c in pre.columns if c.kind in ("date", "datetime")]
    note = date_order_note(frame, dates[0].name, dates[0].dayfirst) if dates and opts.split == "time" \
        and opts.time_column is None else None
    if not sweep:
        say(_describe_split(split, scheme, opts, in_order=note is None))
    if note:
        say(note)
    x_num, x_cat, _ = pre.transform(frame, key)
    x = inputs(x_num, x_cat)
    in_file_order = opts.split == "time" and not scheme.dated
    warnings = (checks.unseen_level_notes(pre, frame, split) + checks.leak_warnings(pre, x, y, target, split)
                + checks.unseen_class_notes(target, frame, split, in_file_order)
                + checks.sorted_target_note(target, frame, split, in_file_order)
                + checks.sorted_feature_note(pre, frame, split, in_file_order))
    for line in warnings:
        say(line)
    positions = pre.feature_positions()
    run = _new_run(pre, target, opts, scheme,
                   [p for name in found for p in positions[name] if p < pre.numeric_width])   # numbers, not codes
    run.config["identifiers"] = left_out_identifiers(frame.iloc[split.train], columns, opts.target, opts.drop,
                                                     opts.dayfirst)
    run.config["columns"] = [str(name) for name in frame.columns]   # predict names the columns it never saw
    say(_describe_sweep(run, opts, scheme) if sweep else _describe_model(run, opts, scheme))
    dense = baselines.design_matrix(x_num, x_cat, [c.size for c in pre.categorical])
    return Prepared(frame, split, scheme, run, x, y, dense, warnings, in_order=note is None)


def _add_key(pre: Preprocessor, frame: pd.DataFrame, y: torch.Tensor, target: Target,
             split: Split) -> np.ndarray | None:
    """Find a repeated key column on the training rows (statistic.py) and return its statistic's features for every
    row: out of fold on the training rows, from all of them on the test rows; None where no column is one. The folds
    are 5 blocks of the training rows in the split's order, as the test rows are the block after them: a key whose
    rows lie together (a panel saved one series after another) recurs across no block, as it would not in the rows
    predicted, and is no key. Classes only: on number targets it scored worse on three of four tables where it
    fired, as ts5's statistic of a combination of columns did (benchmarks/RESULTS.md, branch rk)."""
    if target.task != "classification":
        return None
    rows = split.train
    found = KeyStatistic.choose(frame.iloc[rows], key_candidates(pre.columns, frame.iloc[rows]), y[rows].numpy(),
                                target.classes, np.arange(len(rows)) * FOLDS // len(rows), MAX_ONEHOT_LEVELS + 1,
                                ROWS_PER_BIN)
    if found is None:
        return None
    statistic, own = found
    pre.add_key(statistic, own)
    values = statistic.values(frame)
    values[rows] = own
    return values


def _target_lags(train: pd.DataFrame, pre: Preprocessor, target: Target) -> dict[str, int]:
    """The number columns holding the target's own earlier values in `train` (the training rows in time order),
    with their lags; only for a squared-error target (a lag left unclipped in a Poisson or logistic model's
    straight line would carry on exponentially)."""
    if target.loss != "mse":
        return {}
    return lags.target_lags(train, target.name, [c.name for c in pre.columns if c.kind in ("numeric", "ordinal")])


def _member_data(prepared: Prepared, rows: np.ndarray, held: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets of `rows`, each with the member it is held out of."""
    member = torch.as_tensor(held)
    return with_held_out(prepared.x[rows], member), with_member(prepared.y[rows], member)


def find_lr(prepared: Prepared, opts: Options) -> LRFindResult:
    """lr_find on the training rows with the run's optimizer, batch size and --threads (chosen as fit chooses
    them); the network is left as it was."""
    scheme, run = prepared.scheme, prepared.run
    optimizer = auto.FIRST_ORDER if opts.optimizer == "auto" else opts.optimizer
    train = _member_data(prepared, scheme.train_rows, scheme.train_held)
    batch = batch_size(opts, len(scheme.train_rows))
    count = threads.choose(opts.threads, sum(p.numel() for p in run.model.parameters()), batch, torch.device("cpu"))
    with threads.using(count):
        return lr_find(run.model, train, _member_loss(run, train), optimizer=optimizer, batch_size=batch,
                       weight_decay=opts.weight_decay, seed=opts.seed)


def fit_arguments(run: TabularRun, train: tuple, val: tuple | None, opts: Options, lr: float,
                  epochs: int | None = None) -> dict:
    """The `descend.fit` arguments of tabular training: the chosen optimizer and schedule, each member on its own
    loss, and with validation rows, validation every epoch and early stopping that keeps the best epoch's
    weights; without them, a stop after `epochs` epochs. `train` and `val` are (inputs, targets) with the
    held-out member columns."""
    arguments = dict(model=run.model, train=train, val=val, loss=_member_loss(run, train),
                     optimizer=opts.optimizer, lr=lr, weight_decay=opts.weight_decay,
                     batch_size=batch_size(opts, len(train[0])), max_epochs=opts.max_epochs, seed=opts.seed,
                     progress=opts.progress, threads=opts.threads)
    if val is not None:
        arguments["metrics"] = [MemberMetric(run.target.metric(), run.target.loss == "cross_entropy")]
    return _completed(opts, epochs, arguments)


def _member_loss(run: TabularRun, train: tuple[torch.Tensor, torch.Tensor]) -> MemberLoss:
    """The members' loss for training on `train` (inputs, targets with the held-out member column): told once
    when no row is held out of any member."""
    y = train[1]
    none_held = y.dim() == 2 and y.shape[1] == 2 and bool((y[:, 1] < 0).all())
    spec = run.config["architecture"]
    owners = {place: name for name, places in run.preprocessor.feature_positions().items() for place in places}
    return MemberLoss(run.target.loss, spec.get("folds"), held_out=not none_held, seen=spec.get("seen"),
                      input_names=[owners.get(place, f"input {place}") for place in range(max(owners, default=-1) + 1)])


def every_row(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets with no member held out of any row."""
    none = torch.full((len(x),), -1)
    return with_held_out(x, none), with_member(y, none)


def _rules(opts: Options, epochs: int | None, arguments: dict) -> dict:
    """The schedule and the stopping rule: early stopping (validated on one slice, with a patience that grows with
    the run, see stopping.py; out of fold, the fixed patience), or a stop after `epochs` epochs (built afresh: they
    hold functions that do not travel). `arguments`: fit's, which say how the run is validated."""
    if epochs is not None:
        stop = stop_lib.MaxEpochs(epochs)
    elif _out_of_fold(arguments):
        stop = stop_lib.Patience(opts.patience, restore_best=True)
    else:
        stop = GrowingPatience(opts.patience, math.ceil(len(arguments["train"][0]) / arguments["batch_size"]))
    return {"schedule": schedule_named(opts.schedule), "stop": [stop]}


def _out_of_fold(arguments: dict) -> bool:
    """Whether fit's validation rows are held out of folds (K-fold) rather than one slice no member learns from."""
    val = arguments.get("val")
    return val is not None and bool((val[1][:, 1] >= 0).any())


def averaged(opts: Options, model: torch.nn.Module, lr) -> torch.optim.Optimizer | str:
    """The named optimizer inside an exponential average of the weights (decay WEIGHT_AVERAGE), which
    validation, early stopping and the kept model see: the average of the last steps' weights lies nearer the
    loss's floor than any one step's, so which epoch wins and what the model predicts depend less on the seed
    and on the last batches. optimizer "auto" and lr "auto" choose for themselves; L-BFGS takes line-search steps
    and Schedule-Free averages already: those are left as named."""
    if not _averages(opts, lr):
        return opts.optimizer
    settings = {} if lr is None else {"lr": lr}
    return optim.EMA(optim.create(model, opts.optimizer, weight_decay=opts.weight_decay, **settings),
                     decay=WEIGHT_AVERAGE)


def _averages(opts: Options, lr) -> bool:
    return "auto" not in (opts.optimizer, lr) and opts.optimizer not in UNAVERAGED


def _completed(opts: Options, epochs: int | None, arguments: dict) -> dict:
    """The arguments with what cannot travel to another process built for this one: the schedule, the stopping
    rule and the optimizer over this process's copy of the model."""
    return {**arguments, **_rules(opts, epochs, arguments),
            "optimizer": averaged(opts, arguments["model"], arguments["lr"])}


def run_fit(arguments: dict, opts: Options, nproc: int = 1, epochs: int | None = None) -> FitResult:
    """`descend.fit(**arguments)` in this process, or data-parallel in `nproc` local processes (which build the
    schedule, the stopping rule and the optimizer themselves)."""
    if nproc == 1:
        return fit(**arguments)
    return parallel.fit_in_processes(nproc, {**arguments, "schedule": None, "stop": (), "optimizer": opts.optimizer},
                                        functools.partial(_completed, opts, epochs))


def train(prepared: Prepared, opts: Options, say: Say = print, *, run_dir=None, resume: bool = False,
          callbacks: Sequence[Callback] = (), nproc: int = 1) -> FitResult:
    """Fit the members on the training rows with early stopping (lr_find first for lr "auto"; with folds on the
    default path at each of LR_CANDIDATES, keeping the lr that validates better; on top of the linear model,
    fitted first, where they learn its residuals), choose the blend with the linear model on the validation
    rows, and train again on every training row for the chosen number of
    epochs where the scheme says so. With `run_dir` the runs are recorded there (the second in run_dir/refit)
    and `resume` continues them; `callbacks` watch both runs. Returns the first run's result (its validation
    scores stay in the record)."""
    run, scheme = prepared.run, prepared.scheme
    if nproc > 1:
        distributed.check_nproc(nproc, len(scheme.train_rows), batch_size(opts, len(scheme.train_rows)))
    linear_out = _choose_linear(prepared)
    if "linear_held" in run.config["architecture"]:
        say("the linear model holds the date at its last training date when predicting later rows: on the "
            "validation blocks, its log-rate trend carried on predicted worse than held there")
    if run.model.residual:   # the networks learn what the linear model (fitted on rows no block holds) leaves
        install_linear(prepared, 1.0, scheme.base_rows())
    lr = opts.lr or default_lr(opts)
    if lr == "auto" and nproc > 1:   # sweep once here, not in every process
        found = find_lr(prepared, opts)
        say(f"lr_find: {found.summary().splitlines()[-1]}")
        lr = found.suggestion
    callbacks = [*callbacks, *tracking.from_targets(opts.log)]
    result = finished_first_run(run, run_dir) if resume else None
    if result is None:
        recording = subruns.recording(run_dir, resume, callbacks)
        lr, result = choose_lr(prepared, opts, lr_candidates(scheme, opts, lr), nproc, say, recording)
        record = None if result is None else subruns.candidate_name(lr)
        if result is None:
            result = run_fit({**_first_arguments(prepared, opts, lr), **recording()}, opts, nproc)
        if run_dir is not None:
            write_atomic(Path(run_dir) / FIRST_WEIGHTS, weights_bytes(result.model.state_dict()))
            write_json(Path(run_dir) / FIRST_RUN, {"lr": result.lr, "records": len(result.history),
                                                     "findings": len(result.findings),
                                                     "auto": result.choice and result.choice.to_dict(),
                                                     "lr_candidates": run.config.get("lr_candidates"),
                                                     "record": record})
            subruns.adopt(Path(run_dir), record)
            result.run_dir = str(run_dir)
    run.model = result.model
    run.config["lr"] = result.lr
    if result.choice is not None:
        run.config["auto"] = result.choice.to_dict()
    run.history = [dict(r, phase="fit") for r in result.history]
    run.findings = result.findings
    epochs = int(result.best.get("epoch") or opts.max_epochs)
    say(f"best validation loss {result.best.get('val_loss', float('nan')):.4g} after epoch {epochs}")
    blend = choose_model(prepared, linear_out)
    if scheme.refit:
        first = run.model
        say(f"training again on all {len(prepared.split.train)} training rows for {epochs} "
            f"epoch{'' if epochs == 1 else 's'}, at the first "
            "run's learning rates epoch by epoch")
        refit(prepared, opts, epochs, result.lr, run_dir, resume, nproc, callbacks)
        if scheme.keeps_first:
            run.model, run.config["architecture"] = joined(first, run.model, run.config["architecture"])
    install_linear(prepared, blend)
    if blend and not _predictions_finite(prepared):
        say("the networks diverged: they predict non-finite values on their own training rows (see the findings); "
            "the model is the linear model alone")
        run.config["architecture"]["temperature"] = 1.0   # chosen for the blend, not for the linear model alone
        install_linear(prepared, 0.0)
    bound_predictions(prepared, say)
    return result


def bound_predictions(prepared: Prepared, say: Say = print) -> None:
    """Hold what the model predicts within what the target can be, once training is over: what the model predicts
    is bounded, how it trained is not. A count's log-rate stops at the cap read from the training counts
    (`model.count_cap`, in the architecture; bending the training loss above the cap cost charity's networks their
    fit, RESULTS.md, branch t6). A value whose every training row is 0 or more (a price, a duration, an amount) is
    held at 0 or above (`Target.floor`), said and kept in the config: a true value at or above 0 is nearer a
    prediction raised to 0 than one below. No ceiling: the largest training value is the sample's, not the
    target's, and later or larger rows pass it."""
    run = prepared.run
    if run.target.task == "count":
        cap = count_cap(float(prepared.y[prepared.split.train].max()))
        run.config["architecture"]["log_rate_cap"] = cap
        run.model.log_rate_cap.fill_(cap)
    elif run.target.task == "regression" and _never_negative(prepared):
        run.target.floor = 0.0
        run.config["prediction_floor"] = (f"predictions held at 0 or above: every training value of "
                                          f"{run.target.name!r} is 0 or more")
        say(run.config["prediction_floor"])


def _never_negative(prepared: Prepared) -> bool:
    """Whether every training value of the target is 0 or more, read from the file (not the standardized copy)."""
    name = prepared.run.target.name
    return bool((numbers(prepared.frame[name].iloc[prepared.split.train], name) >= 0).all())


def lr_candidates(scheme: Scheme, opts: Options, lr) -> list:
    """The lrs the first run tries: with folds on the default path (AdamW, no --lr), the default and a third of it,
    the one with the lower out-of-fold loss kept. The faster suits networks that need long training; the slower
    suits networks that overfit within an epoch or two, where early stopping at the faster lr chooses among too
    few, too different epochs. Otherwise (one validation slice, or an lr or optimizer named) `lr` alone."""
    if scheme.kind != "folds" or opts.lr is not None or opts.optimizer != "adamw":
        return [lr]
    return [lr * factor for factor in LR_CANDIDATES]


def choose_lr(prepared: Prepared, opts: Options, candidates: list, nproc: int, say: Say,
              recording: Callable[[str], dict]) -> tuple:
    """The candidate lr whose first run, from the same initial weights and batch order, reaches the lowest
    validation loss, and that run's result (None for a single candidate: nothing was run). `recording(name)`
    gives each run's run_dir, resume and callbacks (its record in the run folder's lr_candidates/name, which
    the caller keeps for the chosen one); run.model is left at the initial weights."""
    if len(candidates) == 1:
        return candidates[0], None
    run, start = prepared.run, prepared.run.model
    results = {}
    for number, lr in enumerate(candidates, 1):
        say(f"first run at lr {lr:g} ({number} of {len(candidates)}; the one with the lower validation loss is kept)")
        run.model = copy.deepcopy(start)
        arguments = {**_first_arguments(prepared, opts, lr), **recording(subruns.candidate_name(lr))}
        results[lr] = run_fit(arguments, opts, nproc)
    run.model = start
    losses = {lr: result.best.get("val_loss", math.inf) for lr, result in results.items()}
    chosen = min(candidates, key=lambda lr: (losses[lr], -lr))
    say(f"lr {chosen:g} chosen by validation loss (" + ", ".join(f"lr {lr:g}: {loss:.4g}" for lr, loss in
                                                                    losses.items()) + ")")
    run.config["lr_candidates"] = {f"{lr:g}": loss for lr, loss in losses.items()}
    return chosen, results[chosen]


def _first_arguments(prepared: Prepared, opts: Options, lr) -> dict:
    """`descend.fit`'s arguments for the first run at `lr`: the members on their rows, validated out of fold."""
    scheme = prepared.scheme
    return fit_arguments(prepared.run, _member_data(prepared, scheme.train_rows, scheme.train_held),
                         _member_data(prepared, scheme.val_rows, scheme.val_held), opts, lr)


def _predictions_finite(prepared: Prepared) -> bool:
    """Whether the model predicts finite values on every training row, those the networks learned from or were
    validated on (a diverged network may not: its outputs, or the link applied to them, overflow, maybe only on
    some rows). A test row far outside the training range may overflow a sound model's count: that is the
    count bound's to hold, not a sign of divergence."""
    with torch.no_grad():
        return bool(np.isfinite(prepared.run.outputs(prepared.x[prepared.split.train])).all())


def finished_first_run(run: TabularRun, run_dir) -> FitResult | None:
    """The first run's result read back from `run_dir` when it had finished before the interruption (only the
    refit was left to do); None when it has not finished yet."""
    folder = Path(run_dir)
    if not (folder / FIRST_RUN).is_file():
        return None
    first = json.loads((folder / FIRST_RUN).read_text())
    subruns.adopt(folder, first.get("record"))
    if not (folder / "summary.json").is_file():
        return None
    summary = json.loads((folder / "summary.json").read_text())
    run.model.load_state_dict(load_file(str(folder / FIRST_WEIGHTS)))
    if first.get("lr_candidates"):
        run.config["lr_candidates"] = first["lr_candidates"]
    lines = (folder / "history.jsonl").read_text().splitlines()[:first["records"]]   # later ones: the refit's
    return FitResult(run.model, [json.loads(line) for line in lines], summary["best"], summary["stop_reason"],
                     load_findings(folder / "findings.json")[:first["findings"]], str(folder),
                     summary.get("elapsed", 0.0), first["lr"],
                     choice=auto.Choice.from_dict(first["auto"]) if first.get("auto") else None)


def _choose_linear(prepared: Prepared) -> np.ndarray:
    """Choose the linear model's penalty on the validation rows (into run.config, with whether it clips numbers:
    on a table with dates) and return its validation outputs (placed as `linear.choose_penalty` places them)."""
    run, scheme, target = prepared.run, prepared.scheme, prepared.run.target
    penalty, outputs = linear.choose_penalty(target.loss, _design(prepared, scheme.dated), prepared.y.numpy(),
                                             scheme.linear_folds(), len(target.classes))
    run.config.update(linear_penalty=penalty, linear_clipped=scheme.dated)
    held = _held_dates(prepared, penalty)
    if held:
        run.config["architecture"]["linear_held"] = held
        run.model.hold_linear(held)
    return outputs


def _held_dates(prepared: Prepared, penalty: float) -> list:
    """For a count on forward-chained blocks of time, the dates' running times the linear model holds at their
    training range ([[position, low, high], ...]), or none. On the log scale a date's slope grows the count
    exponentially past the last training date, and the other numbers that trend with it stop at their training
    range there, so the slope need not carry on. Each block tells: fitted on the rows before it, with the other
    numbers clipped to those rows' range as later rows' are, is its Poisson loss lower with the dates carried on
    or held at those rows' last date?"""
    run, scheme = prepared.run, prepared.scheme
    dates = run.preprocessor.running_times()
    if run.target.loss != "poisson" or scheme.kind != "chain" or not dates:
        return []
    design, y = prepared.dense.numpy(), prepared.y.numpy()
    clipped = [i for i in range(run.model.numeric_width) if math.isfinite(float(run.model.linear_upper[i]))]
    carried = held = 0.0
    for fit, val in scheme.linear_folds():
        fitted = linear.fit_linear("poisson", design[fit], y[fit], penalty, 0)
        low, high = design[fit].min(axis=0), design[fit].max(axis=0)
        ahead = design[val].copy()
        ahead[:, clipped] = np.clip(ahead[:, clipped], low[clipped], high[clipped])
        carried += _block_loss(fitted, ahead, y[val])
        ahead[:, dates] = np.clip(ahead[:, dates], low[dates], high[dates])
        held += _block_loss(fitted, ahead, y[val])
    if held >= carried:
        return []
    seen = design[prepared.split.train]
    return [[i, float(seen[:, i].min()), float(seen[:, i].max())] for i in dates]


def _block_loss(fitted: linear.Linear, design: np.ndarray, y: np.ndarray) -> float:
    """A Poisson linear model's summed loss on a block's rows."""
    return len(y) * linear.mean_loss("poisson", linear.as_mean("poisson", fitted.outputs(design)), torch.as_tensor(y))


def choose_model(prepared: Prepared, linear_out: np.ndarray) -> float:
    """Blend the members with the linear model (whose validation outputs are `linear_out`) by validation loss;
    the validation scores (out-of-fold with folds) of the networks, the linear model and the blend go to
    run.metrics["validation"]. Networks that learned the linear model's residuals are scored with it added (the
    blend weight then shrinks their part). Returns the blend weight."""
    run, scheme, target = prepared.run, prepared.scheme, prepared.run.target
    y, clipped, penalty = prepared.y.numpy(), run.config["linear_clipped"], run.config["linear_penalty"]
    run.model.eval()
    with torch.no_grad():
        if not run.model.residual:   # the networks alone
            run.model.set_linear(torch.zeros_like(run.model.linear_weight), torch.zeros_like(run.model.linear_bias),
                                 1.0)
        network = linear.as_mean(target.loss, run.model(_member_data(prepared, scheme.val_rows,
                                                                      scheme.val_held)[0]))
    lin = linear.as_mean(target.loss, linear_out[scheme.val_rows])
    if not bool(torch.isfinite(network).all()):   # diverged networks: train() then keeps the linear model alone
        network = lin
    truth = torch.as_tensor(y[scheme.val_rows])
    blend, losses_ = linear.choose_blend(target.loss, network, lin, truth)
    blended = blend * network + (1 - blend) * lin
    temperature, losses_["tempered"] = linear.choose_temperature(target.loss, blended, truth)
    run.config["architecture"]["temperature"] = temperature
    values = truth_values(target, prepared.frame)[scheme.val_rows]
    to_units = functools.partial(_decoded, target)
    run.metrics["validation"] = {
        "rows": int(len(scheme.val_rows)), "how": _validation_words(scheme, prepared.in_order),
        "blend": blend, "temperature": temperature, "linear_penalty": penalty, "linear_clipped": clipped,
        "residual": run.model.residual, "losses": losses_,
        "scores": {"blend": evaluate.scores(target, values, to_units(linear.tempered_mean(target.loss, blended,
                                                                                          temperature))),
                   "networks": evaluate.scores(target, values, to_units(network)),
                   LINEAR_NAMES[target.loss]: evaluate.scores(target, values, to_units(lin))}}
    return blend


def _validation_words(scheme: Scheme, in_order: bool) -> str:
    return {"folds": f"{FOLDS}-fold, out of fold",
            "chain": f"{scheme.folds} forward-chained {_blocks(in_order)}"}.get(scheme.kind, "slice")


def _blocks(in_order: bool) -> str:
    """What a forward-chained validation block spans, in words: time, or rows in file order where the rows' dates do
    not run forward (a panel saved one series after another)."""
    return "blocks of time" if in_order else "blocks of rows in file order"


def _design(prepared: Prepared, clipped: bool) -> np.ndarray:
    """The linear model's design matrix: numbers as they are, or clipped to the training range as the networks
    clip them. A table with dates clips: its later rows' numbers leave the training range along trends that
    need not stay straight (the date's own running time, never clipped, carries the trend). Otherwise a
    number beyond the training range is a rare row, and a straight line is the linear model's best guess there,
    as in ridge regression."""
    return prepared.run.model.clip_design(prepared.dense).numpy() if clipped else prepared.dense.numpy()


def _decoded(target: Target, mean: torch.Tensor) -> np.ndarray:
    return target.decode(from_mean_space(mean, LINKS[target.loss]))


def install_linear(prepared: Prepared, blend: float, rows: np.ndarray | None = None) -> None:
    """Fit the linear model on `rows` (default: every training row) with the chosen penalty and put it, and the
    blend, in the model."""
    run = prepared.run
    rows = prepared.split.train if rows is None else rows
    clipped = run.config["linear_clipped"]
    fitted = linear.fit_linear(run.target.loss, _design(prepared, clipped)[rows], prepared.y.numpy()[rows],
                               run.config["linear_penalty"], len(run.target.classes))
    run.model.set_linear(torch.as_tensor(fitted.weight, dtype=torch.float32),
                         torch.as_tensor(fitted.bias, dtype=torch.float32), blend, clipped)
    run.model.temperature.fill_(run.config["architecture"].get("temperature", 1.0))
    run.model.eval()


def refit(prepared: Prepared, opts: Options, epochs: int, lr: float, run_dir, resume: bool, nproc: int,
          callbacks: Sequence[Callback] = ()) -> None:
    """Fresh members trained on every training row for `epochs` epochs (so the steps grow with the rows) on the
    first run's schedule (the same learning rates epoch by epoch); recorded in run_dir/refit, resumed there.
    Where the first run's members are kept too, the fresh ones start from other initial weights and take the rows
    in another order (`refit_seed`)."""
    run, seed = prepared.run, refit_seed(prepared.scheme, opts)
    run.model = fresh_model(run.config["architecture"], run.target, seed)
    if run.model.residual:
        install_linear(prepared, 1.0)
    folder = None if run_dir is None else Path(run_dir) / "refit"
    arguments = fit_arguments(run, every_row(prepared.x[prepared.split.train], prepared.y[prepared.split.train]),
                              None, opts, lr, epochs)
    arguments.update(seed=seed, run_dir=folder, resume=resume and subruns.has_checkpoint(folder),
                     callbacks=list(callbacks))
    result = run_fit(arguments, opts, nproc, epochs)
    run.model = result.model
    steps = run.history[-1]["step"] if run.history else 0   # the refit's steps follow the first run's
    run.history += [dict(r, step=r["step"] + steps, phase="refit") for r in result.history]
    said = {(f.code, repr(f.change)) for f in run.findings}   # the same problem with the same fix is said once
    run.findings = run.findings + [f for f in result.findings if (f.code, repr(f.change)) not in said]
    run.config["refit_epochs"] = epochs


def refit_seed(scheme: Scheme, opts: Options) -> int:
    """The refit's seed, for its initial weights and its batch order: where the first run's members stay in the
    final average, the next seed, so the two halves of the average share neither (the same rows in the same
    batches would give both halves the same luck of the order, which no number of members averages away)."""
    return opts.seed + int(scheme.keeps_first)


def truth_values(target: Target, frame: pd.DataFrame) -> np.ndarray:
    """Targets in the units the scores use: values or class indices."""
    encoded = target.encode(frame[target.name]).numpy()
    return encoded * target.std + target.mean if target.task == "regression" else encoded


def _time_axis(prepared: Prepared, opts: Options) -> pd.Series | None:
    """What residuals are plotted against: the --time-column, else the first date column, else nothing. Dates
    come as training read them (day or month first), so test_predictions.csv holds them unambiguously (ISO) and
    the report need not guess: 05/03 read month first would put March's rows in May."""
    columns = {c.name: c for c in prepared.run.preprocessor.columns}
    dated = [name for name, c in columns.items() if c.kind in ("date", "datetime")]
    names = [opts.time_column] if opts.time_column else dated
    if not names:
        return None
    values, column = prepared.frame[names[0]], columns.get(names[0])
    if column is not None and column.kind in ("date", "datetime") and pd.api.types.is_numeric_dtype(values):
        return as_dates(values)   # Excel's serial dates
    if not pd.to_numeric(values, errors="coerce").isna().any():
        return values
    settled = column.dayfirst if column is not None and column.dayfirst is not None else None
    dates = as_dates(values, settled if settled is not None else day_first(values, names[0], opts.dayfirst))
    return values if dates[values.notna()].isna().any() else dates


def grade(prepared: Prepared, opts: Options, say: Say = print) -> None:
    """Score the test rows once: the model, the linear baseline on the same features, and the constant guess;
    the scores go to run.metrics and each test row's prediction to run.test_predictions. Without test rows
    nothing is scored and run.metrics says so (its validation scores remain). Test rows a count's bound held are
    said, and kept with the data's warnings for the report."""
    run, split, target = prepared.run, prepared.split, prepared.run.target
    truth, train_rows, test = truth_values(target, prepared.frame), split.train, split.test
    if not len(test):
        run.metrics.update(test_rows=0, scores={})
        return
    predicted = run.outputs(prepared.x[test])
    note = run.bound_note(prepared.x[test], "test row")
    if note:
        say(note)
        prepared.warnings.append(note)
    if not np.isfinite(predicted).all():
        raise DescendError("training diverged: the model predicts non-finite values (see the findings above); "
                           "lower --lr or --weight-decay, or try --lr auto")
    linear, linear_predicted = baselines.linear_predictions(target, prepared.dense[train_rows], truth[train_rows],
                                                            prepared.dense[test])
    constant = baselines.constant_predictions(target, truth[train_rows], len(test))
    model = f"{opts.model} + {LINEAR_NAMES[target.loss]} ({target.loss} loss)"   # the networks and their linear part
    rows = {model: evaluate.scores(target, truth[test], predicted),
            linear: evaluate.scores(target, truth[test], linear_predicted),
            ("training majority class" if target.task == "classification" else "training mean"):
                evaluate.scores(target, truth[test], constant)}
    run.metrics.update(test_rows=int(len(test)), scores=rows, in_words=evaluate.in_words(rows))
    run.test_predictions = _test_table(prepared, opts, truth[test], predicted)


def _importance_rows(scheme: Scheme, rows: np.ndarray, opts: Options) -> str:
    """Which rows permutation importance shuffles, and why, in words: the validation slice; with folds or blocks
    (whose networks were each validated on rows the others learned from, so no row is unseen by the whole model
    they make up) the last val_fraction of the training rows, with how many of them trained some network."""
    if scheme.kind == "slice":
        return f"the {len(rows)} validation rows"
    learned = np.concatenate([fit for fit, _ in scheme.linear_folds()])
    seen = int(np.isin(rows, learned).sum())
    judged = (f"{len(scheme.val_rows)} rows in {scheme.folds} folds" if scheme.kind == "folds" else
              f"the last {len(scheme.val_rows)} rows in {scheme.folds} blocks")
    return (f"the last {len(rows)} training rows ({opts.val_fraction:.0%} of them), scored by the whole model: "
            f"its networks were validated on {judged}, each by those that did not learn from it, and {seen} of "
            f"these {len(rows)} rows trained some of them, so the rises read what the model uses, not how it "
            "fares on new rows")


def _test_table(prepared: Prepared, opts: Options, truth: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Each test row's file row, actual and predicted value (for classes: labels and each class's probability,
    p_<class>), and its time when the table has one."""
    test, target = prepared.split.test, prepared.run.target
    if target.task == "classification":
        classes = np.array(target.classes, dtype=object)
        table = pd.DataFrame({"row": prepared.frame.index[test] + 1, "actual": classes[truth.astype(int)],
                              "predicted": classes[predicted.argmax(axis=1)]})
        for i, label in enumerate(target.classes):
            table[f"p_{label}"] = predicted[:, i]
        return table
    table = pd.DataFrame({"row": prepared.frame.index[test] + 1, "actual": truth, "predicted": predicted})
    time = _time_axis(prepared, opts)
    if time is not None:
        table.insert(1, "time", time.iloc[test].to_numpy())
    return table


def fit_table(frame: pd.DataFrame, opts: Options, say: Say = print, **train_options) -> TabularRun:
    """Prepare, train and grade in one call; `train_options` go to `train` (run_dir, resume, callbacks, nproc)."""
    prepared = prepare(frame, opts, say)
    train(prepared, opts, say, **train_options)
    grade(prepared, opts, say)
    explain(prepared, opts)
    return prepared.run


def explain(prepared: Prepared, opts: Options) -> None:
    """Permutation importance of each input column on the validation rows, into run.metrics["importance"], and
    what fit warned about the data, into run.metrics["data_warnings"] (so the report shows them too)."""
    run, rows = prepared.run, prepared.split.val
    if prepared.warnings:
        run.metrics["data_warnings"] = list(prepared.warnings)
    found = importance.permutation_importance(
        run, run.preprocessor, prepared.x[rows], truth_values(run.target, prepared.frame.iloc[rows]), opts.seed,
        _importance_rows(prepared.scheme, rows, opts))
    if prepared.scheme.refit:   # the measure must not pass these rows off as unseen
        found["measure"] += "; the final model was trained again on these rows too (the refit)"
    run.metrics["importance"] = found
