"""lr_find: deterministic, stops at divergence, leaves model/optimizer/RNG exactly as they were; lr='auto'."""
import pytest
import torch
from torch import nn

import descend as ds
from descend.fit.lr_find import POSITION, suggest, valley



def data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return x, x @ torch.randn(6, generator=g) + 0.1 * torch.randn(n, generator=g)


def model():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1), nn.Dropout(0.1))


def weights(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_same_seed_same_curve_and_suggestion_from_the_minimum():
    a, b = ds.lr_find(model(), data(), "mse", seed=1), ds.lr_find(model(), data(), "mse", seed=1)
    assert a.lrs == b.lrs and a.losses == b.losses and a.suggestion == b.suggestion
    best = min(range(len(a.smoothed)), key=a.smoothed.__getitem__)
    assert a.min_loss_lr == a.lrs[best] and (a.suggestion, a.rule) == suggest(a.lrs, a.smoothed)
    assert a.suggestion < a.min_loss_lr
    assert a.lrs[0] == pytest.approx(1e-7) and all(q > p for p, q in zip(a.lrs, a.lrs[1:]))


def test_suggestion_rule_on_a_known_curve():
    """Flat at 1 for 20 points, falling by 0.04 a point over the next 21, then rising: the valley runs from the
    last flat point (19) to the bottom (40), and the suggestion sits POSITION of the way down it."""
    lrs = [10 ** (-6 + k / 10) for k in range(61)]          # 1e-6 .. 1, ten points per decade
    curve = [1.0] * 20 + [1 - 0.04 * (i - 19) for i in range(20, 41)] + [0.16 + 0.1 * (i - 40) for i in range(41, 61)]
    assert valley(curve) == (19, 40)
    suggestion, rule = suggest(lrs, curve)
    assert suggestion == lrs[19 + round(POSITION * 21)] == lrs[33] and "valley from lr 7.9e-05 to 1.0e-02" in rule
    noisy = [v + (0.003 if i % 2 else 0.0) for i, v in enumerate(curve)]  # noise on the way down is stepped over
    assert valley(noisy)[1] == 40 and abs(suggest(lrs, noisy)[0] / suggestion - 1) < 0.3
    rising = [1 + k for k in range(61)]
    assert valley(rising) == (0, 0) and suggest(lrs, rising)[0] == pytest.approx(1e-7)


def test_sweep_stops_at_divergence_before_the_end():
    found = ds.lr_find(model(), data(), "mse", end_lr=1e4, steps=100)
    assert found.diverged and ("divergence" in found.stop_reason or "non-finite" in found.stop_reason)
    assert len(found.lrs) < 100 and found.lrs[-1] < 1e4
    assert 1e-4 < found.suggestion < 1.0   # Adam on a standardized regression: a sane range
    assert "suggested lr" in found.summary()


def test_model_optimizer_and_rng_restored_exactly():
    m = model()
    opt = torch.optim.AdamW(m.parameters(), lr=0.01)
    x, y = data()
    for _ in range(3):  # give the optimizer some state to protect
        opt.zero_grad()
        nn.functional.mse_loss(m(x).squeeze(-1), y).backward()
        opt.step()
    before_w, before_opt = weights(m), opt.state_dict()
    before_moments = {i: {k: v.clone() for k, v in s.items()} for i, s in before_opt["state"].items()}
    rng = torch.get_rng_state()
    ds.lr_find(m, (x, y), "mse", optimizer=opt, steps=30)
    assert all(torch.equal(before_w[k], v) for k, v in m.state_dict().items())
    after = opt.state_dict()
    assert after["param_groups"][0]["lr"] == 0.01 and "initial_lr" not in after["param_groups"][0]
    assert all(torch.equal(before_moments[i][k], v) for i, s in after["state"].items() for k, v in s.items())
    assert torch.equal(torch.get_rng_state(), rng)


def test_fit_after_lr_find_is_bit_identical_and_auto_reads_its_own_sweep_by_the_same_rule():
    train = data()
    plain = ds.fit(model(), train, loss="mse", lr=3e-3, max_steps=30, progress=False)
    m = model()
    ds.lr_find(m, train, "mse", batch_size=64)
    after = ds.fit(m, train, loss="mse", lr=3e-3, max_steps=30, progress=False)
    assert [r["loss"] for r in after.history] == [r["loss"] for r in plain.history]
    auto = ds.fit(model(), train, optimizer="adamw", lr="auto", max_steps=80, progress=False)
    sweep = [r for r in auto.history if r.get("sweep")]   # the sweep's steps are the run's first steps
    assert len(sweep) == auto.choice.probe_steps and len(auto.history) == 80
    assert auto.choice.lr == suggest([r["lr"] for r in sweep], [r["smoothed"] for r in sweep])[0]


def test_a_users_dataloader_keeps_its_shuffle_order():
    from torch.utils.data import DataLoader, TensorDataset
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(5))
    state = loader.generator.get_state()
    ds.lr_find(model(), loader, "mse", steps=30)
    assert torch.equal(loader.generator.get_state(), state)


def test_auto_with_an_optimizer_instance_sets_its_lr():
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    result = ds.fit(m, data(), loss="mse", optimizer=opt, lr="auto", max_steps=60, progress=False)
    assert result.history[0]["lr"] != 0.5 and opt.param_groups[0]["lr"] == result.history[-1]["lr"]
    assert result.history[result.choice.probe_steps]["lr"] == result.choice.lr


@pytest.mark.parametrize("kwargs, word", [
    ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr < end_lr"), ({"steps": 2}, "steps"), ({"steps": 9}, "steps"),
    ({"steps": True}, "steps"), ({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
    ({"smoothing": 1.5}, "smoothing"), ({"smoothing": -0.1}, "smoothing"), ({"diverge": 0.5}, "diverge"),
    ({"diverge": float("nan")}, "diverge"), ({"end_lr": float("inf")}, "end_lr"),
    ({"start_lr": float("nan")}, "start_lr"), ({"start_lr": 0.0}, "start_lr")])
def test_bad_sweep_settings_are_named(kwargs, word):
    m = model()
    before = weights(m)
    with pytest.raises(ds.DescendError, match=word):
        ds.lr_find(m, data(), "mse", **kwargs)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_the_sweep_reaches_end_lr_and_smooths_its_last_step():
    """50 steps from 1e-6 to 1e-3: 50 points, the last at 1e-3 (it used to be dropped)."""
    with pytest.warns(UserWarning, match="raise end_lr: the loss barely moved"):
        found = ds.lr_find(nn.Linear(6, 1), data(), "mse", start_lr=1e-6, end_lr=1e-3, steps=50)
    assert len(found.lrs) == len(found.smoothed) == 50 and not found.diverged
    assert found.lrs[0] == pytest.approx(1e-6) and found.lrs[-1] == pytest.approx(1e-3)
    assert found.lrs[1] / found.lrs[0] == pytest.approx(1000 ** (1 / 49))
    assert "swept lr 1.0e-06 .. 1.0e-03 over 50 steps" in found.summary()
    assert found.suggestion < 1e-3 and "never fell" in found.rule  # no valley (a 2% dip is noise): a guess


def test_a_sweep_that_starts_too_high_says_to_lower_start_lr():
    with pytest.warns(UserWarning, match="lower start_lr: the loss rose"):
        found = ds.lr_find(nn.Linear(6, 1), data(), "mse", start_lr=1.0, end_lr=1e3, steps=30)
    assert found.diverged and found.suggestion < 1.0


def test_fit_rejects_other_lr_words():
    with pytest.raises(ds.DescendError, match="'auto'"):
        ds.fit(model(), data(), loss="mse", lr="fast", max_steps=1, progress=False)


@pytest.mark.parametrize("smoothed, says, never", [
    ([1.056, 0.9, 0.753, 5.0], "rose after falling only from 1.056 to 0.753", "rose from the first steps"),
    ([1.0, 1.2, 3.0, 9.0], "rose from the first steps on", "falling only"),
    ([1.0, 0.99, 0.995, 0.99], "barely moved", "rose")])
def test_a_guess_warning_says_what_the_loss_did(smoothed, says, never):
    from descend.fit.lr_find import LRFindResult, _guess_warning
    found = LRFindResult(lrs=[1e-7, 1e-5, 1e-3, 1e-1], losses=smoothed, smoothed=smoothed, suggestion=1e-4,
                         min_loss_lr=1e-3, stop_reason="", diverged=smoothed[-1] > 4 * min(smoothed), rule="")
    message = _guess_warning(found)
    assert says in message and never not in message


def noise_sweep(seed=0):
    """lr_find on 500 rows whose target is noise independent of the inputs, from the default start_lr 1e-7."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(500, 6, generator=g), torch.randn(500, 1, generator=g)
    torch.manual_seed(seed)
    with pytest.warns(UserWarning) as caught:
        ds.lr_find(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1)), (x, y), "mse")
    return str(caught[0].message)


def test_a_noise_target_at_the_lowest_start_lr_is_told_to_check_the_target_not_to_lower_start_lr():
    """The curve 'fell' from one batch's 1.257 to 1.005 and rose: at start_lr 1e-7 a lower start cannot help."""
    message = noise_sweep()
    assert "lower start_lr" not in message
    assert ("; the loss rose after falling only from 1.257 to 1.005, and start_lr 1e-07 is already float32's "
            "resolution for a weight near 1: a lower one cannot help, the loss does not follow the lr; check that the "
            "target can be predicted from the inputs") in message


def test_the_no_valley_warning_quotes_the_steady_fall_it_measured():
    """The rule reads the longest steady fall (7% here), not the first batch to the lowest point (20%)."""
    message = noise_sweep()
    assert message.startswith("lr_find: the smoothed loss never fell steadily by 20% over 5 steps between lr 1.0e-07")
    assert "(its longest steady fall, from 1.078 to 1.005 over 27 steps, is 7%)" in message
