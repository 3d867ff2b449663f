"""Targets in their own units (dollars, metres, counts): fit's default run trains as if the target were
standardized, and the model stays in the target's units throughout.

A network's outputs start near 0 with a spread near 1. On a target of mean 60,000 and spread 13,000, AdamW's steps
(each moves a weight by about the lr) spend the run reaching the target's scale, and the sweep picks its lr for
that journey, not for the fit; the user's fix is to standardize the target and map predictions back. When the loss
is a power p of the raw differences (MSE: p = 2, MAE: p = 1), the model's output is that of a final nn.Linear
(called once), and the training target's typical size (median, interquartile spread) is off the unit scale (beyond
UNIT), fit applies that fix inside the run, exactly, by the target's mean m and standard deviation s: the layer
starts at W s, b s + m (the same model as one trained on (y - m) / s, mapped back), and AdamW gets its lr s times
larger there, its weight decay s times smaller, and every group's eps in its gradient's scale (s^p for the layers
before, s^(p-1) for the last). AdamW's update does not see a gradient's scale, so every step is the standardized
run's step, mapped back; L-BFGS, which does see it, takes its steps in the standardized problem's coordinates
(StandardizedLBFGS). The history's losses, the validation scores, the checkpoints and the returned model are in
the target's own units, and nothing needs mapping back. The decision reads only the training targets (a
DataLoader's first rows), so a resumed run makes it again alike, and unit-scale targets are left as they were.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ...core.loop import LR_SCALE
from ...core.modes import Modules
from ..data import TensorBatches, peek
from .collapse import quiet_forward

POWERS = {"mse": 2, "mae": 1}   # the losses that are a power of the raw differences: scaling them is exact
UNIT = 10.0       # a target whose median's size or spread exceeds this (or whose spread is below 1 / UNIT) is raw
READ_ROWS = 4096  # the rows of a Dataset or DataLoader read for the target's mean and spread
QUANTILE_ROWS = 1 << 24   # the rows the quartiles are read on (torch.quantile's largest input)


@dataclass(frozen=True)
class Units:
    """The training target's mean (one per output column) and standard deviation, the final layer that holds
    them, the loss's power, and the rows read."""

    mean: list[float]
    sd: float
    layer: str
    power: int
    rows: int

    def to_dict(self) -> dict:
        return asdict(self)

    def words(self) -> str:
        """What was folded, for the choice's line: 'the target in its own units (mean 6.3e+04, sd 1.14e+04 over 1,400
        training rows) trained as if standardized: layer '4' starts at weight x sd, ...'."""
        mean = ", ".join(f"{m:.3g}" for m in self.mean)
        layer = f"layer '{self.layer}'" if self.layer else "the model (one nn.Linear)"
        return (f"the target in its own units (mean {mean}, sd {self.sd:.3g} over {self.rows:,} training rows) "
                f"trained as if standardized: {layer} starts at weight x sd, bias x sd + mean, and its steps are "
                f"sd x larger")


def target_units(model: nn.Module, loss, source, device: torch.device) -> Units | None:
    """How to fold the training target's scale into the model's last layer (see the module notes); None when
    the loss, the model or the target does not call for it."""
    power = POWERS.get(loss) if isinstance(loss, str) else None
    rows = _rows(source) if power else None
    if rows is None:
        return None
    inputs, target = rows
    if not target.is_floating_point() or target.numel() < 2 or not torch.isfinite(target).all():
        return None
    if unit_scale(target):
        return None
    found = final_linear(model, inputs.to(device), target.numel())
    if found is None:
        return None
    name, layer = found
    columns = target.reshape(-1, layer.out_features).double()
    sd = float(columns.std(0).pow(2).mean().sqrt())
    return Units([float(m) for m in columns.mean(0)], sd, name, power, len(target)) if sd > 0 else None


def unit_scale(target: torch.Tensor) -> bool:
    """Whether the target's typical size is the unit scale: its median within UNIT of 0 and its spread (the
    interquartile range over 1.349, the standard deviation where that is 0) within a factor UNIT of 1. Read by
    quantiles, so that a few wild rows (a missing value coded as 9999) do not make a unit-scale target look raw."""
    values = target.reshape(-1).double()[:QUANTILE_ROWS]
    low, median, high = quartiles(values).tolist()
    spread = (high - low) / 1.349 or float(values.std())
    return abs(median) <= UNIT and 1 / UNIT <= spread <= UNIT


def quartiles(values: torch.Tensor) -> torch.Tensor:
    """torch.quantile(values, [0.25, 0.5, 0.75]) of finite 1-D values, the same numbers (the same ranks, the same
    lerp between the order statistics around them) from numpy's sort: torch's CPU sort took 0.6 ms on 4096
    doubles, numpy's 13 us, and this was a fixed cost of every default fit on an MSE or MAE target."""
    ordered = torch.from_numpy(np.sort(values.detach().cpu().numpy()))
    ranks = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64) * (len(ordered) - 1)
    below = ranks.long()
    return ordered[below].lerp(ordered[ranks.ceil().long()], ranks - below)


def _rows(source) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(inputs, targets): every training row of in-memory tensors, else a Dataset's first READ_ROWS."""
    whole = len(source.tensors[0]) if isinstance(source, TensorBatches) else READ_ROWS
    batch = peek(source, whole)
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        return None
    inputs, target = batch[0], batch[1]
    return (inputs, target) if isinstance(inputs, torch.Tensor) and isinstance(target, torch.Tensor) else None


def final_linear(model: nn.Module, inputs: torch.Tensor, target_size: int) -> tuple[str, nn.Linear] | None:
    """The (name, layer) of the nn.Linear with a bias whose output is the model's output, called once in a forward
    pass over a few rows, whose parameters all train; None when there is none."""
    rows = inputs[: max(2, min(len(inputs), 8))]
    if target_size % len(inputs):
        return None
    calls: dict[nn.Module, list[torch.Tensor]] = {}
    linears = {m: n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.bias is not None}
    output = quiet_forward(Modules.of(model), rows, list(linears), lambda m, out: calls.setdefault(m, []).append(out))
    if not isinstance(output, torch.Tensor) or output.numel() * len(inputs) != target_size * len(rows):
        return None
    for layer, outs in calls.items():
        same = len(outs) == 1 and outs[0].numel() == output.numel()
        if same and torch.equal(outs[0].reshape(-1), output.reshape(-1)) and layer.weight.requires_grad \
                and layer.bias.requires_grad:
            return linears[layer], layer
    return None


def fold_layer(model: nn.Module, units: Units) -> nn.Linear:
    """Start the final layer at weight x sd, bias x sd + mean: the model's output is its standardized output
    mapped back to the target's units."""
    layer = model.get_submodule(units.layer)
    with torch.no_grad():
        layer.weight.mul_(units.sd)
        layer.bias.mul_(units.sd).add_(torch.tensor(units.mean, dtype=layer.bias.dtype, device=layer.bias.device))
    return layer


def fold(model: nn.Module, optimizer: torch.optim.Optimizer, units: Units) -> None:
    """fold_layer, and give the layer's parameters groups of their own with the lr sd x larger (LR_SCALE), the
    weight decay sd x smaller and eps x sd^(power - 1); the other groups' eps x sd^power (the module notes say
    why)."""
    layer = fold_layer(model, units)
    s = units.sd
    own = {id(layer.weight), id(layer.bias)}
    moved = []
    for group in list(optimizer.param_groups):
        names = group.get("param_names") or [None] * len(group["params"])
        pairs = list(zip(names, group["params"]))
        mine = [(n, p) for n, p in pairs if id(p) in own]
        group["eps"] = group["eps"] * s ** units.power
        if not mine:
            continue
        kept = [(n, p) for n, p in pairs if id(p) not in own]
        group["params"] = [p for _, p in kept]
        if "param_names" in group:
            group["param_names"] = [n for n, _ in kept]
        settings = {k: v for k, v in group.items() if k not in ("params", "param_names")}
        moved.append({**settings, "params": [p for _, p in mine], LR_SCALE: s, "eps": settings["eps"] / s,
                      "weight_decay": settings.get("weight_decay", 0.0) / s,
                      **({"param_names": [n for n, _ in mine]} if "param_names" in group else {})})
        if not kept:
            optimizer.param_groups.remove(group)
    for group in moved:
        optimizer.add_param_group(group)


class StandardizedLBFGS(torch.optim.LBFGS):
    """torch's L-BFGS run on the standardized problem while the model holds the target's units: it sees the loss
    and the gradients divided by sd^power, the folded layer's gradients times sd (its standardized weights are
    the raw ones over sd), and its steps on that layer are applied sd x larger. Its history, line searches and
    tolerances are then the standardized run's, step for step (L-BFGS, unlike AdamW, sees a gradient's scale)."""

    def __init__(self, params, units: Units, layer: nn.Linear, **settings):
        super().__init__(params, **settings)
        own = {id(layer.weight), id(layer.bias)}
        sizes = [(p.numel(), id(p) in own) for p in self._params]
        s, power = units.sd, units.power
        self.loss_scale = s ** power
        self.grad_factors = torch.cat([torch.full((n, ), s ** (1 - power) if mine else s ** -power)
                                       for n, mine in sizes]).to(self._params[0])
        self.step_factors = torch.cat([torch.full((n, ), s if mine else 1.0) for n, mine in sizes]).to(self._params[0])

    def _gather_flat_grad(self) -> torch.Tensor:
        return super()._gather_flat_grad() * self.grad_factors

    def _add_grad(self, step_size, update) -> None:
        super()._add_grad(step_size, update * self.step_factors)

    def step(self, closure):
        return super().step(lambda: closure() / self.loss_scale)
