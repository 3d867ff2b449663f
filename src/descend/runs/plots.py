"""The report's pictures: matplotlib figures (Agg canvas, no pyplot state) returned as base64 PNG text.

Each function returns None when the run has nothing to draw for it, so the report simply leaves it out.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDE = 20.0  # a positive curve spanning more than this factor is drawn on a log axis
PHASE_COLOURS = [("tab:blue", "tab:orange"), ("tab:green", "tab:red"), ("tab:purple", "tab:brown"),
                 ("tab:cyan", "tab:olive")]   # (training, validation) for fit, update 1, update 2, ...


def _figure(title: str, xlabel: str = "step", ylabel: str = "") -> tuple[Figure, object]:
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def series(history: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and finite values of one history column (validation columns exist only at evaluations)."""
    if column not in history or "step" not in history:
        return np.array([]), np.array([])
    values = pd.to_numeric(history[column], errors="coerce").to_numpy(dtype=float)
    steps = history["step"].to_numpy(dtype=float)
    keep = np.isfinite(values)
    return steps[keep], values[keep]


def smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction, so the first points are not pulled toward zero."""
    out, average = np.empty_like(values), 0.0
    for i, value in enumerate(values):
        average = weight * average + (1 - weight) * value
        out[i] = average / (1 - weight ** (i + 1))
    return out


def _log_if_wide(ax, *arrays: np.ndarray) -> None:
    values = np.concatenate([a for a in arrays if len(a)]) if any(len(a) for a in arrays) else np.array([])
    if len(values) and values.min() > 0 and values.max() / values.min() > WIDE:
        ax.set_yscale("log")


def phases(history: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The history cut into the parts it was trained in (fit, update 1, ...), in order, each drawn on its own so
    no line joins the end of one to the start of the next; a history without a phase column is one part."""
    if "phase" not in history:
        return [("", history)]
    labels = history["phase"].fillna("fit")   # fit's recorder writes no phase; updates append theirs
    return [(name, history[labels == name]) for name in dict.fromkeys(labels)]


MARK_ROWS = 3   # the names of consecutive parts' starts step down this many lines, then begin again at the top


def _mark_start(ax, name: str, steps: np.ndarray, row: int = 0) -> None:
    """A dotted line where a later part (a refit, an update) begins, named on a white ground so that a curve
    running under the name (a learning rate at its peak) does not blot it out; the `row`th part's name one line
    lower than the one before, so parts that start a few steps apart (a short refit, then an update) keep both
    names readable."""
    if len(steps):
        ax.axvline(steps[0], color="gray", linestyle=":", linewidth=1)
        ax.annotate(name, (steps[0], 1), xycoords=("data", "axes fraction"), xytext=(3, -12 - 11 * (row % MARK_ROWS)),
                    textcoords="offset points", fontsize=8, color="gray", zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})


def restarts(history: pd.DataFrame) -> list[tuple[int, int]]:
    """(step, restart point) for each step at which optimizer="auto" found its pick had collapsed the model and
    went back to the restart point's weights at a lower lr (the record's `restarted_from`)."""
    if "restarted_from" not in history:
        return []
    marked = history.dropna(subset=["restarted_from"])
    return [(int(step), int(at)) for step, at in zip(marked["step"], marked["restarted_from"])]


def swept(history: pd.DataFrame) -> pd.Series:
    """Which records are optimizer="auto"'s lr sweep (marked `sweep`): steps at lrs rising 10x every 5, whose
    weights after the pick were undone, so they are no part of the training curve."""
    if "sweep" not in history:
        return pd.Series(False, index=history.index)
    return history["sweep"].fillna(False).astype(bool)


def _draw_sweep(ax, sweep: pd.DataFrame) -> list[np.ndarray]:
    """The sweep's losses in grey, apart from the training curve (its last steps, past the pick, can be 1000x the
    loss; smoothed into training they drew a long false descent)."""
    steps, loss = series(sweep, "loss")
    val_steps, val = series(sweep, "val_loss")
    ax.plot(steps, loss, color="gray", alpha=0.6, linewidth=0.8, label="lr sweep (auto; steps past its pick undone)")
    if len(val):
        ax.plot(val_steps, val, color="gray", marker="o", markersize=3, linestyle="none")
    return [loss, val]


def loss_curves(history: pd.DataFrame, best_step: float | None = None) -> str | None:
    """The figure of `loss_figure` as a PNG, or None when the history has no loss."""
    fig = loss_figure(history, best_step)
    return None if fig is None else _png(fig)


def loss_figure(history: pd.DataFrame, best_step: float | None = None) -> Figure | None:
    """Training loss (raw and smoothed) and validation loss against the step, each part of the history (fit,
    updates) in its own colours, auto's lr sweep in grey beside them; log scale when they span widely. A later
    part too short to smooth (a refit of a few steps) has its raw curve in the legend, so that each part has one."""
    parts = phases(history)
    if not any(len(series(part, "loss")[1]) for _, part in parts):
        return None
    fig, ax = _figure("loss", ylabel="loss")
    drawn = []
    sweep = swept(history)
    if sweep.any():
        drawn += _draw_sweep(ax, history[sweep])
        parts = [(name, part[~swept(part)]) for name, part in parts]
    for number, (name, part) in enumerate(parts):
        train, validation = PHASE_COLOURS[number % len(PHASE_COLOURS)]
        which = f", {name}" if number else ""
        steps, loss = series(part, "loss")
        val_steps, val = series(part, "val_loss")
        smoothed = len(loss) > SMOOTHED_FROM
        ax.plot(steps, loss, color=train, alpha=0.25, linewidth=0.8,
                label=None if number and smoothed else f"train (per step{which})")
        if smoothed:
            ax.plot(steps, smooth(loss), color=train, linewidth=1.6, label=f"train (smoothed{which})")
        if len(val):
            ax.plot(val_steps, val, color=validation, marker="o", markersize=3, linewidth=1.6,
                    label=f"validation{which}")
        if number:
            _mark_start(ax, name, steps, number - 1)
        drawn += [loss, val]
    for step, restart in restarts(history):
        _mark_start(ax, f"restarted from step {restart}", np.array([step]))
    if best_step is not None:
        ax.axvline(best_step, color="gray", linestyle="--", linewidth=1, label=f"best (step {best_step:g})")
    _log_if_wide(ax, *drawn)
    ax.legend(fontsize=8, **({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if len(parts) > 1 else {}))
    return fig


def single_curve(history: pd.DataFrame, column: str, title: str) -> str | None:
    """One history column against the step (learning rate, gradient norm, a validation metric), one line per
    part of the history."""
    parts = [(name, *series(part, column)) for name, part in phases(history)]
    if not any(len(values) for _, _, values in parts):
        return None
    fig, ax = _figure(title, ylabel=column)
    for number, (name, steps, values) in enumerate(parts):
        ax.plot(steps, values, color=PHASE_COLOURS[number % len(PHASE_COLOURS)][0], linewidth=1.4,
                marker="o" if len(values) < 30 else None, markersize=3)
        if number:
            _mark_start(ax, name, steps, number - 1)
    _log_if_wide(ax, *(values for _, _, values in parts))
    return _png(fig)


def predicted_vs_actual(table: pd.DataFrame) -> str:
    """Each test row as a point; the diagonal is a perfect prediction."""
    actual, predicted = table["actual"].to_numpy(float), table["predicted"].to_numpy(float)
    fig, ax = _figure(f"predicted vs actual ({len(table)} test rows)", xlabel="actual", ylabel="predicted")
    ax.scatter(actual, predicted, s=8, alpha=0.5, color="tab:blue")
    low, high = np.nanmin([actual.min(), predicted.min()]), np.nanmax([actual.max(), predicted.max()])
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="perfect")
    ax.legend()
    return _png(fig)


def calibration(table: pd.DataFrame, bins: int = 10) -> str:
    """Predicted probability of the predicted class (p_<class> columns) against the share of rows where that
    class was the actual one, in equal-width probability bins; marker area follows the rows in each bin."""
    probabilities = table[[c for c in table.columns if str(c).startswith("p_")]].to_numpy(float)
    confidence = probabilities.max(axis=1)
    right = (table["actual"].astype(str) == table["predicted"].astype(str)).to_numpy(float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    filled = [b for b in range(bins) if (which == b).any()]
    said = [confidence[which == b].mean() for b in filled]
    share = [right[which == b].mean() for b in filled]
    counts = np.array([(which == b).sum() for b in filled])
    fig, ax = _figure(f"calibration ({len(table)} test rows)", xlabel="probability of the predicted class",
                      ylabel="share predicted right")
    ax.plot([0, 1], [0, 1], color="black", linewidth=1, label="perfect")
    ax.scatter(said, share, s=20 + 200 * counts / counts.max(), color="tab:blue", alpha=0.7, label="test rows")
    ax.set_xlim(-0.02, 1.04)   # room for the markers of bins at 0 and 1, which are drawn whole
    ax.set_ylim(-0.05, 1.05)
    ax.legend()
    return _png(fig)


def residuals_over_time(table: pd.DataFrame) -> str:
    """Residual (predicted - actual) per test row in time order, with a rolling mean to show drift; a table with no
    time column is drawn by its rows' places in the file, and says so."""
    residual = table["predicted"].to_numpy(float) - table["actual"].to_numpy(float)
    title = "residuals over time"
    if "time" in table:
        x, label = pd.to_datetime(table["time"], errors="coerce"), "time"
        if x.isna().any():
            x = table["time"]
    elif "row" in table:
        x, label, title = table["row"].to_numpy(), "row of the data file", "residuals by row of the file (no dates)"
    else:
        x, label = np.arange(len(table)), "test row (in order)"
    fig, ax = _figure(title, xlabel=label, ylabel="predicted - actual")
    ax.scatter(x, residual, s=6, alpha=0.4, color="tab:purple")
    window = min(len(residual), max(len(residual) // 20, 7))
    ax.plot(x, pd.Series(residual).rolling(window, min_periods=1).mean(), color="black", linewidth=1.4,
            label=f"rolling mean ({window} rows)")
    ax.axhline(0.0, color="gray", linewidth=1)
    ax.legend()
    fig.autofmt_xdate()
    return _png(fig)


def bars(values: dict[str, float], measure: str) -> str | None:
    """Horizontal bars, largest on top (permutation importance per column)."""
    if not values:
        return None
    names, sizes = list(values)[::-1], list(values.values())[::-1]
    fig = Figure(figsize=(7.5, 0.6 + 0.3 * len(names)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.barh(names, sizes, color=["tab:blue" if s > 0 else "tab:gray" for s in sizes])
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(measure.split(" (")[0])
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


SMOOTHED_FROM = 20   # values a curve needs before it is smoothed: a shorter one is drawn as measured


def overlay(histories: dict[str, pd.DataFrame], column: str, title: str, smoothed: bool = False) -> str | None:
    """One column of several runs on one axis, one colour per run."""
    fig = overlay_figure(histories, column, title, smoothed)
    return None if fig is None else _png(fig)


def overlay_figure(histories: dict[str, pd.DataFrame], column: str, title: str,
                   smoothed: bool = False) -> Figure | None:
    """The figure of `overlay`; the axis is logarithmic when the curves drawn (smoothed or not) span widely. Curves
    of over 20 values are smoothed when asked, and the title says so only when one was."""
    fig, ax = _figure(title, ylabel=column)
    drawn, smoothing = [], False
    for name, history in histories.items():
        steps, values = series(history, column)
        if len(values):
            smooth_it = smoothed and len(values) > SMOOTHED_FROM
            curve, smoothing = (smooth(values) if smooth_it else values), smoothing or smooth_it
            ax.plot(steps, curve, linewidth=1.5, label=name, marker="o" if len(values) < 30 else None, markersize=3)
            drawn.append(curve)
    if not drawn:
        return None
    if smoothing:
        ax.set_title(f"{title} (smoothed)")
    _log_if_wide(ax, *drawn)
    ax.legend()
    return fig
