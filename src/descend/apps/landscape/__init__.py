"""Loss landscapes and sharpness: slices of the loss around given weights and the Hessian's spectrum there.

`directions` draws filter-normalized random directions (Li et al. 2018), `slices` evaluates the loss on 1-D and
2-D grids and on the line between two weight sets, `hessian` estimates the top eigenvalues (Lanczos on
Hessian-vector products) and the trace (Hutchinson), `plots` draws the slices as PNGs, `of_run` does all of it
for a saved tabular run.

May import: core, runs, fit (the run's loss by name), tabular (the saved run and its rows).
"""
from .directions import filter_normalized, random_directions
from .hessian import hessian_trace, top_eigenvalues
from .objective import model_objective, weights_of
from .plots import plot_slice_1d, plot_slice_2d
from .slices import Slice1D, Slice2D, interpolate, slice_1d, slice_2d

__all__ = [
    "Slice1D", "Slice2D", "filter_normalized", "hessian_trace", "interpolate", "model_objective", "weights_of",
    "plot_slice_1d", "plot_slice_2d", "random_directions", "slice_1d", "slice_2d", "top_eigenvalues",
]
