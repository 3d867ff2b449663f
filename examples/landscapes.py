"""Loss landscapes in a minute: optimizers' paths over their objective, a network's path and its sharpness.

    python examples/landscapes.py [OUT]        # writes OUT/landscape.html (default: landscapes/) and the PNGs

Four pictures, each with the question it answers:
1. Rosenbrock's banana valley: plain gradient descent crawls down the valley, momentum overshoots across it
   (a red x marks a step where f rose), L-BFGS follows the curve to (1, 1) in a few dozen steps.
2. A saddle point, f = x^2 + y^4/4 - y^2/2, started a hair off the ridge: gradient descent slides into the saddle
   and sits there (its curve on the right goes flat at f = 0) until the tiny y component grows; Adam, which
   rescales small gradients, leaves at once.
3. A two-channel budget with diminishing returns (examples/budget_allocation.py in 2-D), spend x >= 0 with
   x[0] + x[1] <= 100: every iterate stays in the allowed triangle, and both methods end on its edge.
4. A small network trained by full-batch gradient descent: its path on the plane of the path's own principal
   directions, and its sharpness (the Hessian's top eigenvalue) rising to 2/lr, the edge of stability, and
   hovering there (Cohen et al. 2021), with the loss rising where it crosses.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

import descend as ds
from descend.minimize.constraints import Simplex

ls = ds.landscape


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def saddle(x):
    return x[0] ** 2 + x[1] ** 4 / 4 - x[1] ** 2 / 2


REACH, SATURATION = torch.tensor([120.0, 150.0], dtype=torch.float64), torch.tensor([0.08, 0.02], dtype=torch.float64)


def returns(x):
    return (REACH * torch.log1p(SATURATION * x)).sum()


@dataclass
class Scene:
    """One contour picture: an objective, where the runs start, each run's minimize options, what to say."""
    file: str
    title: str
    caption: str
    fun: Callable
    start: list[float]
    runs: dict[str, dict]
    box: tuple[list[float], list[float]]
    drawing: dict = field(default_factory=dict)


BUDGET = Simplex(100.0, at_most=True)
SCENES = [
    Scene("rosenbrock.png", "Rosenbrock's valley",
          "Three optimizers from (-1.2, 1). Gradient descent creeps along the valley floor; momentum builds speed "
          "and overshoots from wall to wall (red x: f rose on that step); L-BFGS follows the valley to the minimum "
          "at (1, 1). Colours are log10 of f above its lowest value on the grid.",
          rosenbrock, [-1.2, 1.0], {"gradient descent, lr 1e-3": dict(method="gd", lr=1e-3, max_steps=300),
                                    "momentum 0.9, lr 1e-3": dict(method="momentum", lr=1e-3, max_steps=300),
                                    "L-BFGS": dict(method="lbfgs")}, ([-2, -1], [2, 3])),
    Scene("saddle.png", "A saddle point",
          "f = x^2 + y^4/4 - y^2/2 has a saddle at (0, 0) and minima at (0, +-1). Started at (-1.5, 0.001), "
          "gradient descent runs into the saddle and stalls there (flat at f = 0 on the right) while y grows by 10% "
          "a step; momentum overshoots in x first; Adam rescales the tiny y gradient and heads for a minimum at once.",
          saddle, [-1.5, 1e-3], {"gradient descent, lr 0.1": dict(method="gd", lr=0.1, max_steps=60),
                                 "momentum 0.9, lr 0.02": dict(method="momentum", lr=0.02, max_steps=60),
                                 "adam, lr 0.1": dict(method="adam", lr=0.1, max_steps=60)},
          ([-1.8, -1.5], [1.8, 1.5])),
    Scene("budget.png", "A budget with its constraint",
          "Total return of splitting spend between two channels with diminishing returns, to be maximized with "
          "x >= 0 and x[0] + x[1] <= 100 (hatched: not allowed). Every iterate is projected back into the "
          "triangle; both end on the budget line at the same split, where the two channels' marginal returns are "
          "equal.",
          returns, [5.0, 5.0], {"projected L-BFGS": dict(constraint=BUDGET, maximize=True),
                                "projected gradient ascent, lr 2": dict(method="gd", lr=2.0, constraint=BUDGET,
                                                                        maximize=True, max_steps=40)},
          ([-5, -5], [110, 110]), dict(constraint=BUDGET, label="total return")),
]


def optimizer_pictures(folder: ls.LandscapeFolder) -> dict:
    """Pictures 1-3; returns where each run ended."""
    ended = {}
    for scene in SCENES:
        runs = [ls.trace(scene.fun, scene.start, label, **options) for label, options in scene.runs.items()]
        ls.draw_runs(scene.fun, runs, folder.picture(scene.file, scene.title, scene.caption), scene.title,
                     lower=scene.box[0], upper=scene.box[1], **scene.drawing)
        ended.update({f"{scene.title}: {run.label}": run.result.x.tolist() for run in runs})
    return ended


def network_pictures(folder: ls.LandscapeFolder) -> dict:
    """Picture 4: a small MLP trained by full-batch gradient descent, its path and its sharpness."""
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = torch.sin(x @ torch.tensor([1.0, -2.0, 0.5, 1.5])).unsqueeze(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
                                torch.nn.Linear(32, 1))
    path = ls.WeightPath(model, every=10)
    lr = 0.2
    ds.fit(model, (x, y), loss="mse", optimizer="sgd", lr=lr, batch_size=len(x), max_steps=400, callbacks=[path],
           progress=False, seed=0)
    objective = ls.model_objective(model, torch.nn.functional.mse_loss, x, y)
    plane, _ = ls.draw_path(objective, path, folder.picture(
        "path.png", "A network's path",
        "The training loss on the plane of the path's first two principal directions (through the final weights), "
        "with the weights every 10 steps of full-batch gradient descent, lr 0.2. A red x: the loss was higher "
        "than at the previous point, an overshoot."), steps=41, progress=True)
    sharpness = ls.draw_sharpness(objective, path, folder.picture(
        "sharpness.png", "Sharpness against the edge of stability",
        "The Hessian's top eigenvalue at each recorded point, against 2 / lr = 10. It rises until it passes the "
        "edge, the loss jumps (the red x in the path above), the weights move to a flatter region, and it "
        "hovers near the edge from then on."), progress=True)
    return {"network: share of the path's spread in its plane": f"{plane.explained[0]:.0%} + {plane.explained[1]:.0%}",
            "network: largest sharpness": max(sharpness.sharpness), "network: 2 / lr": 2 / lr,
            "network: recorded points above the edge": f"{len(sharpness.above_edge())} of {len(path.points)}"}


def main(out: str = "landscapes") -> None:
    started = time.perf_counter()
    folder = ls.LandscapeFolder(out)
    ended = optimizer_pictures(folder)
    numbers = network_pictures(folder)
    page = folder.finish(numbers, ["Each picture's caption says what to look for."], {"ended at": ended},
                         title="descend: optimizers and loss landscapes")
    print(f"wrote {page} and {len(folder.figures)} PNGs in {time.perf_counter() - started:.0f} s; open the page in "
          "a browser")


if __name__ == "__main__":
    main(*sys.argv[1:2])
