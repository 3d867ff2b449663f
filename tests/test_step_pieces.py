"""Per-step pieces made cheaper keep what they did: the tables' quantile-bin encoding (closed form), the member loss
told once that no row is held out, and a wrapper optimizer's plain step (the inner optimizer's hooks still run, the
average is exact)."""
from __future__ import annotations

import torch

from descend.apps.tabular.members import MemberLoss, with_member
from descend.apps.tabular.model import PiecewiseLinear
from descend.optim import EMA


def test_each_number_is_encoded_by_its_place_in_each_of_its_quantile_bins():
    encoding = PiecewiseLinear([[0.0, 1.0, 3.0], [], [-2.0, 2.0]])   # the middle column has no bins
    numbers = torch.tensor([[2.0, 9.0, 0.0], [-1.0, 9.0, -5.0], [5.0, 9.0, 1.0]])
    want = torch.tensor([[1.0, 0.5, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 0.75]])   # bins [0,1], [1,3], then [-2,2]
    assert encoding.width == 3 and torch.equal(encoding(numbers), want)


def test_the_member_loss_told_that_no_row_is_held_out_takes_the_same_mean():
    output, none = torch.randn(6, 4, 1), torch.full((6,), -1)
    for loss, y in (("mse", torch.randn(6)), ("poisson", torch.tensor([0.0, 1, 2, 5, 0, 3]))):
        y = with_member(y, none)
        assert torch.equal(MemberLoss(loss, held_out=False)(output, y), MemberLoss(loss)(output, y))


def test_a_wrapped_optimizer_steps_with_its_hooks_and_the_average_follows_the_weights():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    inner = torch.optim.SGD([weight], lr=0.5)
    calls = []
    inner.register_step_post_hook(lambda optimizer, args, kwargs: calls.append(float(weight[0])))
    ema = EMA(inner, decay=0.5)
    for _ in range(2):
        weight.grad = torch.tensor([1.0, 1.0])
        ema.step()
    assert calls == [0.5, 0.0]   # the hook saw each update
    # avg_2 = 0.5 * (0.5 * w_1) + 0.5 * w_2 with w_1 = (0.5, -2.5), w_2 = (0, -3), read as avg_2 / (1 - 0.5^2)
    ema.eval()
    assert torch.allclose(weight.detach(), torch.tensor([0.125 / 0.75, -2.125 / 0.75]))
