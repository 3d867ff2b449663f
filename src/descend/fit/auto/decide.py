"""The decision of `optimizer="auto"` and `lr="auto"`: which algorithm trains, and how its lr is found.

Rules, from what each algorithm needs rather than from any benchmark's numbers:
- An objective that every step sees whole and that computes the same loss twice is deterministic, so a
  quasi-Newton method with a line search applies: L-BFGS (history 10) with strong-Wolfe steps needs no learning
  rate and converges superlinearly on smooth problems, where first-order methods crawl along curved valleys.
  It runs until it has converged (converge.py), as scipy's L-BFGS-B does, unless the caller gave a limit.
  It is chosen when its history (20 vectors of the model's size) fits in LBFGS_MEMORY, in one process, with no
  weight decay or lr schedule asked for (L-BFGS has neither).
- Everything else (mini-batches, dropout, several processes) is stochastic: AdamW, whose per-parameter scaling
  copes with parameters of different sizes and shapes, with its lr found by a sweep that trains (sweep.py).
- A learning rate given with optimizer="auto" is the caller's: AdamW trains with it.
- A target in its own units (dollars, metres) under MSE or MAE trains as if it were standardized, folded exactly
  into the model's final nn.Linear (units.py): the user's usual fix, done inside, for AdamW and L-BFGS alike.
- With validation data (and no Patience of the caller's), the first-order run ends with the weights of its best
  evaluation when its last one scored worse (best.py): fit evaluates them anyway, and a run that overfits within
  its budget is otherwise handed back past its best.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ... import optim
from .best import MONITOR, KeepBest, keeps_best
from .choice import Choice
from .collapse import probe_inputs
from .converge import until_converged
from .observe import observe
from .sweep import Sweep
from .units import StandardizedLBFGS, Units, fold, fold_layer, target_units

FIRST_ORDER = "adamw"          # the registry's AdamW: whatever kernel the registry makes fastest
LBFGS_HISTORY = 10             # Nocedal & Wright's usual 3..20 pairs
LBFGS_MEMORY = 1 << 30         # bytes the history may take
LINE_SEARCH_EVALUATIONS = 25   # torch's strong-Wolfe limit per step


@dataclass
class Auto:
    """What fit trains with: the optimizer, and either a choice made now or a sweep that makes it in the loop."""

    optimizer: torch.optim.Optimizer
    choice: Choice | None = None
    sweep: Sweep | None = None
    rules: list | None = None          # the run's stopping rules when the choice sets them, else the spec's
    total_steps: int | None = None     # the run's length those rules set (None: unknown, as until converged)

    def final(self) -> Choice | None:
        """The choice, once made (a sweep's at its end)."""
        return self.sweep.choice if self.sweep is not None else self.choice


def lbfgs_fits(observed: dict) -> bool:
    """Whether L-BFGS's history of LBFGS_HISTORY pairs of model-sized vectors fits in LBFGS_MEMORY."""
    return 2 * LBFGS_HISTORY * observed["parameters"] * observed["bytes_per_parameter"] <= LBFGS_MEMORY


def why_not_lbfgs(observed: dict, *, weight_decay, schedule, processes: int) -> str | None:
    """The first reason the objective is not one for L-BFGS, in words; None when it is."""
    if not observed["full_batch"]:
        per_epoch = observed["batches_per_epoch"]
        return f"mini-batches ({per_epoch} per pass over the data)" if per_epoch else "streamed mini-batches"
    if not observed["deterministic"]:
        return "full batch, but the loss differs between two passes over it (dropout or other noise)"
    if processes > 1:
        return f"full batch split over {processes} processes"
    if weight_decay:
        return f"full batch, but weight_decay={weight_decay:g} was asked for, which L-BFGS does not do"
    if schedule:
        return "full batch, but an lr schedule was given, which L-BFGS does not use"
    if not lbfgs_fits(observed):
        return f"full batch, but {observed['parameters']:,} parameters make L-BFGS's history too large"
    return None


@dataclass(frozen=True)
class Limits:
    """The spec's stopping rules, the epoch limit among them that fit added because none was given (or None),
    whether the caller gave max_epochs or max_steps, the steps they come to, and whether there is validation data."""

    rules: tuple
    default: object
    given: bool
    total_steps: int | None
    has_validation: bool = False


def build_lbfgs(model: nn.Module, observed: dict, limits: Limits, units: Units | None = None) -> Auto:
    """Auto's L-BFGS, with the stopping rules that run it until it has converged (converge.py); with `units`, on
    the standardized problem (units.py)."""
    opt = optim.create(model, "lbfgs", lr=1.0, max_iter=1, max_eval=1 + LINE_SEARCH_EVALUATIONS,
                       history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe")
    if units is not None:
        opt = StandardizedLBFGS(opt.param_groups, units, fold_layer(model, units), **opt.defaults)
        observed["target"] = units.to_dict()
    reason = (f"every step sees all the data and the loss is the same twice over it: a deterministic objective, so "
              f"quasi-Newton steps with a strong-Wolfe line search ({observed['parameters']:,} parameters)")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    rules, limit = until_converged(limits.rules, limits.default, limits.given, dtype, limits.has_validation,
                                   1.0 if units is None else units.sd ** units.power)
    choice = Choice("lbfgs", None, f"history {LBFGS_HISTORY}, one iteration per step", reason, 0, observed, limit)
    # until converged, the run has no length to count toward (the cap only guards): progress shows steps, no total
    return Auto(opt, choice, rules=rules, total_steps=None if "max_steps" in limit else limits.total_steps)


def decide(model: nn.Module, optimizer, lr, *, loss, loss_fn, source, accumulate: int, device: torch.device,
           weight_decay, limits: Limits, lr_schedule, processes: int, make_optimizer) -> Auto:
    """The optimizer fit trains with for optimizer="auto" or lr="auto" (`make_optimizer(name, lr)` builds a named
    one as fit would); `lr_schedule` is the caller's lr schedule, bound to the run, or None; `limits` are the
    spec's stopping rules and step limit, which L-BFGS replaces with its own (converge.py). `loss` is the loss as
    the caller named it: under "mse" or "mae" a target in its own units is trained as if standardized (units.py)."""
    total_steps = limits.total_steps
    if optimizer != "auto":   # lr="auto" with a named optimizer or an instance
        name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__
        opt = make_optimizer(optimizer, None)
        return Auto(opt, sweep=Sweep(model, opt, name, total_steps, lr_schedule, observed={},
                                     default_lr=opt.defaults.get("lr"), probe=probe_inputs(source, device)))
    if lr not in (None, "auto"):
        choice = Choice(FIRST_ORDER, float(lr), "the given schedule" if lr_schedule else "constant",
                        "the lr was given, so AdamW trains with it")
        return Auto(make_optimizer(FIRST_ORDER, lr), choice)
    observed = observe(model, loss_fn, source, accumulate=accumulate, device=device)
    against = why_not_lbfgs(observed, weight_decay=weight_decay, schedule=lr_schedule, processes=processes)
    units = target_units(model, loss, source, device)
    if against is None:
        return build_lbfgs(model, observed, limits, units)
    opt = make_optimizer(FIRST_ORDER, None)
    observed["not_lbfgs"] = against
    if units is not None:
        fold(model, opt, units)
        observed["target"] = units.to_dict()
    keep = keeps_best(limits.rules, limits.has_validation)
    sweep = Sweep(model, opt, FIRST_ORDER, total_steps, lr_schedule, observed=observed,
                  default_lr=opt.defaults.get("lr"), probe=probe_inputs(source, device),
                  run_limit={"keeps_best": MONITOR} if keep else None)
    return Auto(opt, sweep=sweep, rules=[*limits.rules, KeepBest()] if keep else None, total_steps=total_steps)
