"""fit switches Schedule-Free and EMA optimizers to their averaged weights for evaluation and at the end."""
import pytest
import torch
from torch import nn

import descend as ds
from descend import optim
from descend import DescendError


def regression(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[2.0], [-1.0], [0.5]]) + 0.05 * torch.randn(n, 1, generator=g)


def run(make):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = make(model.parameters())
    result = ds.fit(model, regression(128, 0), val=regression(64, 1), optimizer=opt, max_steps=24,
                    eval_every=6, batch_size=32, progress=False)
    xv, yv = regression(64, 1)
    final_val = nn.functional.mse_loss(model(xv), yv).item()
    return result, opt, final_val


def test_schedule_free_is_evaluated_on_x_and_returned_in_eval_mode():
    result, opt, final_val = run(lambda ps: optim.ScheduleFreeAdamW(ps, lr=0.05))
    # 4 evaluations, each followed by more steps: stepping would raise if train() had not been restored
    assert sum("val_loss" in r for r in result.history) == 4
    assert opt.param_groups[0]["train_mode"] is False
    assert result.history[-1]["val_loss"] == pytest.approx(final_val, rel=1e-6)
    opt.train()  # y differs from x, so the evaluation really used other weights than training
    xv, yv = regression(64, 1)
    assert nn.functional.mse_loss(result.model(xv), yv).item() != pytest.approx(final_val, rel=1e-6)


def test_ema_weights_are_evaluated_and_left_in_the_model():
    result, opt, final_val = run(lambda ps: optim.EMA(torch.optim.AdamW(ps, lr=0.05), decay=0.8))
    assert result.history[-1]["val_loss"] == pytest.approx(final_val, rel=1e-6)
    debias = 1 - 0.8 ** opt.count
    for slot, p in zip(opt.extra, result.model.parameters()):
        torch.testing.assert_close(p.detach(), slot["avg"] / debias, rtol=0, atol=1e-7)
    assert result.history[-1]["val_loss"] < result.history[5]["val_loss"]


def test_fit_by_name_with_adamw_flat_follows_torch_adamw():
    runs = {}
    for name in ("adamw", "adamw_flat"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        result = ds.fit(model, regression(128, 0), optimizer=name, lr=0.01, weight_decay=0.1, max_steps=30,
                        batch_size=32, progress=False)
        runs[name] = [r["loss"] for r in result.history]
    assert runs["adamw_flat"] == pytest.approx(runs["adamw"], rel=1e-5)
    assert runs["adamw"][-1] < 0.5 * runs["adamw"][0]


@pytest.mark.parametrize("make", [lambda ps: optim.EMA(torch.optim.SGD(ps, lr=0.5), decay=0.5),
                                  lambda ps: optim.ScheduleFreeSGD(ps, lr=0.5)], ids=["ema", "schedule_free"])
def test_restore_best_puts_back_the_evaluated_weights(make):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    xv, yv = regression(64, 1)
    noisy = (regression(128, 0)[0], torch.randn(128, 1, generator=torch.Generator().manual_seed(5)))
    result = ds.fit(model, noisy, val=(xv, yv), optimizer=make(model.parameters()), max_steps=40, eval_every=2,
                    batch_size=16, stop=[ds.stop.Patience(3, restore_best=True)], progress=False)
    restored = nn.functional.mse_loss(result.model(xv), yv).item()
    assert restored == pytest.approx(result.best["val_loss"], rel=1e-6)
    assert result.best["step"] < result.history[-1]["step"]  # the best was not the last evaluation


def test_schedule_free_sgd_schedules_its_momentum_and_refuses_a_meaningless_beta2():
    """Its momentum lives in the group's "momentum" (as in the authors' code), so a schedule drives it; before,
    it hid in betas=(m, 0.0) and a beta2 schedule was accepted and did nothing."""
    torch.manual_seed(0)
    X, y = torch.randn(64, 3), torch.randn(64, 1)
    model = torch.nn.Linear(3, 1)
    with pytest.raises(DescendError, match="schedule for 'beta2'"):
        ds.fit(model, (X, y), optimizer="schedule_free_sgd", lr=0.1, max_steps=2,
               schedule={"beta2": ds.schedules.constant(0.5)}, progress=False)
    opt = optim.create(model, "schedule_free_sgd", lr=0.1)
    ds.fit(model, (X, y), optimizer=opt, max_steps=3, schedule={"momentum": ds.schedules.constant(0.6)},
           progress=False)
    assert [group["momentum"] for group in opt.param_groups] == [0.6]
