"""The sharpness note: lambda_max at the saved weights against the run's learning rate, in words.

`descend landscape` stores it in landscape.json and prints it; `descend doctor RUN_DIR` quotes it after the
findings. It is a note, not a finding: it reads one point of the landscape, not the run's curves.
"""
from __future__ import annotations

ADAPTIVE = ("adam", "lion", "lamb", "soap", "prodigy", "adagrad", "rmsprop", "adadelta", "schedule_free", "auto")


def sharpness_note(top_eigenvalue: float, optimizer: str | None, lr: float | None) -> str:
    """Whether gradient descent at the run's lr would be stable at these weights (lr < 2 / lambda_max), and how
    far the edge applies to the optimizer the run used."""
    if not top_eigenvalue > 0:
        return (f"sharpness: the largest Hessian eigenvalue at the saved weights is {top_eigenvalue:.4g}, so no "
                "step size is too large for the curvature here (no edge of stability)")
    edge = 2.0 / top_eigenvalue
    head = (f"sharpness: lambda_max {top_eigenvalue:.4g} at the saved weights puts gradient descent's edge of "
            f"stability at lr 2/lambda_max = {edge:.3g}")
    if not isinstance(lr, (int, float)):
        return head
    name = str(optimizer or "the optimizer")
    if lr > edge:
        verdict = (f"; the run's lr {lr:.3g} ({name}) is {lr / edge:.3g}x above it: plain gradient descent at that "
                   f"lr overshoots along the sharpest direction here, so the loss would oscillate or diverge; "
                   f"an lr below {edge:.3g} is stable")
    else:
        verdict = f"; the run's lr {lr:.3g} ({name}) is below it ({lr / edge:.2g} of the edge): stable here"
    if any(word in name.lower() for word in ADAPTIVE):
        verdict += (f" (a rough guide for {name}: adaptive methods rescale each weight's step, so their edge is "
                    "that of the preconditioned Hessian, not this one)")
    elif "sgd" in name.lower() or "momentum" in name.lower():
        verdict += " (with momentum b the edge rises to (2 + 2b) / lambda_max)"
    return head + verdict
