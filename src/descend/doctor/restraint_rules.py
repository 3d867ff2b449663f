"""Rules about what holds a model back by the user's own setting rather than by its size or its steps: parameters
frozen (requires_grad=False) and weight decay strong enough to pull the weights towards zero faster than the
loss can move them. Both fire only when the run shows a cost: the model falls clearly short of a reference fitted
on the same rows (see advice.worse_than_reference), so frozen layers of a trained body or a decay that does its
job are left alone."""
from __future__ import annotations

import math

from .advice import base_lr, setting, with_flags, worse_than_reference
from .findings import Finding
from .instruments import Readings

DECAY_PER_STEP = 1e-2   # lr x weight_decay: the share of each weight that decay alone takes away in one step


def frozen_parameters(r: Readings) -> Finding | None:
    """Some of the model's parameters have requires_grad=False and the model falls short of a reference; where no
    reference can be fitted (token ids, other losses), when the frozen weights are still at PyTorch's random
    initialization (never trained, so frozen by mistake)."""
    frozen, total = r.frozen
    short = worse_than_reference(r) if frozen else False
    if not frozen or short is False or (short is None and not r.frozen_untrained):
        return None
    why = ("the model does clearly worse than a reference fitted on a sample of the same rows" if short else
           "the frozen weights are still at PyTorch's random initialization: nothing trained them")
    return Finding("frozen_parameters", "warning", None, {"frozen": frozen, "parameters": total,
                                                          "untrained": r.frozen_untrained},
                   f"frozen parameters: {frozen} of the model's {total} parameters have requires_grad=False, and "
                   f"{why}",
                   "unfreeze them (requires_grad_(True)) unless they hold trained weights you mean to keep",
                   {"unfreeze": True})


def weight_decay_too_strong(r: Readings) -> Finding | None:
    """The weight decay the user set takes over DECAY_PER_STEP of every weight each step (lr x weight_decay, for
    decoupled and L2 decay alike), and the model falls short of a reference."""
    decay, lr = setting(r, "weight_decay"), base_lr(r)
    if not decay or not math.isfinite(lr) or lr * decay < DECAY_PER_STEP or not worse_than_reference(r):
        return None
    lower = min(decay / 100, 1e-2)
    change = {"weight_decay": lower}
    return Finding("weight_decay_too_strong", "warning", None, {"weight_decay": decay, "lr": lr,
                                                                "shrink_per_step": lr * decay},
                   f"weight decay too strong: weight_decay={decay:g} at lr {lr:.2g} takes {lr * decay:.1%} of every "
                   f"weight each step, and the model does clearly worse than a reference fitted on a sample of the "
                   f"same rows", with_flags(f"lower weight_decay to {lower:g}", change), change)


RESTRAINT_RULES = [frozen_parameters, weight_decay_too_strong]
