"""Route each parameter of a model to its own optimizer by name pattern, shape or module type.

    opt = optim.route(model, {
        optim.ndim(2) & ~optim.module(nn.Embedding) & ~optim.name("head.*"): ("muon", {"lr": 0.02}),
        optim.other: ("adamw", {"lr": 3e-4}),
    })

Keys are rules (`name`, `ndim`, `shape`, `module`, combined with &, |, ~; a bare string is a name pattern and
an nn.Module class a module rule; `other`, never combined, takes whatever no other rule takes). Every trainable
parameter must match exactly one rule. Values name a registered optimizer ("adamw" or ("adamw",
{hyperparameters})) or are a callable taking [(name, parameter), ...] and returning a torch.optim.Optimizer.
`route(..., grad_clip=x)` clips all gradients to one global norm before the parts step.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Callable, Iterator

import torch
from torch import nn

from ..core.errors import DescendError, DescendTypeError
from .base import Closure, clip_grad_norm, present_grads, run_closure
from .checks import check_positive
from .modes import eval_mode, train_mode
from .naming import accept_unnamed_groups
from .registry import create


class Rule:
    """A test on (parameter name, parameter, owning module) with a readable text for error messages."""

    def __init__(self, test: Callable[[str, torch.Tensor, nn.Module], bool], text: str):
        self.test, self.text = test, text

    def __call__(self, name: str, param: torch.Tensor, owner: nn.Module) -> bool:
        return bool(self.test(name, param, owner))

    def __and__(self, rule) -> "Rule":
        rule = _combinable(self, rule)
        return Rule(lambda *a: self(*a) and rule(*a), f"({self.text} & {rule.text})")

    def __or__(self, rule) -> "Rule":
        rule = _combinable(self, rule)
        return Rule(lambda *a: self(*a) or rule(*a), f"({self.text} | {rule.text})")

    def __invert__(self) -> "Rule":
        _combinable(self)
        return Rule(lambda *a: not self(*a), f"~{self.text}")

    def __repr__(self) -> str:
        return self.text


def name(*patterns: str) -> Rule:
    """Parameters whose full name (as in model.named_parameters()) matches any shell-style pattern."""
    return Rule(lambda n, p, m: any(fnmatch.fnmatchcase(n, pat) for pat in patterns),
                f"name({', '.join(map(repr, patterns))})")


def ndim(*dims: int) -> Rule:
    """Parameters with one of the given numbers of dimensions (ndim(2): matrices)."""
    return Rule(lambda n, p, m: p.ndim in dims, f"ndim({', '.join(map(str, dims))})")


def shape(predicate: Callable[[torch.Size], bool], text: str = "shape(...)") -> Rule:
    """Parameters whose shape satisfies `predicate`, e.g. shape(lambda s: len(s) == 2 and s[0] > 1000)."""
    return Rule(lambda n, p, m: predicate(p.shape), text)


def module(*types: type) -> Rule:
    """Parameters that belong directly to a module of one of the given classes (e.g. nn.Embedding)."""
    return Rule(lambda n, p, m: isinstance(m, types), f"module({', '.join(t.__name__ for t in types)})")


other = Rule(lambda n, p, m: False, "other")


def _combinable(*rules) -> Rule:
    """Refuse `other` in &, |, ~ (it means "what no other rule takes", not a test); return the last as a Rule."""
    read = [as_rule(r) for r in rules]
    if any(r is other for r in read):
        raise DescendError("descend.optim.other cannot be combined with &, | or ~: it means 'every parameter no "
                           "other rule takes'; give it an entry of its own, e.g. {..., descend.optim.other: 'adamw'}")
    return read[-1]


def as_rule(key) -> Rule:
    """Read a routing key: a Rule, a name pattern string, or an nn.Module subclass."""
    if isinstance(key, Rule):
        return key
    if isinstance(key, str):
        return name(key)
    if isinstance(key, type) and issubclass(key, nn.Module):
        return module(key)
    raise DescendTypeError(f"a routing rule must be a descend.optim rule, a name pattern or an nn.Module class, "
                           f"got {key!r}")


def _owned_parameters(model: nn.Module) -> list[tuple[str, torch.Tensor, nn.Module]]:
    seen, out = set(), []
    for prefix, mod in model.named_modules():
        for short, p in mod.named_parameters(recurse=False):
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append((f"{prefix}.{short}" if prefix else short, p, mod))
    return out


def assign(model: nn.Module, rules: list[Rule]) -> list[list[tuple[str, torch.Tensor]]]:
    """For each rule, the (name, parameter) pairs it takes; raises naming any parameter taken by 0 or 2+ rules."""
    parts: list[list[tuple[str, torch.Tensor]]] = [[] for _ in rules]
    rest = [i for i, r in enumerate(rules) if r is other]
    for pname, p, owner in _owned_parameters(model):
        hits = [i for i, r in enumerate(rules) if r(pname, p, owner)]
        if len(hits) > 1:
            raise DescendError(f"parameter {pname!r} matches more than one routing rule: "
                               f"{rules[hits[0]]!r} and {rules[hits[1]]!r}; make the rules disjoint (use & ~rule)")
        if not hits and not rest:
            raise DescendError(f"parameter {pname!r} (shape {tuple(p.shape)}, in {type(owner).__name__}) matches "
                               f"no routing rule; add a rule for it or route the rest with descend.optim.other")
        parts[hits[0] if hits else rest[0]].append((pname, p))
    return parts


def _build(spec, named: list[tuple[str, torch.Tensor]]) -> torch.optim.Optimizer:
    if isinstance(spec, str):
        return create(named, spec)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return create(named, spec[0], **spec[1])
    if callable(spec):
        built = spec(named)
        if not isinstance(built, torch.optim.Optimizer):
            raise DescendTypeError(f"a routing callable must return a torch.optim.Optimizer, got {type(built).__name__}")
        return built
    raise DescendTypeError(f"an optimizer spec must be a name, (name, {{hyperparameters}}) or a callable, got {spec!r}")


def route(model: nn.Module, rules: dict, *, grad_clip: float | None = None) -> "Routed":
    """One optimizer over `model` that sends each parameter to the optimizer of the one rule it matches.

    `grad_clip=max_norm` clips all gradients to one global norm before the parts step (clipping inside a
    part's own spec would use that part's norm only).
    """
    check_positive("grad_clip", grad_clip, allow_none=True)
    if not isinstance(model, nn.Module):
        raise DescendTypeError(f"route() takes a torch.nn.Module, got {type(model).__name__}")
    if not rules:
        raise DescendError("route() needs at least one {rule: optimizer} entry")
    keys = [as_rule(k) for k in rules]
    if sum(k is other for k in keys) > 1:
        raise DescendError("descend.optim.other may appear only once in the routing rules")
    parts = assign(model, keys)
    built = [(k.text, _build(spec, named)) for k, spec, named in zip(keys, rules.values(), parts) if named]
    names = {id(p): n for named in parts for n, p in named}
    return Routed(built, names, grad_clip)


class _MergedState(Mapping):
    """Read-only view of several optimizers' per-parameter state as one mapping."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    def __getitem__(self, p: torch.Tensor) -> dict:
        for opt in self.optimizers:
            if p in opt.state:
                return opt.state[p]
        raise KeyError(p)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (p for opt in self.optimizers for p in opt.state)

    def __len__(self) -> int:
        return sum(len(opt.state) for opt in self.optimizers)


class Routed(torch.optim.Optimizer):
    """Several optimizers acting as one: their param groups in order, one step, one state_dict."""

    def __init__(self, parts: list[tuple[str, torch.optim.Optimizer]], names: dict[int, str],
                 grad_clip: float | None = None):
        self.rules = [text for text, _ in parts]
        self.optimizers = [accept_unnamed_groups(opt) for _, opt in parts]
        self.grad_clip = grad_clip
        for g in self.param_groups:
            g.setdefault("param_names", [names[id(p)] for p in g["params"]])
        super().__init__(self.param_groups, {})
        self.state = _MergedState(self.optimizers)
        self.unschedulable = tuple({key for opt in self.optimizers for key in getattr(opt, "unschedulable", ())})
        self._built = True

    @property
    def param_groups(self) -> list[dict]:
        """The parts' groups in order, read afresh: a group added to a part later is stepped and scheduled too."""
        return [g for opt in self.optimizers for g in opt.param_groups]

    @param_groups.setter
    def param_groups(self, groups: list[dict]) -> None:
        """Ignored: the parts own the groups (torch's __init__ assigns an empty list first)."""

    def add_param_group(self, param_group: dict) -> None:
        """Refused once built: a new group has no rule saying which part it belongs to. (torch's __init__ calls
        this for each group, which the parts already hold: nothing to do then.)"""
        if getattr(self, "_built", False):
            raise DescendError("a routed optimizer cannot tell which part a new param group belongs to; add it to "
                               "one part (routed.optimizers[i].add_param_group(...)) or route the model again")

    @torch.no_grad()
    def step(self, closure: Closure | None = None):
        """Evaluate `closure` once (if given), clip to one global norm (if `grad_clip`), then step every part."""
        loss = run_closure(closure)
        if self.grad_clip is not None:
            clip_grad_norm(present_grads(p for g in self.param_groups for p in g["params"]), self.grad_clip)
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def train(self) -> None:
        """Switch routed Schedule-Free optimizers (and EMA wrappers) to their training weights."""
        for opt in self.optimizers:
            train_mode(opt)

    def eval(self) -> None:
        """Switch routed Schedule-Free optimizers (and EMA wrappers) to their evaluation weights."""
        for opt in self.optimizers:
            eval_mode(opt)

    def state_dict(self) -> dict:
        state, groups, extras, offset = {}, [], [], 0
        for opt in self.optimizers:
            sd = opt.state_dict()
            state.update({int(k) + offset: v for k, v in sd["state"].items()})
            groups += [{**g, "params": [i + offset for i in g["params"]]} for g in sd["param_groups"]]
            extras.append({k: v for k, v in sd.items() if k not in ("state", "param_groups")})
            offset += sum(len(g["params"]) for g in sd["param_groups"])
        return {"state": state, "param_groups": groups, "parts": extras}

    def load_state_dict(self, state_dict: dict) -> None:
        groups, state = state_dict["param_groups"], {int(k): v for k, v in state_dict["state"].items()}
        if len(groups) != len(self.param_groups):
            raise DescendError(f"this state_dict has {len(groups)} param groups but the routed optimizer has "
                               f"{len(self.param_groups)}; it was saved from a different routing")
        extras = state_dict.get("parts") or [{} for _ in self.optimizers]
        first, offset = 0, 0
        for opt, extra in zip(self.optimizers, extras):
            mine = groups[first:first + len(opt.param_groups)]
            count = sum(len(g["params"]) for g in mine)
            opt.load_state_dict({"state": {k - offset: v for k, v in state.items() if offset <= k < offset + count},
                                 "param_groups": [{**g, "params": [i - offset for i in g["params"]]} for g in mine],
                                 **extra})
            first, offset = first + len(mine), offset + count
