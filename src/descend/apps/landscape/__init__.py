"""Loss landscapes, optimizer paths and sharpness, as pictures (`descend.landscape`).

`directions` draws filter-normalized random directions (Li et al. 2018), `slices` evaluates the loss on 1-D and
2-D grids and on the line between two weight sets, `path` records a run's weights (`WeightPath`, a fit callback)
and finds the plane of their first two principal directions, `hessian` estimates the top eigenvalues (Lanczos on
Hessian-vector products) and the trace (Hutchinson), `sharpness` follows lambda_max over a run beside 2/lr,
`optimizer_paths` traces minimize runs over their objective's contours, `plots` and `pictures` draw all of it as
PNGs, `folder` writes them with landscape.json and a self-contained landscape.html, and `of_run` does it for a
saved tabular run (`descend landscape RUN_DIR DATA`).

May import: core, runs, fit (the run's loss by name, the thread policy, the progress bar), minimize (the traced
runs), tabular (the saved run and its rows).
"""
from .directions import filter_normalized, random_directions
from .folder import LandscapeFolder
from .hessian import hessian_trace, top_eigenvalues
from .objective import model_objective, weights_of
from .optimizer_paths import Contours, TracedRun, contours, trace
from .path import PathPlane, WeightPath, path_plane, pca_plane
from .pictures import draw_path, draw_runs, draw_sharpness
from .plots import plot_path, plot_runs, plot_sharpness, plot_slice_1d, plot_slice_2d
from .sharpness import SharpnessHistory, sharpness_history
from .slices import Slice1D, Slice2D, interpolate, on_plane, slice_1d, slice_2d

__all__ = [
    "Contours", "LandscapeFolder", "PathPlane", "SharpnessHistory", "Slice1D", "Slice2D", "TracedRun",
    "WeightPath", "contours", "draw_path", "draw_runs", "draw_sharpness", "filter_normalized", "hessian_trace",
    "interpolate", "model_objective", "on_plane", "path_plane", "pca_plane", "plot_path", "plot_runs",
    "plot_sharpness", "plot_slice_1d", "plot_slice_2d", "random_directions", "sharpness_history", "slice_1d",
    "slice_2d", "top_eigenvalues", "trace", "weights_of",
]
