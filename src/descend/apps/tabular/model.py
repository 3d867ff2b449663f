"""The tabular model: several small networks trained side by side, blended with a closed-form linear model.

Each member is an MLP (or a single linear layer) over the numbers, one-hot categories and its own embeddings of
many-level categories. All members run in one batched matrix product per layer, so k members cost about what
one network k times as wide costs (the "MLP^k" of TabM, Gorishniy et al., ICLR 2025, who found such efficient
ensembles to be the strongest MLP defaults). The members' averaged prediction is then blended with the linear
model (ridge, Poisson or logistic regression, fitted in closed form or by L-BFGS elsewhere and frozen here) by a
weight chosen on validation rows: 1 keeps only the networks, 0 only the linear model.

Training-mode output is one prediction per member, shape (rows, members, outputs), so each member is trained
on its own loss. Evaluation-mode output is the blended prediction in the loss's own space (a value, a logit, a
log-rate, class log-probabilities), so the ordinary loss and `Target.decode` apply to it. An optional last input
column names, per row, the member that must not see it (cross-validation folds; -1 for none): that member
alone predicts the row when evaluating, so every validation score is out-of-fold.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .preprocess import Preprocessor

LINKS = {"mse": "identity", "bce": "sigmoid", "cross_entropy": "softmax", "poisson": "exp"}
# A count's prediction stops at this multiple of the largest training count: an order of magnitude past anything
# seen leaves a row a little beyond the data (a trend carrying on, a larger shop) as its straight line in the
# log-rate has it, while a row far beyond it, whose log-rate would carry the count past what float32 holds
# (exp(89) is inf), is held at a count that is still of the data's own size.
COUNT_BOUND = 10


def architecture(pre: Preprocessor, hidden: tuple[int, ...], out_dim: int, members: int = 1,
                 loss: str = "mse", folds: int | None = None, linear_free: list[int] = (),
                 residual: bool = False, clipped: bool = True, seen: float | None = None) -> dict:
    """The JSON-able description the model is rebuilt from (saved in config.json); `linear_free`: the number
    inputs that neither the linear model nor the networks clip (the target's own lags, which trend with it);
    `residual`: the networks learn what the linear model leaves (see TabularNet.forward); `clipped`: the networks
    clip the other numbers to the training range (else they take them as they are); `seen`: with forward-
    chained blocks of time for folds, the share of (row, member) pairs the members learn from (members.MemberLoss)."""
    bounds = [[None, None] if i in linear_free or not clipped else bound for i, bound in enumerate(pre.bounds())]
    return {"numeric_width": pre.numeric_width, "hidden": list(hidden), "out_dim": out_dim, "members": members,
            "folds": folds or members, **({"seen": seen} if seen is not None else {}),
            "link": LINKS[loss], "categorical": [[c.size, c.encoding, c.dim] for c in pre.categorical],
            "bounds": bounds, "bins": pre.bins(), "linear_free": list(linear_free), "residual": residual}


class MemberLinear(nn.Module):
    """`members` independent linear layers applied at once: (rows, members, in) -> (rows, members, out); rows
    first, as for any layer, so per-unit statistics (the doctor's dead ReLUs) see one unit per member and width."""

    def __init__(self, members: int, width_in: int, width_out: int):
        super().__init__()
        bound = 1 / math.sqrt(width_in)   # nn.Linear's default initialization, member by member
        self.weight = nn.Parameter(torch.empty(members, width_in, width_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, width_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x.transpose(0, 1), self.weight).transpose(0, 1)


class PiecewiseLinear(nn.Module):
    """Each number as its position within each of its quantile bins (0 below the bin, 1 above, linear inside):
    the piecewise-linear encoding of Gorishniy et al. (NeurIPS 2022), which lets an MLP bend its response at the
    data's own quantiles as a tree's thresholds do. `bins`: per column, its edges (fewer than 2: not encoded)."""

    def __init__(self, bins: list[list[float]]):
        super().__init__()
        starts, widths, columns = [], [], []
        for column, edges in enumerate(bins):
            for low, high in zip(edges, edges[1:]):
                starts.append(low)
                widths.append(high - low)
                columns.append(column)
        self.register_buffer("starts", torch.tensor(starts, dtype=torch.float32), persistent=False)
        self.register_buffer("widths", torch.tensor(widths, dtype=torch.float32), persistent=False)
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long), persistent=False)

    @property
    def width(self) -> int:
        return len(self.columns)

    def forward(self, numbers: torch.Tensor) -> torch.Tensor:
        # index_select: the same columns as numbers[:, self.columns], at a fraction of advanced indexing's cost
        return torch.clamp((numbers.index_select(1, self.columns) - self.starts) / self.widths, 0.0, 1.0)


class TabularNet(nn.Module):
    """Input columns: first `numeric_width` standardized numbers, then one category index per categorical, then
    optionally each row's held-out member (see the module docstring). The networks clip each number to its
    `bounds` ([low, high], None for no bound); the linear model takes the numbers unclipped, or clipped but for
    those in `linear_free` (see `design`).

    Index 0 (a level unseen in training) adds nothing: its one-hot block is all zeros, its embedding is fixed at 0.
    """

    def __init__(self, numeric_width: int, categorical: list, hidden: list[int], out_dim: int, members: int = 1,
                 link: str = "identity", bounds: list | None = None, bins: list | None = None,
                 folds: int | None = None, linear_free: list[int] | None = None, residual: bool = False,
                 temperature: float = 1.0, log_rate_cap: float | None = None, linear_held: list | None = None):
        super().__init__()
        self.residual = residual and link == "identity"   # members average on top of a value, not of a logit
        self.register_buffer("fold", torch.arange(members) % (folds or members), persistent=False)
        self.encoding = PiecewiseLinear(bins or [[]] * numeric_width)
        bounds = bounds or [[None, None]] * numeric_width
        self.register_buffer("lower", torch.tensor([-math.inf if low is None else low for low, _ in bounds]),
                             persistent=False)   # rebuilt from the architecture, not saved with the weights
        self.register_buffer("upper", torch.tensor([math.inf if high is None else high for _, high in bounds]),
                             persistent=False)
        free = torch.zeros(numeric_width, dtype=torch.bool)
        free[list(linear_free or [])] = True
        self.register_buffer("linear_lower", torch.where(free, -math.inf, self.lower), persistent=False)
        self.register_buffer("linear_upper", torch.where(free, math.inf, self.upper), persistent=False)
        self.hold_linear(linear_held or [])
        self.numeric_width, self.members, self.link, self.out_dim = numeric_width, members, link, out_dim
        self.sizes = [size for size, _, _ in categorical]
        self.onehot = [(i, size) for i, (size, enc, _) in enumerate(categorical) if enc == "onehot"]
        self.embedded = [i for i, (_, enc, _) in enumerate(categorical) if enc == "embedding"]
        self.embeddings = nn.ModuleList(nn.Embedding(categorical[i][0], categorical[i][2] * members, padding_idx=0)
                                        for i in self.embedded)
        width = self.fixed_width + sum(e.embedding_dim // members for e in self.embeddings)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [MemberLinear(members, width, size), nn.ReLU()]
            width = size
        layers.append(MemberLinear(members, width, out_dim))
        self.layers = nn.Sequential(*layers)
        linear_width = numeric_width + sum(self.sizes)
        self.register_buffer("linear_weight", torch.zeros(out_dim, linear_width))   # fitted outside: set_linear
        self.register_buffer("linear_bias", torch.zeros(out_dim))
        self.register_buffer("blend", torch.ones(()))   # weight of the networks against the linear model
        self.register_buffer("linear_clipped", torch.zeros(()))   # 1: the linear model clips numbers as the networks do
        # classes: the blended logits are divided by it (chosen on validation rows; kept in the architecture)
        self.register_buffer("temperature", torch.tensor(float(temperature)), persistent=False)
        # counts: each part's log-rate is clamped here when predicting (set once training is over; kept in the
        # architecture, absent in runs saved before it: no bound)
        self.register_buffer("log_rate_cap", torch.tensor(math.inf if log_rate_cap is None else float(log_rate_cap)),
                             persistent=False)

    @classmethod
    def build(cls, spec: dict) -> "TabularNet":
        return cls(spec["numeric_width"], spec["categorical"], spec["hidden"], spec["out_dim"],
                   spec.get("members", 1), spec.get("link", "identity"), spec.get("bounds"), spec.get("bins"),
                   spec.get("folds"), spec.get("linear_free"), spec.get("residual", False),
                   spec.get("temperature", 1.0), spec.get("log_rate_cap"), spec.get("linear_held"))

    @property
    def input_width(self) -> int:
        return self.numeric_width + len(self.sizes)

    @property
    def fixed_width(self) -> int:
        """Columns of `fixed_features`."""
        return self.numeric_width + self.encoding.width + sum(size - 1 for _, size in self.onehot)

    def fixed_features(self, x: torch.Tensor) -> torch.Tensor:
        """The part of the first-layer input that every member shares and nothing learns (clipped numbers, their
        piecewise-linear encoding, one-hot blocks), (rows, fixed_width)."""
        numbers = torch.clamp(x[:, :self.numeric_width], self.lower, self.upper)
        shared = [numbers, self.encoding(numbers)]
        if self.onehot:
            codes = x[:, self.numeric_width:self.input_width].long()
            shared += [F.one_hot(codes[:, i], size)[:, 1:].to(x.dtype) for i, size in self.onehot]
        return torch.cat(shared, dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's first-layer input, (rows, members, width): the fixed features, then its embeddings."""
        shared = self.fixed_features(x)[:, None, :].expand(-1, self.members, -1)
        if not self.embeddings:   # every member's input is the same: a view, not a copy per member
            return shared
        codes = x[:, self.numeric_width:self.input_width].long()
        parts = [emb(codes[:, i]).view(len(x), self.members, -1) for emb, i in zip(self.embeddings, self.embedded)]
        return torch.cat([shared, *parts], dim=2)

    def design(self, x: torch.Tensor) -> torch.Tensor:
        """The linear model's input: numbers (clipped, but for the free ones, where training chose so) plus every
        category one-hot (index 0 included)."""
        codes = x[:, self.numeric_width:self.input_width].long()
        numbers = x[:, :self.numeric_width]
        if bool(self.linear_clipped):
            numbers = torch.clamp(numbers, self.linear_lower, self.linear_upper)
        parts = [numbers] + [F.one_hot(codes[:, i], size).to(x.dtype) for i, size in enumerate(self.sizes)]
        return torch.cat(parts, dim=1)

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's raw output, (rows, members, outputs)."""
        return self.layers(self.features(x))

    def linear_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The linear model's outputs in the loss's space, (rows, outputs)."""
        return self.design(x) @ self.linear_weight.T + self.linear_bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Training mode: each member's prediction, on top of the linear model's where the networks learn its
        residuals (`residual`: the linear model is installed first and stays frozen, so the members' loss is that
        of the residuals). Evaluation mode: the blended prediction (see `_blended`)."""
        members = self.member_outputs(x)
        if self.training:
            return members + self.linear_outputs(x)[:, None, :] if self.residual else members
        held_out = x[:, self.input_width].long() if x.shape[1] > self.input_width else None
        return self._blended(members, held_out, x)

    @property
    def linear_alone(self) -> bool:
        """Whether validation gave the networks no weight (blend 0): the model's output is the linear model's, and
        no network weight moves it."""
        return not bool(self.blend)

    def past_cap(self, x: torch.Tensor) -> torch.Tensor:
        """Per row (evaluation mode), whether a part the prediction weighs (a member, the linear model) has a
        log-rate past `log_rate_cap`, so the bound, not the part's straight line, decides the row's count."""
        past = torch.zeros(len(x), dtype=torch.bool)
        if self.link != "exp" or bool(torch.isinf(self.log_rate_cap)):   # no bound: nothing to compute
            return past
        if not self.linear_alone:
            past |= self.member_outputs(x).flatten(1).amax(dim=1) > self.log_rate_cap
        if float(self.blend) < 1:
            past |= self.linear_outputs(x).amax(dim=1) > self.log_rate_cap
        return past

    def _capped(self, output: torch.Tensor) -> torch.Tensor:
        """Log-rates clamped at `log_rate_cap` (infinite unless set: then exactly as they are); other outputs as
        they are."""
        return output.clamp(max=self.log_rate_cap) if self.link == "exp" else output

    def _blended(self, members: torch.Tensor, held_out: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        mean = to_mean_space(self._capped(members), self.link)
        if held_out is None or bool((held_out < 0).all()):
            mean = mean.mean(dim=1)
        else:   # rows held out of one fold: only that fold's members have not seen them
            weights = (self.fold[None, :] == held_out[:, None]).to(mean.dtype)
            weights = torch.where((held_out < 0)[:, None], torch.ones_like(weights), weights)
            mean = (mean * (weights / weights.sum(dim=1, keepdim=True))[:, :, None]).sum(dim=1)
        linear = to_mean_space(self._capped(self.linear_outputs(x)), self.link)
        if self.linear_alone:   # whatever the networks say (NaN times 0 is NaN)
            return tempered(from_mean_space(linear, self.link), self.link, self.temperature)
        if self.residual:   # the linear model plus the networks' residuals, shrunk by the blend weight
            return from_mean_space(linear + self.blend * mean, self.link)
        return tempered(from_mean_space(self.blend * mean + (1 - self.blend) * linear, self.link), self.link,
                        self.temperature)

    def set_output_bias(self, value: float) -> None:
        with torch.no_grad():
            self.layers[-1].bias.fill_(value)
            self.linear_bias.fill_(value)

    def set_linear(self, weight: torch.Tensor, bias: torch.Tensor, blend: float, clipped: bool = False) -> None:
        """Install the fitted linear model (weights over `design`'s columns, in the loss's space; `clipped`: fitted
        on numbers clipped to the training range) and the blend."""
        with torch.no_grad():
            self.linear_weight.copy_(weight.reshape(self.linear_weight.shape))
            self.linear_bias.copy_(bias.reshape(self.linear_bias.shape))
            self.blend.fill_(blend)
            self.linear_clipped.fill_(float(clipped))

    def hold_linear(self, held: list) -> None:
        """Clip the linear model's number columns `held` ([[position, low, high], ...]: a count's dates' running
        times, where validation chose so) to their training range, which the networks leave them free of."""
        for position, low, high in held:
            self.linear_lower[position], self.linear_upper[position] = low, high

    def clip_design(self, design: torch.Tensor) -> torch.Tensor:
        """A design matrix (as `design` makes it, unclipped) with its numbers clipped to the networks' bounds, but
        for the free ones."""
        numbers = torch.clamp(design[:, :self.numeric_width], self.linear_lower.to(design.dtype),
                              self.linear_upper.to(design.dtype))
        return torch.cat([numbers, design[:, self.numeric_width:]], dim=1)


def joined(first: TabularNet, second: TabularNet, spec: dict) -> tuple[TabularNet, dict]:
    """One model whose members are `first`'s then `second`'s (both built from `spec`), and its spec; the linear
    part and the blend are `second`'s. Each member's weights are a slice of a layer's first dimension, and of an
    embedding's columns."""
    spec = {**spec, "members": 2 * spec["members"]}
    model, mine, theirs = TabularNet.build(spec), first.state_dict(), second.state_dict()
    merged = {name: torch.cat([mine[name], theirs[name]], dim=0 if name.startswith("layers.") else 1)
              if name.startswith(("layers.", "embeddings.")) else theirs[name] for name in model.state_dict()}
    model.load_state_dict(merged)
    return model, spec


def count_cap(largest: float) -> float:
    """The log-rate cap of a count model whose largest training count is `largest` (at least 1, so a table of
    zeros still allows COUNT_BOUND): see COUNT_BOUND."""
    return math.log(COUNT_BOUND * max(largest, 1.0))


def to_mean_space(output: torch.Tensor, link: str) -> torch.Tensor:
    """Outputs in the space where averaging is right: values, probabilities, expected counts."""
    if link == "sigmoid":
        return torch.sigmoid(output)
    if link == "softmax":
        return torch.softmax(output, dim=-1)
    return torch.exp(output) if link == "exp" else output


def from_mean_space(mean: torch.Tensor, link: str) -> torch.Tensor:
    """Back to the loss's space: logits, log-probabilities or log-rates (clamped away from 0 and 1)."""
    if link == "sigmoid":
        p = mean.clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - torch.log1p(-p)
    if link in ("softmax", "exp"):
        return torch.log(mean.clamp_min(1e-12))
    return mean


def tempered(output: torch.Tensor, link: str, temperature) -> torch.Tensor:
    """Class outputs (logits, or log-probabilities) divided by `temperature`: above 1 less sure, below 1 more;
    other links' outputs as they are."""
    if link == "sigmoid":
        return output / temperature
    if link == "softmax":
        return torch.log_softmax(output / temperature, dim=-1)
    return output


def inputs(x_num, x_cat) -> torch.Tensor:
    """The single float matrix the network takes: numbers then category indices (exact in float32 below 2**24)."""
    return torch.cat([torch.as_tensor(x_num, dtype=torch.float32), torch.as_tensor(x_cat).float()], dim=1)


def with_held_out(x: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
    """Inputs with the held-out member of each row appended (-1: none)."""
    return torch.cat([x, member.to(x.dtype).reshape(-1, 1)], dim=1)
