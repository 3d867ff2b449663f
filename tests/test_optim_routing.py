"""Routing: one optimizer built from rules by name, shape and module type; mistakes name the parameter."""
import io

import pytest
import torch
from torch import nn

from descend import DescendError, optim


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.embed = nn.Embedding(10, 6)
        self.hidden = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)
        self.head = nn.Linear(6, 2)

    def forward(self, tokens):
        return self.head(self.norm(torch.relu(self.hidden(self.embed(tokens))))).mean(1)


HIDDEN = optim.ndim(2) & ~optim.module(nn.Embedding) & ~optim.name("head.*")
RULES = {HIDDEN: ("muon", {"lr": 0.02}), optim.other: ("adamw", {"lr": 1e-2})}
TOKENS = torch.randint(0, 10, (8, 5), generator=torch.Generator().manual_seed(0))
TARGET = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))


def step(model, opt):
    opt.zero_grad()
    nn.functional.mse_loss(model(TOKENS), TARGET).backward()
    opt.step()


def test_muon_for_hidden_matrices_adamw_for_the_rest():
    model = Tiny()
    opt = optim.route(model, RULES)
    muon, adamw = opt.optimizers
    assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, optim.AdamWFlat)  # many small tensors: flat
    assert [n for g in muon.param_groups for n in g["param_names"]] == ["hidden.weight"]
    assert sorted(n for g in adamw.param_groups for n in g["param_names"]) == [
        "embed.weight", "head.bias", "head.weight", "hidden.bias", "norm.bias", "norm.weight"]
    assert len(opt.param_groups) == len(muon.param_groups) + len(adamw.param_groups)


def test_routed_step_equals_the_parts_stepped_by_hand():
    routed_model, by_hand = Tiny(), Tiny()
    routed = optim.route(routed_model, RULES)
    muon = torch.optim.Muon([by_hand.hidden.weight], lr=0.02)
    rest = [p for n, p in by_hand.named_parameters() if n != "hidden.weight"]
    decay = [p for p in rest if p.ndim >= 2]
    keep = [p for p in rest if p.ndim < 2]
    adamw = optim.AdamWFlat([{"params": decay}, {"params": keep, "weight_decay": 0.0}], lr=1e-2)  # what "adamw" runs
    for _ in range(3):
        step(routed_model, routed)
        by_hand.zero_grad()
        nn.functional.mse_loss(by_hand(TOKENS), TARGET).backward()
        muon.step()
        adamw.step()
    for (name, a), b in zip(routed_model.named_parameters(), by_hand.parameters()):
        assert torch.equal(a, b), name


def test_routed_state_dict_round_trip_continues_exactly():
    model = Tiny()
    opt = optim.route(model, {HIDDEN: "lion", optim.other: ("schedule_free_adamw", {"lr": 1e-2})})
    for _ in range(3):
        step(model, opt)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    resumed = Tiny()
    resumed.load_state_dict(model.state_dict())
    opt2 = optim.route(resumed, {HIDDEN: "lion", optim.other: ("schedule_free_adamw", {"lr": 1e-2})})
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(3):
        step(model, opt)
        step(resumed, opt2)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert set(opt.state) == set(model.parameters())  # the merged state view covers every parameter


def test_string_keys_are_name_patterns_and_classes_are_module_rules():
    model = Tiny()
    opt = optim.route(model, {"h*.bias": "sgd", nn.LayerNorm: "adam", nn.Embedding: "adamw",
                              optim.other: ("lion", {"lr": 1e-4})})
    names = [sorted(n for g in o.param_groups for n in g["param_names"]) for o in opt.optimizers]
    assert names == [["head.bias", "hidden.bias"], ["norm.bias", "norm.weight"], ["embed.weight"],
                     ["head.weight", "hidden.weight"]]


def test_shape_rule_and_callable_spec():
    model = Tiny()
    opt = optim.route(model, {optim.shape(lambda s: s.numel() >= 36, "big"): lambda named: torch.optim.SGD(
        [p for _, p in named], lr=0.1), optim.other: "adamw"})
    sgd, _ = opt.optimizers
    assert sorted(n for g in sgd.param_groups for n in g["param_names"]) == ["embed.weight", "hidden.weight"]


def test_unassigned_parameter_is_named():
    with pytest.raises(DescendError, match=r"'hidden\.bias'.*matches no routing rule"):
        optim.route(Tiny(), {optim.ndim(2): "adamw"})


def test_parameter_matched_twice_is_named():
    with pytest.raises(DescendError, match=r"'hidden\.weight' matches more than one routing rule"):
        optim.route(Tiny(), {optim.ndim(2): "adamw", "hidden.*": "sgd", optim.other: "adamw"})


def test_bad_keys_and_specs_are_refused():
    with pytest.raises(TypeError, match="routing rule"):
        optim.route(Tiny(), {3: "adamw"})
    with pytest.raises(TypeError, match="optimizer spec"):
        optim.route(Tiny(), {optim.other: 42})
    with pytest.raises(DescendError, match="unknown optimizer 'adamx'.*adamw"):
        optim.route(Tiny(), {optim.other: "adamx"})


def test_fit_drives_a_routed_optimizer_and_its_schedule_reaches_every_part():
    import descend as ds
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.route(model, {optim.ndim(2) & ~optim.name("4.*", "0.*"): ("lion", {"lr": 3e-3}),
                              optim.other: ("adamw", {"lr": 1e-2})})
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    y = x.sum(1, keepdim=True).sin()
    result = ds.fit(model, (x, y), optimizer=opt, schedule=ds.schedules.linear(1.0, 0.5), max_steps=150,
                    batch_size=32, progress=False)
    losses = [r["loss"] for r in result.history]
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    lion, adamw = opt.optimizers
    assert lion.param_groups[0]["lr"] == pytest.approx(3e-3 * (1 - 0.5 * 149 / 150), rel=1e-3)
    assert all(g["lr"] == pytest.approx(1e-2 * (1 - 0.5 * 149 / 150), rel=1e-3) for g in adamw.param_groups)


def test_routed_grad_clip_uses_one_global_norm_over_every_part():
    sgd_rules = lambda clip: {HIDDEN: ("sgd", {"lr": 0.5, "grad_clip": clip}),
                              optim.other: ("sgd", {"lr": 0.2, "grad_clip": clip})}
    routed_model, by_hand, per_part = Tiny(), Tiny(), Tiny()
    routed = optim.route(routed_model, sgd_rules(None), grad_clip=0.1)
    plain = optim.route(by_hand, sgd_rules(None))
    parted = optim.route(per_part, sgd_rules(0.1))   # each part clipped to its own norm: not the same thing
    for _ in range(3):
        step(routed_model, routed)
        step(per_part, parted)
        by_hand.zero_grad()
        nn.functional.mse_loss(by_hand(TOKENS), TARGET).backward()
        assert torch.nn.utils.clip_grad_norm_(list(by_hand.parameters()), 0.1) > 0.1   # clipping is active
        plain.step()
    for (name, a), b, c in zip(routed_model.named_parameters(), by_hand.parameters(), per_part.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=name)
    assert max((a - c).abs().max().item() for a, c in zip(routed_model.parameters(), per_part.parameters())) > 1e-3


def test_other_cannot_be_combined_with_another_rule():
    for combine in (lambda: optim.other | optim.ndim(1), lambda: optim.ndim(1) & optim.other, lambda: ~optim.other):
        with pytest.raises(DescendError, match=r"descend.optim.other cannot be combined with &, \| or ~"):
            combine()


def test_route_checks_grad_clip():
    with pytest.raises(DescendError, match=r"^grad_clip must be a finite number > 0"):
        optim.route(Tiny(), {optim.other: "adamw"}, grad_clip=-1.0)


def test_muon_can_be_routed_the_one_line_way_the_error_suggests():
    opt = optim.route(Tiny(), {optim.ndim(2): "muon", optim.other: "adamw"})
    assert [type(o).__name__ for o in opt.optimizers] == ["Muon", "AdamWFlat"]
