"""`update_run`: keep training a saved model on new rows (warm start) and show what it changed.

The newest rows of the new data are held out; the model is scored on them before and after. The rest trains
the model from its saved weights, with the last of those rows as validation for early stopping. If the
validation loss ends worse than it started (a NaN loss included), or the update's training ended on non-finite
values (its last finite weights are a run cut short, whatever validation says of them), the previous weights are
kept: an update never makes the model worse on the rows that judge it. A model that is the linear model alone
(which an update leaves as fitted) trains nothing: its networks would change nothing it predicts.
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import torch

from ...core.errors import DescendError
from ...fit import FitResult, fit, losses
from . import evaluate
from .columns import known_columns
from .io import reading_notes
from .run import TabularRun
from .split import split_rows, time_order
from .train import Options, Say, every_row, fit_arguments, rows_with_target, truth_values

MIN_UPDATE_ROWS = 10


def _blew_up(result: FitResult) -> bool:
    """Whether the update's training ended on non-finite values (NonFinite stopped it)."""
    return result.stop_code == "non_finite"


def _why_previous(result: FitResult) -> str:
    """Why the previous weights stayed beyond the validation loss, and that the doctor's findings on the update's
    run (printed as it ended) are about the weights thrown away, not the ones kept."""
    why = f"; the update's training ended on non-finite values ({result.stop_reason})" if _blew_up(result) else ""
    if result.findings:
        why += (f"; the doctor's {len(result.findings)} finding(s) on the update's run are about its discarded "
                "weights, not the ones kept")
    return why


def _val_loss(run: TabularRun, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        run.model.eval()
        return float(losses.get(run.target.loss)(run.model(x), y))


def update_run(run: TabularRun, frame: pd.DataFrame, say: Say = print, max_epochs: int | None = None,
               lr: float | None = None, progress: bool | int = True) -> dict:
    """Continue training `run` on `frame`; returns {"rows", "before", "after", "kept_previous"} scores."""
    opts = Options.from_dict(run.config["options"], "the saved run's config.json")
    opts.max_epochs = opts.max_epochs if max_epochs is None else max_epochs
    opts.progress = progress
    opts.check()
    if opts.target not in frame.columns:   # first: rows meant for predict lack it, and the inputs matter less
        raise DescendError(f"the new data has no target column {opts.target!r}: update trains on rows whose target "
                           f"is known (for rows without it, `descend predict` predicts them); "
                           f"{known_columns(opts.target, frame.columns)}")
    run.preprocessor.check_columns(frame, "the new data")
    frame = rows_with_target(frame, opts.target, reading_notes(say))
    if len(frame) < MIN_UPDATE_ROWS:
        raise DescendError(f"the new data has {len(frame)} row(s) with a target; update needs at least "
                           f"{MIN_UPDATE_ROWS} (training, validation and newest rows to judge by)")
    split = split_rows(time_order(frame, opts.time_column, _date_order(run, opts)), "time",
                       opts.test_fraction or Options.test_fraction,
                       opts.val_fraction, opts.seed)
    x, unseen = run.encode(frame, "the new data")
    for line in run.filled_notes(frame, "the new data", use="trained on and scored"):
        say(line)
    for name, count in unseen.items():
        say(f"note: {count} new row(s) have a {name!r} level not seen in training; it counts as no level")
    y, truth = run.target.encode(frame[opts.target]), truth_values(run.target, frame)
    before = evaluate.scores(run.target, truth[split.test], run.outputs(x[split.test]))
    if run.model.linear_alone:   # its networks change nothing it predicts: training them would be thrown away
        say(f"update: the model is the linear model alone (validation chose it), which an update leaves as fitted, "
            f"so there is nothing to train; the newest {len(split.test)} of the {len(frame)} new rows are scored "
            "below (to learn from new rows, train again with descend fit on all of them)")
        return _record(run, frame, split, before, before, kept=True)
    previous = {k: v.clone() for k, v in run.model.state_dict().items()}
    val_before = _val_loss(run, x[split.val], y[split.val])
    rate = lr or run.config["lr"] * 0.3
    say(f"update: {len(split.fit)} training, {len(split.val)} validation rows, newest {len(split.test)} rows held out "
        f"to judge; the networks go on from their saved weights at lr {rate:g}, the linear model stays as fitted"
        + _key_kept(run))
    result = fit(**fit_arguments(run, every_row(x[split.fit], y[split.fit]), every_row(x[split.val], y[split.val]),
                                 opts, rate))
    val_after = _val_loss(run, x[split.val], y[split.val])
    kept = not val_after <= val_before or _blew_up(result)
    if kept:
        run.model.load_state_dict(previous)
        say(f"kept the previous weights: the loss on the {len(split.val)} validation rows went from "
            f"{val_before:.4g} to {val_after:.4g}" + _why_previous(result))
    else:   # said too: the newest rows below may still score worse, and the reader asks which weights stayed
        say(f"kept the update: the loss on the {len(split.val)} validation rows went from {val_before:.4g} to "
            f"{val_after:.4g}")
    after = evaluate.scores(run.target, truth[split.test], run.outputs(x[split.test]))
    record = _record(run, frame, split, before, after, kept)
    _append(run, result, f"update {len(run.metrics['updates'])}")
    return record


def _key_kept(run: TabularRun) -> str:
    """What an update does with the key statistic, in words: it keeps the fit's (new rows whose targets it read
    would see their own targets in it), so the update's rows read it as predicted rows do."""
    key = run.preprocessor.key
    if key is None:
        return ""
    return (f", and so does the statistic of the key {key.column!r} (its levels' means from the fit's "
            f"{sum(key.counts)} training rows; the new rows read it as predicted rows do)")


def _record(run: TabularRun, frame: pd.DataFrame, split, before: dict, after: dict, kept: bool) -> dict:
    """The update's entry in metrics.json: its rows, the newest rows' scores before and after, which weights
    stayed."""
    record = {"rows": int(len(frame)), "newest_rows": int(len(split.test)), "before": before, "after": after,
              "kept_previous": kept}
    run.metrics.setdefault("updates", []).append(record)
    return record


def judged(record: dict) -> list[str]:
    """The update against the model before it on the newest rows, in words; and, when the update was kept although
    those rows score it worse, why: it was kept on the validation rows' loss, and on so few rows the two
    judgements can disagree by chance."""
    (line,) = evaluate.in_words({"after": record["after"], "before": record["before"]})
    lines = [f"on the newest {record['newest_rows']} rows, after the update against before it: "
             f"{line.removeprefix('against before: ')}"]
    score = "rmse" if "rmse" in record["after"] else "log_loss"
    if not record["kept_previous"] and record["after"][score] > record["before"][score]:
        lines.append(f"note: the update was kept because it lowered the validation rows' loss; the newest "
                     f"{record['newest_rows']} rows, which it never saw, score it worse: on so few rows either can be "
                     "chance; judge it on more new rows before relying on it")
    return lines


def _date_order(run: TabularRun, opts: Options) -> bool | None:
    """Day or month first for the time column, as the fit settled it: a week of new rows (01/02 to 07/02) may not
    settle it again."""
    column = next((c for c in run.preprocessor.columns if c.name == opts.time_column), None)
    return opts.dayfirst if opts.dayfirst is not None or column is None else column.dayfirst


def _append(run: TabularRun, result: FitResult, phase: str) -> None:
    """Add an update's history and findings to the run's, its steps and epochs continuing from the last ones so
    the record reads as one timeline; each finding says which update it is about (its steps count from the
    update's start, as its message does)."""
    last = run.history[-1] if run.history else {}
    steps, epochs = (int(last[k]) if pd.notna(last.get(k)) else 0 for k in ("step", "epoch"))
    run.history += [dict(r, step=r["step"] + steps, epoch=r.get("epoch", 0) + epochs, phase=phase)
                    for r in result.history]
    run.findings = run.findings + [replace(f, message=f"{phase}: {f.message}") for f in result.findings]
