"""PNGs of the slices: a line for 1-D, filled contours for 2-D; written atomically (never half a file)."""
from __future__ import annotations

import io
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ...runs.files import write_atomic
from .slices import Slice1D, Slice2D


def plot_slice_1d(found: Slice1D, path: str | Path, xlabel: str = "step along the direction") -> Path:
    """Draw the loss along a 1-D slice (or an interpolation line) and write it as a PNG at `path`."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(found.alphas.numpy(), found.losses.numpy(), color="tab:blue")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title("Loss along a line through the weights")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_slice_2d(found: Slice2D, path: str | Path, levels: int = 30) -> Path:
    """Draw a 2-D slice as filled contours (log-spaced when the loss spans decades) with the weights marked."""
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot()
    losses = found.losses.numpy()
    low = float(losses.min())
    logged = low > 0 and float(losses.max()) / low > 100
    shown = torch.log10(found.losses).numpy() if logged else losses
    filled = ax.contourf(found.betas.numpy(), found.alphas.numpy(), shown, levels=levels, cmap="viridis")
    ax.contour(found.betas.numpy(), found.alphas.numpy(), shown, levels=levels, colors="white", linewidths=0.3)
    fig.colorbar(filled, ax=ax, label="log10 loss" if logged else "loss")
    ax.plot([0], [0], marker="*", color="red", markersize=12, label="the weights")
    ax.set_xlabel("direction 2")
    ax.set_ylabel("direction 1")
    ax.set_title("Loss around the weights (filter-normalized directions)")
    ax.legend(loc="upper right")
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())
    return path
