"""optimizer="auto" and lr="auto": choose the algorithm, learning rate and schedule from what the run shows.

`decide` (decide.py) observes the objective before the first step (observe.py) and picks L-BFGS with a line
search for deterministic full-batch objectives (run until converged, converge.py), else a first-order optimizer whose lr comes from a sweep that
trains (sweep.py); with validation data that run ends with its best evaluated weights when they beat the last ones
beyond the validation rows' noise (best.py). What was chosen and why is a `Choice` (choice.py): FitResult.choice, config.json's "auto".
"""
from .choice import Choice
from .decide import FIRST_ORDER, Auto, Limits, decide

__all__ = ["Choice", "Auto", "Limits", "decide", "FIRST_ORDER"]
