"""Every descend optimizer keeps torch.optim's contract: groups, closure, zero_grad, state_dict round trip."""
import io

import pytest
import torch
from torch import nn

from descend import optim

def plain(make):
    """Build over the model's parameters, or, given lr0, over two groups: the first layer at lr0, the last layer."""
    def build(model, lr0=None):
        if lr0 is None:
            return make(model.parameters())
        return make([{"params": model[0].parameters(), "lr": lr0}, {"params": model[2].parameters()}])
    return build


def routed(model, lr0=None):
    """Lion for the first layer, Schedule-Free AdamW for the last, one global clipping norm."""
    return optim.route(model, {optim.name("0.*"): ("lion", {"lr": 1e-2 if lr0 is None else lr0}),
                               optim.other: ("schedule_free_adamw", {"lr": 2e-2})}, grad_clip=1.0)


FACTORIES = {
    "lion": plain(lambda ps: optim.Lion(ps, lr=1e-2)),
    "lamb": plain(lambda ps: optim.LAMB(ps, lr=2e-2)),
    "schedule_free_sgd": plain(lambda ps: optim.ScheduleFreeSGD(ps, lr=0.2)),
    "schedule_free_adamw": plain(lambda ps: optim.ScheduleFreeAdamW(ps, lr=2e-2)),
    "schedule_free_adamw_paper": plain(lambda ps: optim.ScheduleFreeAdamWPaper(ps, lr=2e-2)),
    "prodigy": plain(lambda ps: optim.Prodigy(ps, d0=1e-3)),
    "soap": plain(lambda ps: optim.SOAP(ps, lr=3e-2, precondition_frequency=2)),
    "adamw_flat": plain(lambda ps: optim.AdamWFlat(ps, lr=1e-2)),
    "lookahead": plain(lambda ps: optim.Lookahead(torch.optim.AdamW(ps, lr=2e-2), k=2)),
    "ema": plain(lambda ps: optim.EMA(torch.optim.AdamW(ps, lr=2e-2), decay=0.9)),
    "grad_clip": plain(lambda ps: optim.GradClip(torch.optim.AdamW(ps, lr=2e-2), max_norm=0.5)),
    "routed": routed,
}


def make_model(seed=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def data(seed=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=g)
    return x, (x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(64, 1, generator=g))


def loss_of(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def train(model, opt, steps, batch):
    for _ in range(steps):
        opt.zero_grad()
        loss_of(model, batch).backward()
        opt.step()


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("kind", FACTORIES)
def test_state_dict_round_trip_continues_exactly(kind):
    batch = data()
    model = make_model()
    opt = FACTORIES[kind](model)
    train(model, opt, 3, batch)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed = make_model(seed=99)
    resumed.load_state_dict(model.state_dict())
    opt2 = FACTORIES[kind](resumed)
    opt2.load_state_dict(saved)
    train(model, opt, 4, batch)
    train(resumed, opt2, 4, batch)
    optim.eval_mode(opt), optim.eval_mode(opt2)
    for a, b in zip(weights(model), weights(resumed)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", FACTORIES)
def test_closure_step_equals_manual_step_and_returns_loss(kind):
    batch = data()
    with_closure, manual = make_model(), make_model()
    opt_a, opt_b = FACTORIES[kind](with_closure), FACTORIES[kind](manual)
    for _ in range(3):
        def closure():
            opt_a.zero_grad()
            value = loss_of(with_closure, batch)
            value.backward()
            return value
        returned = opt_a.step(closure)
        opt_b.zero_grad()
        expected = loss_of(manual, batch)
        expected.backward()
        opt_b.step()
        assert returned.item() == expected.item()
    for a, b in zip(weights(with_closure), weights(manual)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", FACTORIES)
def test_param_groups_keep_their_own_lr(kind):
    model = make_model()
    first, second = model[0], model[2]
    before_first, before_second = weights(first), weights(second)
    opt = FACTORIES[kind](model, lr0=0.0)
    assert len(opt.param_groups) == 2 and opt.param_groups[0]["lr"] == 0.0
    train(model, opt, 4, data())
    optim.eval_mode(opt)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(before_first, weights(first)))
    assert not any(torch.equal(a, b) for a, b in zip(before_second, weights(second)))


@pytest.mark.parametrize("kind", FACTORIES)
def test_zero_grad_clears_gradients(kind):
    model = make_model()
    opt = FACTORIES[kind](model)
    loss_of(model, data()).backward()
    opt.zero_grad()
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


@pytest.mark.parametrize("kind", FACTORIES)
def test_trains_a_small_regression(kind):
    batch = data()
    model = make_model()
    opt = FACTORIES[kind](model)
    start = loss_of(model, batch).item()
    train(model, opt, 150, batch)
    optim.eval_mode(opt)
    assert loss_of(model, batch).item() < 0.2 * start


def saved_and_loaded(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("kind", ["schedule_free_sgd", "schedule_free_adamw", "ema", "routed"])
def test_round_trip_from_an_eval_mode_save_continues_exactly(kind):
    """Checkpoints are written in eval mode (the model holds the averaged x): resuming from one is exact."""
    batch = data()
    model = make_model()
    opt = FACTORIES[kind](model)
    train(model, opt, 3, batch)
    optim.eval_mode(opt)
    saved = saved_and_loaded(opt.state_dict())
    resumed = make_model(seed=99)
    resumed.load_state_dict(model.state_dict())
    opt2 = FACTORIES[kind](resumed)
    opt2.load_state_dict(saved)
    for m, o in ((model, opt), (resumed, opt2)):
        optim.train_mode(o)
        train(m, o, 4, batch)
        optim.eval_mode(o)
    for a, b in zip(weights(model), weights(resumed)):
        assert torch.equal(a, b)


CLIPPED = {   # make(params, grad_clip); grad_clip=None gives the same optimizer unclipped
    "lion": lambda ps, c: optim.Lion(ps, lr=1e-2, grad_clip=c),
    "lamb": lambda ps, c: optim.LAMB(ps, lr=2e-2, grad_clip=c),
    "schedule_free_sgd": lambda ps, c: optim.ScheduleFreeSGD(ps, lr=0.2, grad_clip=c),
    "schedule_free_adamw": lambda ps, c: optim.ScheduleFreeAdamW(ps, lr=2e-2, grad_clip=c),
    "prodigy": lambda ps, c: optim.Prodigy(ps, d0=1e-3, grad_clip=c),
    "soap": lambda ps, c: optim.SOAP(ps, lr=3e-2, precondition_frequency=2, grad_clip=c),
    "adamw_flat": lambda ps, c: optim.AdamWFlat(ps, lr=1e-2, grad_clip=c),
    "create_adamw": lambda ps, c: optim.create(list(ps), "adamw", lr=2e-2, grad_clip=c),
    "create_sgd": lambda ps, c: optim.create(list(ps), "sgd", lr=0.1, momentum=0.9, grad_clip=c),
    "create_lion": lambda ps, c: optim.create(list(ps), "lion", lr=1e-2, grad_clip=c),
    "lookahead": lambda ps, c: optim.Lookahead(torch.optim.AdamW(ps, lr=2e-2), k=2, grad_clip=c),
    "ema": lambda ps, c: optim.EMA(torch.optim.SGD(ps, lr=0.1), decay=0.9, grad_clip=c),
}


@pytest.mark.parametrize("kind", CLIPPED)
def test_grad_clip_option_equals_clipping_by_hand(kind):
    batch = data()
    clipped, by_hand = make_model(), make_model()
    opt_a, opt_b = CLIPPED[kind](clipped.parameters(), 0.5), CLIPPED[kind](by_hand.parameters(), None)
    for _ in range(3):
        for model, opt in ((clipped, opt_a), (by_hand, opt_b)):
            opt.zero_grad()
            loss_of(model, batch).backward()
        assert torch.nn.utils.clip_grad_norm_(list(by_hand.parameters()), 0.5) > 0.5  # clipping is active
        opt_a.step()
        opt_b.step()
    for a, b in zip(weights(clipped), weights(by_hand)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_create_wraps_torch_optimizers_for_grad_clip_and_keeps_the_inner_update():
    model = make_model()
    opt = optim.create(model, "adamw", lr=1e-2, grad_clip=1.0)
    assert isinstance(opt, optim.GradClip) and isinstance(opt.inner, torch.optim.AdamW)
    assert opt.param_groups is opt.inner.param_groups and opt.param_groups[0]["lr"] == 1e-2
    assert isinstance(optim.create(model, "lion", grad_clip=1.0), optim.Lion)   # descend's own clip themselves


def test_grad_clip_clips_after_each_closure_evaluation():
    batch = data()
    clipped, by_hand = make_model(), make_model()
    opt_a = optim.GradClip(torch.optim.SGD(clipped.parameters(), lr=0.1), max_norm=0.5)
    opt_b = torch.optim.SGD(by_hand.parameters(), lr=0.1)

    def closure():
        opt_a.zero_grad()
        value = loss_of(clipped, batch)
        value.backward()
        return value
    for _ in range(3):
        opt_a.step(closure)
        opt_b.zero_grad()
        loss_of(by_hand, batch).backward()
        assert torch.nn.utils.clip_grad_norm_(list(by_hand.parameters()), 0.5) > 0.5
        opt_b.step()
    for a, b in zip(weights(clipped), weights(by_hand)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


@pytest.mark.parametrize("kind", ["lookahead", "grad_clip", "adamw_flat", "lion"])
def test_add_param_group_is_stepped_like_a_group_given_at_construction(kind):
    """A group added later (e.g. unfreezing a layer) trains exactly as if it had been there from the start."""
    batch = data()
    late, early = make_model(), make_model()
    opt_late = FACTORIES[kind](late[0])   # nn.Linear has .parameters(), so plain() builds over it
    opt_late.add_param_group({"params": late[2].parameters()})
    opt_early = FACTORIES[kind](nn.ModuleList([early[0], early[2]]))
    train(late, opt_late, 3, batch)
    train(early, opt_early, 3, batch)
    assert len(opt_late.param_groups) == 2
    for a, b in zip(weights(late), weights(early)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def _one_layer_then_the_other(name: str, build) -> tuple[nn.Module, nn.Module]:
    """Two copies of a model: one optimizer built over both layers, one built over the first and given the
    last by add_param_group. The same data, three steps each."""
    batch = data()
    late, early = make_model(), make_model()
    opt_late = build(late[0], name)
    opt_late.add_param_group({"params": list(late[2].parameters())})
    opt_early = build(nn.ModuleList([early[0], early[2]]), name)
    for model, opt in ((late, opt_late), (early, opt_early)):
        for _ in range(3):
            closure = lambda: loss_of(model, batch).backward() or loss_of(model, batch)
            opt.zero_grad()
            loss_of(model, batch).backward()
            opt.step(closure if name == "lbfgs" else None)
    return late, early


ADDABLE = [n for n in optim.available() if n not in ("lbfgs", "sparse_adam", "muon")]


@pytest.mark.parametrize("name", ADDABLE)
def test_add_param_group_works_on_every_optimizer_create_builds(name):
    """create() names its parameters (param_names), and torch refuses an unnamed group next to named ones: the
    added group gets names, and trains like a group given at construction (create's decay split aside)."""
    late, early = _one_layer_then_the_other(name, lambda part, n: optim.create(part, n, grad_clip=10.0,
                                                                                decay_norms_and_biases=True))
    # one group over both layers against two groups: the same update (Prodigy shares one d over all groups,
    # and each Schedule-Free group counts the same steps)
    for a, b in zip(weights(late), weights(early)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_add_param_group_works_on_muon_sparse_adam_and_routed_parts_and_lbfgs_refuses_it():
    muon = optim.create([("w", nn.Parameter(torch.randn(3, 2)))], "muon")
    muon.add_param_group({"params": [nn.Parameter(torch.randn(2, 2))]})
    assert muon.param_groups[-1]["param_names"] == ["group1.param0"]
    sparse = optim.create(nn.Embedding(4, 2, sparse=True), "sparse_adam")
    sparse.add_param_group({"params": nn.Embedding(3, 2, sparse=True).parameters()})
    assert len(sparse.param_groups) == 2
    with pytest.raises(ValueError, match="lbfgs works on one param group"):
        optim.create(nn.Linear(2, 1), "lbfgs").add_param_group({"params": [nn.Parameter(torch.zeros(2))]})


@pytest.mark.parametrize("spec", ["adamw", "lion", ("schedule_free_sgd", {"lr": 0.1}),
                                  lambda named: torch.optim.SGD([p for _, p in named], lr=0.1)])
def test_a_group_added_to_a_routed_part_is_stepped_and_scheduled_by_the_routed_optimizer(spec):
    model, extra = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)), nn.Linear(3, 1)
    routed = optim.route(model, {optim.name("0.*"): spec, optim.other: "sgd"})
    routed.optimizers[0].add_param_group({"params": list(extra.parameters())})
    added = routed.optimizers[0].param_groups[-1]
    assert added["params"] == list(extra.parameters()) and any(g is added for g in routed.param_groups)
    before = [p.detach().clone() for p in extra.parameters()]
    routed.train()
    for _ in range(2):
        routed.zero_grad()
        (model(torch.ones(4, 3)).sum() + extra(torch.ones(4, 3)).sum()).backward()
        routed.step()
    assert all(not torch.equal(a, p) for a, p in zip(before, extra.parameters()))
    assert len(routed.state_dict()["param_groups"]) == len(routed.param_groups) == sum(
        len(part.param_groups) for part in routed.optimizers)


@pytest.mark.parametrize("make,added", [
    (lambda ps: optim.Prodigy(ps, d_coef=0.5), ("d0", "d_coef")),
    (lambda ps: optim.ScheduleFreeSGD(ps, lr=0.2, momentum=0.8), ("momentum", "lr_max")),
])
def test_a_state_dict_saved_before_a_new_group_entry_still_loads_and_steps(make, added):
    """Checkpoints from before #20 lack Prodigy's d0/d_coef and Schedule-Free's momentum/lr_max: loading one keeps
    this optimizer's values for them, so the run resumes instead of failing with a KeyError."""
    batch = data()
    model = make_model()
    opt = make(model.parameters())
    train(model, opt, 2, batch)
    saved = opt.state_dict()
    for group in saved["param_groups"]:
        for key in added:
            del group[key]
    resumed = make(model.parameters())
    built_with = {key: resumed.param_groups[0][key] for key in added}
    resumed.load_state_dict(saved)
    assert all(group[key] == built_with[key] for group in resumed.param_groups for key in added)
    assert resumed.param_groups[0]["k" if "lr_max" in added else "d"] == opt.param_groups[0][
        "k" if "lr_max" in added else "d"]   # the saved values themselves were loaded
    train(model, resumed, 2, batch)
    assert all(torch.isfinite(p).all() for p in model.parameters())
