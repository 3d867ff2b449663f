"""The registry's adam/adamw/sgd: torch's update by the fastest kernel, chosen from the parameters.

Every implementation is compared with torch's own for-loop reference (foreach=False, fused=False) on the same
gradients, in float32 as models train; the flat buffer and torch's fused kernel run the same arithmetic (they differ
only where a tensor's end falls in a vector lane instead of the scalar tail). found_inf skips an update on the device, as torch's GradScaler relies on.
"""
import pytest
import torch
from torch import nn

from descend import optim
from descend import DescendError
from descend.optim import fast

HYPER = {"adamw": dict(lr=0.05, weight_decay=0.1), "adam": dict(lr=0.05, weight_decay=0.1),
         "sgd": dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True)}
EVERY_TENSOR = dict(decay_norms_and_biases=True)   # the registry's own split would leave 1-D tensors undecayed
TORCH = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def tensors(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g).requires_grad_() for s in shapes]


def train(make, shapes, steps=8, found_inf_at=(), left_out=()):
    """`steps` steps on fixed random gradients, with `found_inf` set where asked; the steps in `left_out` are
    not taken (their gradients still drawn)."""
    params = tensors(shapes)
    opt = make(params)
    g = torch.Generator().manual_seed(1)
    for k in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        if found_inf_at:
            opt.found_inf = torch.tensor(1.0 if k in found_inf_at else 0.0)
        if k not in left_out:
            opt.step()
    return [p.detach().clone() for p in params], opt


MANY_SMALL, FEW_LARGE = [(8, 16), (16,), (16, 4), (4,)], [(300, 400)]



@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("shapes", [MANY_SMALL, FEW_LARGE])
def test_the_default_kernel_matches_torch_reference_loop(name, shapes):
    ours, _ = train(lambda ps: optim.create(ps, name, **HYPER[name], **EVERY_TENSOR), shapes)
    reference, _ = train(lambda ps: TORCH[name](ps, **HYPER[name], foreach=False), shapes)
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,flat", [("adamw", optim.AdamWFlat), ("adam", fast.AdamFlat)])
def test_flat_buffer_and_torch_fused_agree_to_rounding(name, flat):
    ours, _ = train(lambda ps: optim.create(ps, name, impl="flat", **HYPER[name], **EVERY_TENSOR), MANY_SMALL)
    fused, _ = train(lambda ps: TORCH[name](ps, **HYPER[name], fused=True), MANY_SMALL)
    for a, b in zip(ours, fused):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert isinstance(optim.create(tensors(MANY_SMALL), name, impl="flat"), flat)


def test_auto_picks_the_flat_buffer_for_many_small_tensors_and_fused_for_large_ones():
    small = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    assert isinstance(optim.create(small, "adamw"), optim.AdamWFlat)
    large = nn.Linear(512, 512, bias=False)   # one tensor: nothing to flatten
    made = optim.create(large, "adamw")
    assert type(made) is torch.optim.AdamW and made.param_groups[0]["fused"]
    assert fast.choose(tensors([(fast.FLAT_BELOW,)] * 3)) == "fused"   # large tensors: torch's fused kernel
    assert fast.choose(tensors([(fast.FLAT_BELOW - 1,)] * 3)) == "flat"


@pytest.mark.parametrize("impl,flags", [("fused", {"fused": True}), ("foreach", {"foreach": True}),
                                        ("loop", {"foreach": False, "fused": False})])
def test_a_user_can_ask_for_one_implementation(impl, flags):
    made = optim.create(nn.Linear(4, 2), "adamw", impl=impl)
    assert type(made) is torch.optim.AdamW
    assert {k: made.param_groups[0][k] for k in flags} == flags


def test_options_only_torch_has_go_to_torch_and_the_flat_buffer_refuses_them():
    made = optim.create(nn.Linear(4, 2), "adamw", amsgrad=True)
    assert type(made) is torch.optim.AdamW and made.param_groups[0]["amsgrad"]
    with pytest.raises(DescendError, match="impl='flat' cannot take amsgrad"):
        optim.create(nn.Linear(4, 2), "adamw", amsgrad=True, impl="flat")
    with pytest.raises(DescendError, match="impl must be one of auto, fused, flat, foreach, loop, got 'fast'"):
        optim.create(nn.Linear(4, 2), "adamw", impl="fast")


@pytest.mark.parametrize("name,impl", [("adamw", "flat"), ("adamw", "fused"), ("adam", "flat"), ("sgd", None)])
def test_found_inf_skips_the_update_on_the_device(name, impl):
    options = {} if impl is None else {"impl": impl}
    make = lambda ps: optim.create(ps, name, **HYPER[name], **options, **EVERY_TENSOR)
    skipped, opt = train(make, MANY_SMALL, steps=4, found_inf_at=(1, 2))
    assert fast.skips_on_found_inf(opt)
    params, _ = train(lambda ps: TORCH[name](ps, **HYPER[name], foreach=False), MANY_SMALL, 4, left_out=(1, 2))
    for a, b in zip(skipped, params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_an_ema_skips_its_inner_update_and_its_average_where_found_inf_is_set_and_nothing_else():
    make = lambda ps: optim.EMA(optim.create(ps, "adamw", impl="flat", **HYPER["adamw"], **EVERY_TENSOR), decay=0.9)
    _, skipping = train(make, MANY_SMALL, steps=5, found_inf_at=(1, 2))
    assert fast.skips_on_found_inf(skipping)
    _, reference = train(make, MANY_SMALL, 5, left_out=(1, 2))
    for opt in (skipping, reference):
        opt.eval()   # the debiased averages
    assert skipping.count == reference.count == 3
    assert all(torch.equal(a, b) for a, b in zip(skipping._params(), reference._params()))
    finite, _ = train(make, MANY_SMALL, steps=5, found_inf_at=(99,))   # found_inf 0 on every step
    plain, _ = train(make, MANY_SMALL, steps=5)
    assert all(torch.equal(a, b) for a, b in zip(finite, plain))
    averaged = [train(make, MANY_SMALL, steps=5, found_inf_at=at)[1] for at in ((99,), ())]
    for opt in averaged:
        opt.eval()
    assert all(torch.equal(a, b) for a, b in zip(*(opt._params() for opt in averaged)))
    assert not fast.skips_on_found_inf(optim.EMA(optim.Lion(tensors([(3,)]))))   # its inner one cannot skip


def test_optimizers_without_a_device_side_skip_are_named_as_such():
    assert not fast.skips_on_found_inf(torch.optim.AdamW(tensors([(3,)]), foreach=True))
    assert not fast.skips_on_found_inf(optim.Lion(tensors([(3,)])))


def test_flat_groups_share_one_gradient_buffer_whose_norm_is_the_joint_norm():
    """The registry's split (decayed weights, undecayed biases) gives two groups; both live in one gradient buffer,
    so the joint norm is one reduction, and it stays right after model.zero_grad() rebinds the gradients."""
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = optim.create(model, "adamw", impl="flat")
    assert len(opt.param_groups) == 2 and len(opt.storage) == 1
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    for rebind in (False, True):
        if rebind:
            model.zero_grad(set_to_none=True)   # the next backward makes new gradient tensors outside the buffer
        model(x).square().mean().backward()
        expected = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
        torch.testing.assert_close(opt.grad_norm(), expected)
        assert opt.storage[0].data_ptr() == next(model.parameters()).grad.data_ptr()   # back in the buffer
        opt.step()
        opt.zero_grad()
        assert not opt.storage[0].any() and all(not p.grad.any() for p in model.parameters())


def test_a_flat_step_trusts_the_norms_look_at_the_layout_only_for_the_step_right_after_it():
    """grad_norm(steps_next=True) stands for the next step's look at which gradients live in the buffer (fit
    measures and steps with nothing between); a zero_grad in between, or a plain grad_norm(), leaves the step to
    look again, so gradients rebound after it are still the ones the update uses."""
    def trained(pattern: str) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = optim.create(model, "adamw", impl="flat", lr=0.1)
        x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
        for _ in range(3):
            model(x).square().mean().backward()
            if pattern == "fit":
                opt.grad_norm(steps_next=True)
            else:   # the norm looked at, then the gradients rebound by a fresh backward before the step
                opt.grad_norm(steps_next=pattern == "zeroed")
                if pattern == "zeroed":
                    opt.zero_grad()
                model.zero_grad(set_to_none=True)
                model(x).square().mean().backward()
            opt.step()
            opt.zero_grad()
        return [p.detach().clone() for p in model.parameters()]

    for pattern in ("plain", "zeroed"):
        for fit_way, rebound in zip(trained("fit"), trained(pattern)):
            assert torch.equal(fit_way, rebound)


def test_flat_groups_of_two_dtypes_keep_a_buffer_each_and_one_joint_norm():
    single, double = tensors([(4, 3), (3,)]), [t.double().detach().requires_grad_() for t in tensors([(5,), (2, 2)], 1)]
    opt = optim.AdamWFlat([{"params": single}, {"params": double}], lr=0.1)
    assert [s.dtype for s in opt.storage] == [torch.float32, torch.float64]
    for p in single + double:
        p.grad.copy_(torch.full_like(p, 0.5))
    expected = 0.5 * sum(p.numel() for p in single + double) ** 0.5
    torch.testing.assert_close(opt.grad_norm().item(), expected)


@pytest.mark.parametrize("user_flushes", [False, True])
def test_a_flat_step_sends_a_dead_units_first_moment_to_zero_and_restores_the_denormal_mode(user_flushes):
    """A weight whose gradient turns exactly 0 (a dead ReLU unit's): its first moment shrinks by beta1 a step and,
    without flushing, sticks at a denormal a few times float32's smallest (1.4e-45), which makes every later step slow. The flat
    step flushes denormals while it runs: the moment reaches 0, the weights equal those of torch's fused AdamW
    (the same kernel on the same three numbers, without flushing) bit for bit, and the thread's mode afterwards
    is the one it had before."""
    from descend.optim.denormals import flushing
    ours = [torch.tensor([1.0, -2.0], requires_grad=True), torch.tensor([0.5], requires_grad=True)]
    theirs = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    flat = optim.AdamWFlat(ours, lr=0.01, weight_decay=0.1)
    reference = torch.optim.AdamW([theirs], lr=0.01, weight_decay=0.1, fused=True)
    torch.set_flush_denormal(user_flushes)
    try:
        for step in range(1200):
            gradient = [0.3, -0.1, 1e-3 if step < 5 else 0.0]
            ours[0].grad, ours[1].grad = torch.tensor(gradient[:2]), torch.tensor(gradient[2:])
            theirs.grad = torch.tensor(gradient)
            flat.step()
            reference.step()
            assert flushing() == user_flushes
        assert flat.state[ours[0]]["exp_avg"][2].item() == 0.0
        stuck = reference.state[theirs]["exp_avg"][2].item()
        assert stuck == 0.0 if user_flushes else 0.0 < stuck < torch.finfo(torch.float32).tiny
        assert torch.equal(torch.cat([ours[0].detach(), ours[1].detach()]), theirs.detach())
    finally:
        torch.set_flush_denormal(False)


def test_fits_step_flushes_denormals_for_torchs_own_fused_adamw_too():
    """fit steps every optimizer through `step_unwrapped`, which flushes denormals on the CPU: torch's fused AdamW
    (the tables' choice for wide networks) stepped that way sends a dead weight's first moment to 0, where the
    same optimizer stepped directly leaves it stuck at a denormal; the weights are the same bits."""
    from descend.optim.base import step_unwrapped
    from descend.optim.denormals import flushing
    ours, theirs = (torch.tensor([1.0, -2.0, 0.5], requires_grad=True) for _ in range(2))
    mine, reference = (torch.optim.AdamW([p], lr=0.01, weight_decay=0.1, fused=True) for p in (ours, theirs))
    for step in range(1200):
        for p in (ours, theirs):
            p.grad = torch.tensor([0.3, -0.1, 1e-3 if step < 5 else 0.0])
        step_unwrapped(mine)
        reference.step()
        assert not flushing()
    assert mine.state[ours]["exp_avg"][2].item() == 0.0
    assert 0.0 < reference.state[theirs]["exp_avg"][2].item() < torch.finfo(torch.float32).tiny
    assert torch.equal(ours.detach(), theirs.detach())


def test_a_flushing_block_inside_another_leaves_the_mode_to_the_outer_one_which_restores_it_even_on_an_error():
    """fit's step flushes around the flat update, whose groups flush again inside it: the inner blocks know the
    outer one switched flushing on (without asking the floating-point unit), never switch it off themselves,
    and once the outer block ends, by an error too, the next block switches it on again."""
    from descend.optim.denormals import flushed, flushing
    cpu = torch.device("cpu")
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            with flushed(cpu):
                assert flushing()
                with flushed(cpu):
                    assert flushing()
                assert flushing()   # the inner block left the outer one's mode as it was
                1 / 0
        assert not flushing()
