"""What a benchmark run leaves behind: a markdown table, results.json, a performance-profile plot and one
metric-curve plot per workload, written as a complete set or not at all."""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ...core.errors import DescendError
from ...runs.files import replace_folder
from . import grid
from .profiles import Geomean, geomean_ratio, profile, ratios, taus
from .protocol import REFERENCE, Trial
from .suite import BenchResult, auto_text, describe, lr_text

OUTPUTS = ("README.md", "results.json", "profile.png")   # plus one curves_<workload>.png per workload


def table(result: BenchResult) -> str:
    """Workloads as rows, entrants as columns: median steps / seconds to the target (best lr), or the miss."""
    labels = [e.label for e in result.entrants]
    lines = ["| workload | target | steps (eval every) | " + " | ".join(labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    for w in result.workloads:
        target = f"{w.metric_name} {'<=' if w.mode == 'min' else '>='} {w.target:g}"
        cells = [cell_text(result, label, w.name) for label in labels]
        lines.append(f"| {w.name} | {target} | {w.budget(result.quick)} ({w.eval_every}) | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines + summary_rows(result, labels))


def cell_text(result: BenchResult, label: str, workload: str) -> str:
    """describe(cell), marked when a tuned entrant's best lr sits at the end of the grid."""
    entrant = next(e for e in result.entrants if e.label == label)
    cell = result.cells[label, workload]
    edge = entrant.track == "tuned" and grid.at_grid_end(entrant.lrs, cell.lr)
    return describe(cell) + (" (grid end)" if edge else "")


def geomean_text(g: Geomean) -> str:
    """A Geomean in a table cell: "1.23x on 8", "inf: missed 2 of 8 (0.80x on the 6 both reached)" or n/a."""
    if g.count == 0:
        return f"n/a: {REFERENCE} reached no target"
    if g.missed == 0:
        return f"{g.ratio:.2f}x on {g.count}"
    both = f" ({g.shared:.2f}x on the {g.count - g.missed} both reached)" if g.count > g.missed else ""
    return f"inf: missed {g.missed} of {g.count}{both}"


def summary_rows(result: BenchResult, labels: list[str]) -> list[str]:
    """Targets reached, and the geometric mean of time-to-target divided by the reference's, in seconds and steps."""
    steps = result.times("steps")
    reached = [sum(math.isfinite(t) for t in steps[label].values()) for label in labels]
    rows = ["| targets reached | | | " + " | ".join(f"{r}/{len(result.workloads)}" for r in reached) + " |"]
    for unit in ("seconds", "steps"):
        times = result.times(unit)
        parts = [geomean_text(geomean_ratio(times[label], times[REFERENCE])) for label in labels]
        rows.append(f"| {unit} / {REFERENCE}, geomean (< 1 is faster) | | | " + " | ".join(parts) + " |")
    return rows


def machine() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), the CPU count and torch's version, for the report."""
    import torch
    model = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return (f"{model}, {os.cpu_count()} CPUs, {platform.system()}; torch {torch.__version__} on 1 thread; "
            f"load average {load} (1 / 5 / 15 min) when the run ended")


def protocol_notes(result: BenchResult) -> list[str]:
    """The rules behind the numbers, in words, with this run's grid."""
    lrs = grid.QUICK_GRID if result.quick else grid.TUNED_GRID
    return [
        "Protocol: every entrant gets the same step budget per workload (the steps column) and trains with "
        "descend.fit, the doctor off. A step is one gradient evaluation (of a mini-batch, or of the whole "
        "objective): one per update for first-order methods; L-BFGS is built with max_iter=1, and each evaluation "
        "of a line search counts as a step. Tuned entrants search the same learning-rate grid "
        f"{{{', '.join(lr_text(lr) for lr in lrs)}}} (SGD with Nesterov momentum 0.9): the search starts at "
        f"{lr_text(grid.START[0])} .. {lr_text(grid.START[1])} and extends past whichever edge holds the best "
        "trial; each seed keeps the trial that reached the target in the fewest steps, and \"(grid end)\" marks a "
        "best at the end of the grid. Default entrants run each optimizer's defaults. \"descend auto\" is fit with "
        "its own defaults (optimizer=\"auto\"): the cell says what it chose; its lr sweep is part of the run, so "
        "its steps count in the steps to target and come out of the budget (\"k of sweep\": the median sweep).",
        "",
        "Cells: median over seeds of steps / seconds to the target. Seconds count training and set-up (auto's "
        "observations, optimizer creation); evaluation is off the clock. The metric is evaluated on the current weights every "
        "`eval every` steps (and after the first), so steps to target are rounded up to a multiple of it. A miss "
        "is infinite: the cell shows the median best value reached. Steps are exact and repeatable; seconds move "
        "with the machine's load.",
        "",
        f"Geomean rows: time-to-target divided by {REFERENCE}'s, geometric mean over the workloads {REFERENCE} "
        "reached; an entrant that missed any of them scores inf, with its ratio on the workloads both reached in "
        f"brackets. {REFERENCE} always runs: it is the reference.",
    ]


def markdown(result: BenchResult, command: str) -> str:
    """The whole README.md: when, where and how the run was made, the rules, and the table."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = ["# descend bench", "", f"- date: {when}", f"- machine: {machine()}", f"- command: `{command}`",
            f"- seeds: {result.seeds}; quick: {result.quick}; wall time {result.elapsed:.0f} s", "",
            *protocol_notes(result), ""]
    return "\n".join(head) + "\n" + table(result) + "\n"


def as_json(result: BenchResult, command: str) -> dict:
    """Every trial with its settings and outcome; JSON has no infinity, so a miss is null."""
    finite = lambda v: v if isinstance(v, str) or math.isfinite(v) else None  # noqa: E731
    return {
        "command": command, "machine": machine(), "seeds": result.seeds, "quick": result.quick,
        "elapsed": result.elapsed,
        "workloads": [{"name": w.name, "metric": w.metric_name, "target": w.target, "mode": w.mode,
                       "steps": w.budget(result.quick), "batch_size": w.batch_size, "eval_every": w.eval_every}
                      for w in result.workloads],
        "entrants": [{"label": e.label, "optimizer": e.optimizer, "lrs": list(e.lrs), "hyper": e.hyper,
                      "track": e.track} for e in result.entrants],
        "trials": [{"entrant": label, "workload": name, "lr": finite(t.lr), "lr_used": finite(t.lr_used),
                    "seed": t.seed, "sweep_steps": t.sweep_steps, "chose": t.chose, "steps_to_target": finite(t.steps_to_target),
                    "seconds_to_target": finite(t.seconds_to_target), "best": finite(t.best),
                    "best_of_seed": any(t is b for b in cell.best), "stop_reason": t.stop_reason}
                   for (label, name), cell in result.cells.items() for t in cell.trials],
    }


def plot_profile(result: BenchResult, path: Path) -> None:
    """Save `profile_figure` of `result` as a PNG at `path`."""
    import matplotlib.pyplot as plt
    fig = profile_figure(result)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile_figure(result: BenchResult):
    """The performance profile of seconds to target, tuned entrants solid and untuned dashed; the legend right of
    the axes, where it hides no curve (inside, every corner holds some entrant's steps)."""
    import matplotlib.pyplot as plt
    rows = ratios(result.times("seconds"))
    grid = taus(rows)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for entrant in result.entrants:
        style = "-" if entrant.track == "tuned" else "--"
        ax.step(grid, profile(rows[entrant.label], grid), style, where="post", label=entrant.label)
    ax.set_xscale("log")
    doublings = [2.0 ** k for k in range(int(math.log2(grid[-1])) + 1)]   # 1, 2, 4, ...: read as plain ratios
    ax.set_xticks(doublings, [f"{t:g}" for t in doublings])
    ax.minorticks_off()
    ax.set(xlabel="tau (time-to-target / fastest entrant's)", ylabel="share of workloads within tau",
           title="Performance profile (seconds to target)", xlim=(1, grid[-1]), ylim=(-0.02, 1.02))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def trial_lr(trial: Trial) -> str:
    """A trial's learning rate for a legend, with what auto chose for "auto"."""
    return auto_text(trial.chose, trial.lr_used) if trial.lr == "auto" else f"lr {lr_text(trial.lr)}"


def plot_curves(result: BenchResult, folder: Path) -> None:
    """One plot per workload: the metric over steps for each entrant's best trial per seed, and the target."""
    import matplotlib.pyplot as plt
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for w in result.workloads:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, entrant in enumerate(result.entrants):
            style = "-" if entrant.track == "tuned" else "--"
            for j, trial in enumerate(result.cells[entrant.label, w.name].best):
                steps = [s for s, _, _ in trial.curve]
                values = [v for _, _, v in trial.curve]
                ax.plot(steps, values, style, color=colors[i % len(colors)], alpha=0.8, lw=1.2,
                        label=f"{entrant.label} ({trial_lr(trial)})" if j == 0 else None)
        ax.axhline(w.target, color="black", ls=":", lw=1, label=f"target {w.target:g}")
        values = [v for e in result.entrants for t in result.cells[e.label, w.name].best for _, _, v in t.curve]
        if w.mode == "min" and all(v > 0 for v in values if math.isfinite(v)):
            ax.set_yscale("log")
        ax.set(xlabel="step", ylabel=w.metric_name, title=f"{w.name}: best trial per seed")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / f"curves_{w.name}.png", dpi=110)
        plt.close(fig)


def is_output(name: str) -> bool:
    """Whether a file name is one that `write` produces."""
    return name in OUTPUTS or name.startswith("curves_") and name.endswith(".png")


def check_out(out: Path) -> None:
    """Refuse, before any work, an --out that cannot take the results: an existing file, a folder holding files
    descend bench did not write (a rerun replaces the whole folder; a folder of bench's names without its
    results.json, such as a project holding only its README.md, is not one of its outputs), or a place where
    nothing can be created."""
    if out.exists() and not out.is_dir():
        raise DescendError(f"--out {out} is a file; give a folder (a new one, or one an earlier descend bench wrote)")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    foreign = [name for name in held if not is_output(name)]
    if held and not foreign and "results.json" not in held:   # a project's own README.md, say
        foreign = held
    if foreign:
        raise DescendError(f"--out {out} holds files descend bench did not write ({', '.join(foreign[:3])}); a run "
                           "replaces the whole folder, so give a new folder or an earlier bench output")
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(dir=out.absolute().parent).cleanup()
    except OSError as err:
        raise DescendError(f"--out {out}: cannot create files there ({err.strerror or err}); choose a writable "
                           "folder") from err


def write(result: BenchResult, out: Path, command: str) -> Path:
    """Write README.md (the table), results.json and the plots into `out`; return the table's path.

    Everything is written into a fresh folder beside `out` first, then swapped in for it, so `out` holds one
    complete run: never a partial set, never a previous run's leftover curves."""
    import matplotlib
    matplotlib.use("Agg")
    check_out(Path(out))
    target = Path(out).absolute()
    staging = target.with_name(f".{target.name}.writing-{os.getpid()}-{time.time_ns()}")
    staging.mkdir()   # not mkdtemp: the folder keeps the user's usual permissions
    try:
        (staging / "results.json").write_text(json.dumps(as_json(result, command), indent=1))
        plot_profile(result, staging / "profile.png")
        plot_curves(result, staging)
        (staging / "README.md").write_text(markdown(result, command))
        replace_folder(staging, target)
    except OSError as err:
        raise DescendError(f"--out {out}: writing the results failed ({err}); nothing was changed there") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Path(out) / "README.md"
