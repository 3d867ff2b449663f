"""`fit_table`: a table and a target column in, a trained TabularRun with an honest test report out.

Three steps, each usable alone: `prepare` infers columns and task, splits the rows and builds a fresh network;
`train` fits it on the training rows (validation rows carved from the training part drive early stopping and
the best epoch's weights are kept); `grade` touches the test rows once, at the end, to compare the model with
the training mean (or majority class) and with a linear model on the same features (closed-form ridge, or
logistic regression for classes).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ... import optim
from ...core import __version__, stop as stop_lib
from ...core.errors import DescendError
from ...core.loop import Callback
from ...fit import FitResult, auto, distributed, fit, parallel
from ...fit.lr_find import LRFindResult, lr_find
from . import baselines, checks, evaluate, importance
from .cells import check_plain
from .columns import infer_columns
from .model import TabularNet, architecture, inputs
from .options import TUNED_LR, Options, schedule_named
from .preprocess import Preprocessor
from .run import TabularRun
from .split import Split, split_rows, time_order
from .target import Target, infer_target, present_rows

Say = Callable[[str], None]


@dataclass
class Prepared:
    """A table made ready to train on: its rows split, its columns encoded, and a fresh network for it."""

    frame: pd.DataFrame
    split: Split
    run: TabularRun
    x: torch.Tensor
    y: torch.Tensor
    dense: torch.Tensor   # the design matrix the linear baseline sees (numbers plus every category one-hot)
    warnings: list[str] = field(default_factory=list)   # leaks and unseen levels, also kept in metrics.json


def rows_with_target(frame: pd.DataFrame, name: str, say: Say) -> pd.DataFrame:
    """The rows whose target is present; row labels stay those of the file so later messages name real rows."""
    if name not in frame.columns:
        raise DescendError(f"target column {name!r} is not in the data; columns: {', '.join(frame.columns)}")
    mask = present_rows(frame[name], name)
    if not mask.all():
        say(f"note: {int((~mask).sum())} row(s) with an empty {name!r} left out (first: data row "
            f"{int(np.flatnonzero(~mask)[0]) + 1})")
    return frame[mask]


def _describe_split(split: Split, opts: Options) -> str:
    if opts.split == "time":
        how = f"time order{f' by {opts.time_column!r}' if opts.time_column else ' (rows as given)'}"
        test = f"the last {opts.test_fraction:g}"
    else:
        how, test = f"random (--split-seed {opts.split_seed})", f"a random {opts.test_fraction:g}"
    return (f"split: {how}; {len(split.fit)} training, {len(split.val)} validation (early stopping), "
            f"{len(split.test)} test rows ({test}, used once at the end)")


def _new_run(pre: Preprocessor, target: Target, opts: Options) -> TabularRun:
    """A fresh network whose output already predicts the training average, wrapped with its config."""
    hidden = tuple(opts.hidden) if opts.model == "mlp" else ()
    spec = architecture(pre, hidden, target.out_dim)
    torch.manual_seed(opts.seed)
    model = TabularNet.build(spec)
    model.set_output_bias(target.output_bias())
    config = {"options": asdict(opts), "architecture": spec, "descend_version": __version__}
    return TabularRun(pre, target, model, config)


def default_lr(opts: Options) -> float | None:
    """The lr of a run that names none: auto's own choice (None), the tuned one for AdamW, else the optimizer's
    own default."""
    if opts.optimizer == "auto":
        return None
    return TUNED_LR if opts.optimizer == "adamw" else optim.entry(opts.optimizer).defaults()["lr"]


def _describe_model(run: TabularRun, opts: Options) -> str:
    hidden = run.config["architecture"]["hidden"]
    lr = ("lr from its sweep" if opts.lr == "auto" or opts.optimizer == "auto" and opts.lr is None
          else f"lr {opts.lr or default_lr(opts):g}")
    return (f"model: {opts.model}" + (f" {'x'.join(map(str, hidden))}" if hidden else "") +
            f", {sum(p.numel() for p in run.model.parameters())} weights; {opts.optimizer} {lr} with {opts.schedule} "
            f"schedule, batch {opts.batch_size}, up to {opts.max_epochs} epochs, early stopping after "
            f"{opts.patience} epochs without a better validation loss")


def prepare(frame: pd.DataFrame, opts: Options, say: Say = print) -> Prepared:
    """Infer column kinds (on the training rows) and the task, split the rows, fit the preprocessing on the
    training rows and build a fresh network; every choice is said."""
    opts.check()
    check_plain(frame, [c for c in frame.columns if c not in opts.drop], "the data")
    frame = rows_with_target(frame, opts.target, say)
    split = split_rows(time_order(frame, opts.time_column, opts.dayfirst), opts.split, opts.test_fraction,
                       opts.val_fraction, opts.split_seed)
    columns, notes = infer_columns(frame.iloc[split.train], opts.target, opts.drop, opts.categorical, opts.numeric,
                                   opts.dayfirst)
    target = infer_target(frame[opts.target], opts.target, opts.task, train=split.fit)
    pre = Preprocessor.fit(columns, frame.iloc[split.fit])
    say(f"target {opts.target!r}: {target.task} ({target.reason})")
    for line in pre.describe() + notes:
        say(f"  {line}")
    say(_describe_split(split, opts))
    x_num, x_cat, _ = pre.transform(frame)
    x, y = inputs(x_num, x_cat), target.encode(frame[opts.target])
    warnings = checks.unseen_level_notes(pre, frame, split) + checks.leak_warnings(pre, x, y, target, split)
    for line in warnings:
        say(line)
    run = _new_run(pre, target, opts)
    say(_describe_model(run, opts))
    dense = baselines.design_matrix(x_num, x_cat, [c.size for c in pre.categorical])
    return Prepared(frame, split, run, x, y, dense, warnings)


def find_lr(prepared: Prepared, opts: Options) -> LRFindResult:
    """lr_find on the training rows with the run's optimizer and batch size; the network is left as it was."""
    rows, run = prepared.split.fit, prepared.run
    optimizer = auto.FIRST_ORDER if opts.optimizer == "auto" else opts.optimizer
    return lr_find(run.model, (prepared.x[rows], prepared.y[rows]), run.target.loss, optimizer=optimizer,
                   batch_size=opts.batch_size, weight_decay=opts.weight_decay, seed=opts.seed)


def fit_arguments(run: TabularRun, x: torch.Tensor, y: torch.Tensor, fit_rows, val_rows, opts: Options,
                  lr: float) -> dict:
    """The `descend.fit` arguments of tabular training: the chosen optimizer and schedule, validation every epoch
    and early stopping that keeps the best epoch's weights."""
    return dict(model=run.model, train=(x[fit_rows], y[fit_rows]), val=(x[val_rows], y[val_rows]),
                loss=run.target.loss, metrics=[run.target.metric()], optimizer=opts.optimizer, lr=lr,
                weight_decay=opts.weight_decay, batch_size=opts.batch_size, max_epochs=opts.max_epochs,
                seed=opts.seed, progress=opts.progress, threads=opts.threads, **_rules(opts))


def _rules(opts: Options) -> dict:
    """The schedule and the early-stopping rule (built afresh: they hold functions that do not travel)."""
    return {"schedule": schedule_named(opts.schedule),
            "stop": [stop_lib.Patience(opts.patience, restore_best=True)]}


def _with_rules(opts: Options, arguments: dict) -> dict:
    return {**arguments, **_rules(opts)}


def run_fit(arguments: dict, opts: Options, nproc: int = 1) -> FitResult:
    """`descend.fit(**arguments)` in this process, or data-parallel in `nproc` local processes (which build the
    schedule and stopping rule themselves)."""
    if nproc == 1:
        return fit(**arguments)
    return parallel.fit_in_processes(nproc, {**arguments, "schedule": None, "stop": ()},
                                        functools.partial(_with_rules, opts))


def train(prepared: Prepared, opts: Options, say: Say = print, *, run_dir=None, resume: bool = False,
          callbacks: Sequence[Callback] = (), nproc: int = 1) -> FitResult:
    """Fit the prepared network on the training rows (lr_find first for lr "auto"); with `run_dir` the run is
    recorded there as it goes and `resume` continues it. The run's history and chosen lr go into its record."""
    run, split = prepared.run, prepared.split
    if nproc > 1:
        distributed.check_nproc(nproc, len(split.fit), opts.batch_size)
    lr = opts.lr or default_lr(opts)
    if lr == "auto" and nproc > 1:   # sweep once here, not in every process
        found = find_lr(prepared, opts)
        say(f"lr_find: {found.summary().splitlines()[-1]}")
        lr = found.suggestion
    arguments = fit_arguments(run, prepared.x, prepared.y, split.fit, split.val, opts, lr)
    arguments.update(run_dir=run_dir, resume=resume, callbacks=list(callbacks))
    result = run_fit(arguments, opts, nproc)
    run.model = result.model
    run.config["lr"] = result.lr
    if result.choice is not None:
        run.config["auto"] = result.choice.to_dict()
    run.history = [dict(r, phase="fit") for r in result.history]
    run.findings = result.findings
    best = result.best
    say(f"kept the weights from after epoch {best.get('epoch')} "
        f"(best validation loss {best.get('val_loss', float('nan')):.4g})")
    return result


def truth_values(target: Target, frame: pd.DataFrame) -> np.ndarray:
    """Targets in the units the scores use: values or class indices."""
    encoded = target.encode(frame[target.name]).numpy()
    return encoded * target.std + target.mean if target.task == "regression" else encoded


def _time_axis(prepared: Prepared, opts: Options) -> pd.Series | None:
    """What residuals are plotted against: the --time-column, else the first date column, else nothing."""
    names = [opts.time_column] if opts.time_column else [c.name for c in prepared.run.preprocessor.columns
                                                          if c.kind == "date"]
    return prepared.frame[names[0]] if names else None


def grade(prepared: Prepared, opts: Options) -> None:
    """Score the test rows once: the model, the linear baseline on the same features, and the constant guess;
    the scores go to run.metrics and each test row's prediction to run.test_predictions."""
    run, split, target = prepared.run, prepared.split, prepared.run.target
    truth, train_rows, test = truth_values(target, prepared.frame), split.train, split.test
    predicted = run.outputs(prepared.x[test])
    linear, linear_predicted = baselines.linear_predictions(target, prepared.dense[train_rows], truth[train_rows],
                                                            prepared.dense[test])
    constant = baselines.constant_predictions(target, truth[train_rows], len(test))
    rows = {f"{opts.model} ({target.loss} loss)": evaluate.scores(target, truth[test], predicted),
            linear: evaluate.scores(target, truth[test], linear_predicted),
            ("training majority class" if target.task == "classification" else "training mean"):
                evaluate.scores(target, truth[test], constant)}
    run.metrics = {"test_rows": int(len(test)), "scores": rows, "in_words": evaluate.in_words(rows)}
    run.test_predictions = _test_table(prepared, opts, truth[test], predicted)


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
    grade(prepared, opts)
    explain(prepared, opts)
    return prepared.run


def explain(prepared: Prepared, opts: Options) -> None:
    """Permutation importance of each input column on the validation rows, into run.metrics["importance"], and
    what fit warned about the data, into run.metrics["data_warnings"] (so the report shows them too)."""
    run, rows = prepared.run, prepared.split.val
    if prepared.warnings:
        run.metrics["data_warnings"] = list(prepared.warnings)
    run.metrics["importance"] = importance.permutation_importance(
        run, run.preprocessor, prepared.x[rows], truth_values(run.target, prepared.frame.iloc[rows]), opts.seed)
