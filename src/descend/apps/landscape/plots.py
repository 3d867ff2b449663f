"""PNGs of the slices: a line for 1-D, filled contours for 2-D; written atomically (never half a file)."""
from __future__ import annotations

import io
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ...runs.files import write_atomic
from .optimizer_paths import Contours
from .sharpness import SharpnessHistory
from .slices import Slice1D, Slice2D


def plot_slice_1d(found: Slice1D, path: str | Path, xlabel: str = "step along the direction") -> Path:
    """Draw the loss along a 1-D slice (or an interpolation line) and write it as a PNG at `path`."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(found.alphas.numpy(), found.losses.numpy(), color="tab:blue")
    low, high = float(found.losses.min()), float(found.losses.max())
    if low > 0 and high / low > 100:     # an exponential wall (a Poisson loss) would flatten the basin
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title("Loss along a line through the weights")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_slice_2d(found: Slice2D, path: str | Path, levels: int = 30) -> Path:
    """Draw a 2-D slice as filled contours (log-spaced when the loss spans decades) with the weights marked."""
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot()
    _filled(fig, ax, found.betas, found.alphas, found.losses, levels)
    ax.plot([0], [0], marker="*", color="red", markersize=12, label="the weights")
    ax.set_xlabel("direction 2")
    ax.set_ylabel("direction 1")
    ax.set_title("Loss around the weights (filter-normalized directions)")
    ax.legend(loc="upper right")
    return _save(fig, path)


def plot_path(found: Slice2D, coordinates: torch.Tensor, path_losses: torch.Tensor, steps: list[int],
              path: str | Path, explained: tuple[float, float] = (float("nan"), float("nan")),
              levels: int = 30) -> Path:
    """The loss on the plane of the optimizer's path (`found`, over the path's principal directions) with the
    recorded points on it, start to end; a step after which the loss rose is drawn in red."""
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.add_subplot()
    _filled(fig, ax, found.alphas, found.betas, found.losses.T, levels)
    _draw_path(ax, coordinates, path_losses[1:] > path_losses[:-1], "white", "the optimizer's path")
    ax.annotate(f"step {steps[0]}", coordinates[0].tolist(), color="white", xytext=(6, 6), textcoords="offset points")
    ax.annotate(f"step {steps[-1]}", coordinates[-1].tolist(), color="white", xytext=(6, -12),
                textcoords="offset points")
    ax.set_xlabel(f"principal direction 1 ({explained[0]:.0%} of the path's spread)")
    ax.set_ylabel(f"principal direction 2 ({explained[1]:.0%})")
    ax.set_title("Loss on the plane of the optimizer's path")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def plot_runs(found: Contours, path: str | Path, title: str, values: dict[str, torch.Tensor],
              label: str = "f(x)", worse: dict[str, torch.Tensor] | None = None, levels: int = 30) -> Path:
    """Left, contours of an objective with each traced run's path, the infeasible region hatched when there is a
    constraint; right, the objective at each step of each run, where a plateau shows a stall. `values` is f along
    each path; `worse[name][i]` marks step i + 1 as one that went the wrong way (red x; default: f rose)."""
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    ax, curves = fig.subplots(1, 2, width_ratios=[1.35, 1])
    grid = found.grid
    _filled(fig, ax, grid.alphas, grid.betas, grid.losses.T, levels, label)
    if found.feasible is not None:
        ax.contourf(grid.alphas.numpy(), grid.betas.numpy(), (~found.feasible).T.double().numpy(), levels=[0.5, 1.5],
                    colors="none", hatches=["//"])
        ax.contour(grid.alphas.numpy(), grid.betas.numpy(), found.feasible.T.double().numpy(), levels=[0.5],
                   colors="black", linewidths=1.5)
        ax.plot([], [], color="black", label="constraint boundary (hatched: not allowed)")
    for (name, points), colour in zip(found.paths.items(), PATH_COLOURS):
        went_wrong = worse[name] if worse is not None else values[name][1:] > values[name][:-1]
        _draw_path(ax, points, went_wrong, colour, name)
        curves.plot(values[name].numpy(), color=CURVE_COLOURS[PATH_COLOURS.index(colour)], label=name)
    ax.set_xlim(float(grid.alphas[0]), float(grid.alphas[-1]))
    ax.set_ylim(float(grid.betas[0]), float(grid.betas[-1]))
    ax.set_xlabel(found.axes[0])
    ax.set_ylabel(found.axes[1])
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    every = torch.cat(list(values.values()))
    every = every[torch.isfinite(every)]
    if len(every) and float(every.min()) > 0 and float(every.max()) / float(every.min()) > 100:
        curves.set_yscale("log")
    curves.set_xlabel("step")
    curves.set_ylabel(label)
    curves.set_title(f"{label} per step (a long flat stretch: a stall)")
    curves.grid(alpha=0.3)
    curves.legend(loc="best", fontsize="small")
    return _save(fig, path)


def plot_sharpness(found: SharpnessHistory, path: str | Path) -> Path:
    """lambda_max at each recorded step beside 2/lr, gradient descent's edge of stability."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(found.steps, found.sharpness, marker="o", markersize=3, color="tab:blue", label="lambda_max (sharpness)")
    ax.plot(found.steps, found.edge, linestyle="--", color="tab:red", label="2 / lr (edge of stability)")
    above = found.above_edge()
    if above:
        marked = [v for s, v in zip(found.steps, found.sharpness) if s in set(above)]
        ax.plot(above, marked, linestyle="none", marker="x", color="tab:red", markersize=8,
                label="above the edge: too sharp for this lr")
    finite = [v for v in found.sharpness + found.edge if v > 0 and v != float("inf")]
    if finite and max(finite) / min(finite) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("Hessian eigenvalue")
    ax.set_title("Sharpness over the run")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


PATH_COLOURS = ("white", "tab:orange", "cyan", "magenta", "yellow", "tab:pink", "tab:brown")
CURVE_COLOURS = ("black", "tab:orange", "tab:cyan", "magenta", "goldenrod", "tab:pink", "tab:brown")  # on white


def _draw_path(ax, points: torch.Tensor, went_wrong: torch.Tensor, colour: str, label: str) -> None:
    """A path as a line through its points, a circle at the start, a star at the end, and a red x at each point
    whose step went the wrong way (`went_wrong[i]` for point i + 1: the loss rose, an overshoot)."""
    xy = points.numpy()
    ax.plot(xy[:, 0], xy[:, 1], color=colour, linewidth=1.2, marker=".", markersize=3, label=label)
    ax.plot(xy[0, 0], xy[0, 1], marker="o", color=colour, markersize=7, markeredgecolor="black")
    ax.plot(xy[-1, 0], xy[-1, 1], marker="*", color=colour, markersize=13, markeredgecolor="black")
    rose = went_wrong.numpy()
    if rose.any():
        ax.plot(xy[1:][rose, 0], xy[1:][rose, 1], linestyle="none", marker="x", color="red", markersize=6,
                markeredgewidth=1.5)


def _filled(fig: Figure, ax, xs: torch.Tensor, ys: torch.Tensor, values: torch.Tensor, levels: int,
            label: str = "loss") -> None:
    """Filled contours of `values[len(ys), len(xs)]`, on a log scale when they span decades."""
    shown, label = _scaled(values, label)
    filled = ax.contourf(xs.numpy(), ys.numpy(), shown.numpy(), levels=levels, cmap="viridis")
    ax.contour(xs.numpy(), ys.numpy(), shown.numpy(), levels=levels, colors="white", linewidths=0.3, alpha=0.6)
    fig.colorbar(filled, ax=ax, label=label)


def _scaled(values: torch.Tensor, label: str) -> tuple[torch.Tensor, str]:
    """Values as drawn: log10 when positive and spanning over 100x (floored at the lowest hundredth, so that one
    grid point at an exact minimum does not take the whole scale), log10 above the lowest when a deep narrow
    valley would otherwise take one colour (Rosenbrock), else as they are; non-finite values are clipped."""
    finite = values[torch.isfinite(values)]
    low, high = float(finite.min()), float(finite.max())
    values = values.clamp(low, high).nan_to_num(nan=high)
    floor = _lowest_share(values, 0.01)
    if low > 0 and high / floor > 100:
        return torch.log10(values.clamp_min(floor)), f"log10 {label}"
    above = values - low
    typical = _lowest_share(above, 0.1)
    if typical > 0 and high - low > 100 * typical:
        return torch.log10(above + 1e-3 * typical), f"log10({label} - lowest)"
    return values, label


def _lowest_share(values: torch.Tensor, share: float) -> float:
    """The largest of the lowest `share` of the values (their `share` quantile, by rank)."""
    return float(values.flatten().kthvalue(max(int(values.numel() * share), 1)).values)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
    return path
