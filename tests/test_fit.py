"""fit end to end: closed-form agreement, real accuracy, bit-identity with torch.optim, reproducibility."""
import math

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from descend.core import metrics
from descend.fit import losses


def _regression(n=400, d=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    w, b = torch.randn(d, generator=g), 0.7
    y = X @ w + b + 0.1 * torch.randn(n, generator=g)
    return X, y


def _lstsq(X, y):
    A = torch.cat([X, torch.ones(len(X), 1)], dim=1).double()
    return torch.linalg.lstsq(A, y.double().unsqueeze(1)).solution.squeeze(1)


def _fitted(model):
    return torch.cat([model.weight.detach().flatten(), model.bias.detach()]).double()


def _rel_err(a, b):
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item()


def _hand_loop(model: nn.Module, opt: torch.optim.Optimizer, X, y, *, epochs: int, seed: int, batch: int = 32):
    """The loop a user writes by hand: one randperm per epoch from a seeded generator, MSE, step."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=g)
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            nn.functional.mse_loss(model(X[idx]).squeeze(-1), y[idx]).backward()
            opt.step()


def _assert_same_weights(ours: nn.Module, theirs: nn.Module) -> None:
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name

def test_linear_regression_reaches_least_squares_with_lbfgs():
    X, y = _regression()
    model = nn.Linear(5, 1)
    ds.fit(model, (X, y), loss="mse", optimizer="lbfgs", lr=1.0, batch_size=len(X), max_steps=20, progress=False)
    assert _rel_err(_fitted(model), _lstsq(X, y)) < 1e-4


def test_linear_regression_reaches_least_squares_with_adam_and_cosine():
    X, y = _regression()
    model = nn.Linear(5, 1)
    ds.fit(model, (X, y), loss="mse", optimizer="adam", lr=0.05, batch_size=len(X), max_steps=1500,
           schedule=ds.schedules.cosine(), progress=False)
    assert _rel_err(_fitted(model), _lstsq(X, y)) < 1e-4


@pytest.mark.slow
def test_mlp_on_digits_reaches_97_percent():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    result = ds.fit(model, (X_train, y_train), loss="cross_entropy", lr=3e-3, batch_size=32, max_epochs=30,
                    schedule=ds.schedules.warmup_cosine(0.05), progress=False)
    with torch.no_grad():
        predicted = model(torch.as_tensor(X_test, dtype=torch.float32)).argmax(1).numpy()
    assert (predicted == y_test).mean() >= 0.97
    assert result.stop_reason == "reached the epoch limit (30 epochs)"


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 1))


def test_adamw_is_bit_identical_to_a_hand_written_loop():
    X, y = _regression(n=200, d=6)
    torch.manual_seed(3)
    ours = _mlp()
    theirs = _mlp()
    theirs.load_state_dict(ours.state_dict())
    ds.fit(ours, (X, y), loss="mse", optimizer="adamw", lr=1e-2, weight_decay=0.1, batch_size=32, max_epochs=3,
           seed=5, progress=False)

    # The documented contract: shuffling draws torch.randperm from torch.Generator().manual_seed(seed) each epoch;
    # weight decay applies to >= 2-D weights only.
    decay = [p for p in theirs.parameters() if p.ndim >= 2]
    keep = [p for p in theirs.parameters() if p.ndim < 2]
    # AdamW's update by the kernel the registry's "adamw" picks for many small tensors (torch.optim.AdamW's update:
    # tests/test_optim_fast.py)
    opt = ds.optim.AdamWFlat([{"params": decay, "weight_decay": 0.1}, {"params": keep, "weight_decay": 0.0}], lr=1e-2)
    _hand_loop(theirs, opt, X, y, epochs=3, seed=5)
    _assert_same_weights(ours, theirs)


def test_a_model_handed_over_in_eval_mode_trains_in_train_mode():
    X, y = _regression(n=64)
    model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 1)).eval()
    modes = []

    class Watch(ds.loop.Callback):
        def on_step(self, state, record):
            modes.append(model.training)
    ds.fit(model, (X, y), max_steps=3, callbacks=[Watch()], progress=False, doctor=False)
    assert modes == [True, True, True]


def test_same_seed_gives_the_same_history_and_another_seed_does_not():
    X, y = _regression(n=120)

    def run(seed):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 1))
        return ds.fit(model, (X, y), val=(X[:30], y[:30]), loss="mse", batch_size=16, max_epochs=3, seed=seed,
                      progress=False).history

    assert run(7) == run(7)
    assert [r["loss"] for r in run(7)] != [r["loss"] for r in run(8)]


def test_history_has_the_documented_columns():
    X, y = _regression(n=64)
    result = ds.fit(nn.Linear(5, 1), (X, y), val=(X, y), loss="mse", batch_size=16, max_epochs=2,
                    metrics=["rmse", "mae"], progress=False)
    assert [r["step"] for r in result.history] == list(range(1, 9))
    assert [r["epoch"] for r in result.history] == [0, 0, 0, 1, 1, 1, 1, 2]
    for key in ("loss", "lr", "grad_norm"):
        assert all(key in r for r in result.history)
    evaluated = [r for r in result.history if "val_loss" in r]
    assert [r["step"] for r in evaluated] == [4, 8]
    assert evaluated[-1]["val_rmse"] == pytest.approx(evaluated[-1]["val_loss"] ** 0.5, rel=1e-5)
    assert result.best == min(evaluated, key=lambda r: r["val_loss"])


def test_dataset_and_dataloader_inputs_train():
    X, y = _regression(n=96)
    for data in (TensorDataset(X, y), DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)):
        model = nn.Linear(5, 1)
        result = ds.fit(model, data, loss="mse", lr=0.05, max_epochs=5, batch_size=32, progress=False)
        assert len(result.history) == 15
        assert result.history[-1]["loss"] < result.history[0]["loss"] / 2


def test_gradient_accumulation_matches_one_big_batch():
    X, y = _regression(n=64)
    big, accumulated = nn.Linear(5, 1), nn.Linear(5, 1)
    accumulated.load_state_dict(big.state_dict())
    kw = dict(loss="mse", optimizer="sgd", lr=0.1, max_steps=4, progress=False)
    ds.fit(big, DataLoader(TensorDataset(X, y), batch_size=32), **kw)  # unshuffled: rows 0-31, 32-63, ...
    ds.fit(accumulated, DataLoader(TensorDataset(X, y), batch_size=16), accumulate=2, **kw)
    assert torch.allclose(big.weight, accumulated.weight, atol=1e-6)
    assert torch.allclose(big.bias, accumulated.bias, atol=1e-6)


def test_grad_clip_by_norm_bounds_the_update():
    X, y = _regression(n=32)
    y = y * 1000  # huge gradients
    model = nn.Linear(5, 1)
    before = torch.cat([model.weight.flatten(), model.bias]).detach().clone()
    result = ds.fit(model, (X, y), loss="mse", optimizer="sgd", lr=0.1, grad_clip=0.5, batch_size=32, max_steps=1,
                    progress=False)
    after = torch.cat([model.weight.flatten(), model.bias]).detach()
    assert result.history[0]["grad_norm"] > 100  # the norm before clipping is reported
    assert torch.linalg.vector_norm(after - before).item() == pytest.approx(0.1 * 0.5, rel=1e-4)


def test_grad_clip_by_value():
    X, y = _regression(n=32)
    model = nn.Linear(5, 1)
    before = model.weight.detach().clone()
    ds.fit(model, (X, y * 1000), loss="mse", optimizer="sgd", lr=1.0, grad_clip={"value": 0.01}, batch_size=32,
           max_steps=1, progress=False)
    assert (model.weight.detach() - before).abs().max().item() == pytest.approx(0.01, rel=1e-5)


def test_weight_decay_skips_biases_and_norms():
    model = _mlp()
    opt = ds.optim.create(model, "adamw", weight_decay=0.1)
    by_decay = {g["weight_decay"]: set(g["param_names"]) for g in opt.param_groups}
    assert by_decay[0.1] == {"0.weight", "3.weight"}
    assert by_decay[0.0] == {"0.bias", "1.weight", "1.bias", "3.bias"}
    everything = ds.optim.create(model, "adamw", weight_decay=0.1, decay_norms_and_biases=True)
    assert len(everything.param_groups) == 1 and everything.param_groups[0]["weight_decay"] == 0.1


def test_poisson_loss_is_zero_at_a_perfect_fit_and_keeps_the_likelihood_gradient():
    counts = torch.tensor([0.0, 1.0, 4.0, 9.0])
    assert losses.get("poisson")(torch.log(counts.clamp_min(1e-30)), counts).item() == pytest.approx(0.0, abs=1e-6)
    log_rate = torch.tensor([0.3, -0.2, 1.1, 2.0], requires_grad=True)
    losses.get("poisson")(log_rate, counts).backward()
    expected = (torch.exp(log_rate) - counts).detach() / 4  # d/dz mean(exp(z) - y z)
    assert torch.allclose(log_rate.grad, expected, atol=1e-7)


def test_a_weight_decay_schedule_leaves_biases_and_norms_undecayed():
    X, y = _regression(n=64, d=6)
    seen = []

    class Watch(ds.loop.Callback):
        def on_step(self, state, record):
            seen.append({tuple(g["param_names"]): g["weight_decay"] for g in state.optimizer.param_groups})

    ds.fit(_mlp(), (X, y), loss="mse", weight_decay=0.1, batch_size=16, max_steps=4, progress=False, doctor=False,
           schedule={"weight_decay": ds.schedules.linear(0.2, 0.0)}, callbacks=[Watch()])
    decayed, kept = ("0.weight", "3.weight"), ("0.bias", "1.weight", "1.bias", "3.bias")
    assert [s[decayed] for s in seen] == pytest.approx([0.2, 0.15, 0.1, 0.05])
    assert [s[kept] for s in seen] == [0.0] * 4
    seen.clear()  # one group (Adam's default 0 decays nothing): the schedule sets it
    ds.fit(_mlp(), (X, y), loss="mse", optimizer="adam", batch_size=16, max_steps=2, progress=False, doctor=False,
           schedule={"weight_decay": ds.schedules.constant(0.3)}, callbacks=[Watch()])
    assert [list(s.values()) for s in seen] == [[0.3], [0.3]]


def test_decay_norms_and_biases_from_fit_is_bit_identical_to_one_decayed_group():
    X, y = _regression(n=96, d=6)
    torch.manual_seed(4)
    ours, theirs = _mlp(), _mlp()
    theirs.load_state_dict(ours.state_dict())
    ds.fit(ours, (X, y), loss="mse", lr=1e-2, weight_decay=0.1, decay_norms_and_biases=True, batch_size=32,
           max_epochs=2, seed=2, progress=False)
    _hand_loop(theirs, ds.optim.AdamWFlat(theirs.parameters(), lr=1e-2, weight_decay=0.1), X, y, epochs=2, seed=2)
    _assert_same_weights(ours, theirs)


@pytest.mark.parametrize("name", ["adamw", "prodigy", "schedule_free_sgd", "schedule_free_adamw", "lion", "sgd"])
def test_lr_none_runs_each_optimizer_at_its_own_default(name):
    X, y = _regression(n=32)
    result = ds.fit(nn.Linear(5, 1), (X, y), loss="mse", optimizer=name, batch_size=32, max_steps=2, progress=False,
                    doctor=False)
    expected = ds.optim.entry(name).defaults()["lr"]
    assert [r["lr"] for r in result.history] == [expected, expected]
    assert ds.optim.entry("adamw").defaults()["lr"] == 1e-3  # the documented default of fit's default optimizer


@pytest.mark.parametrize("make", [
    lambda params: ds.optim.ScheduleFreeAdamW(params, lr=0.01),
    lambda params: ds.optim.EMA(torch.optim.SGD(params, lr=0.05), decay=0.9),
])
def test_a_schedule_free_or_ema_optimizer_can_train_in_a_second_fit(make):
    X, y = _regression(n=64)
    model = nn.Linear(5, 1)
    opt = make(model.parameters())
    first = ds.fit(model, (X, y), loss="mse", optimizer=opt, batch_size=16, max_steps=20, progress=False)
    second = ds.fit(model, (X, y), loss="mse", optimizer=opt, batch_size=16, max_steps=20, progress=False)
    assert second.stop_reason == "reached the step limit (20 steps)"
    assert second.history[-1]["loss"] < first.history[0]["loss"]
    with torch.no_grad():  # the returned model holds the evaluation (averaged) weights of the second run
        final = nn.functional.mse_loss(model(X).squeeze(-1), y).item()
    assert final < nn.functional.mse_loss(torch.zeros_like(y), y).item()


def _fans(w):
    return w.shape[1], w.shape[0]


@pytest.mark.parametrize("scheme", ["xavier", "glorot", "he", "kaiming"])
def test_init_schemes_draw_weights_with_their_formula_spread(scheme):
    model = nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 200))
    X, y = torch.randn(8, 400), torch.randn(8, 200)
    ds.fit(model, (X, y), init=scheme, loss="mse", lr=0.0, optimizer="sgd", max_steps=1, progress=False)
    for layer in (model[0], model[2]):
        w = layer.weight.detach()
        fan_in, fan_out = _fans(w)
        if scheme in ("xavier", "glorot"):  # uniform on [-a, a], a = sqrt(6 / (fan_in + fan_out))
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            assert w.abs().max().item() <= bound and w.abs().max().item() > 0.99 * bound
            std = bound / math.sqrt(3.0)
        else:  # normal, std = sqrt(2 / fan_in) (He et al. 2015, for ReLU)
            std = math.sqrt(2.0 / fan_in)
        assert w.mean().item() == pytest.approx(0.0, abs=0.02 * std)
        assert w.std().item() == pytest.approx(std, rel=0.02)
        assert torch.all(layer.bias == 0)


def test_orthogonal_init_gives_orthonormal_rows_or_columns():
    model = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 8))
    X, y = torch.randn(8, 20), torch.randn(8, 8)
    ds.fit(model, (X, y), init="orthogonal", loss="mse", lr=0.0, optimizer="sgd", max_steps=1, progress=False)
    tall, wide = model[0].weight.detach(), model[2].weight.detach()  # (30, 20) and (8, 30)
    assert torch.allclose(tall.T @ tall, torch.eye(20), atol=1e-5)
    assert torch.allclose(wide @ wide.T, torch.eye(8), atol=1e-5)
    assert torch.all(model[0].bias == 0) and torch.all(model[2].bias == 0)


def _torch_optimizers():
    import inspect
    return sorted((c for c in vars(torch.optim).values()
                   if inspect.isclass(c) and issubclass(c, torch.optim.Optimizer) and c is not torch.optim.Optimizer),
                  key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _torch_optimizers(), ids=lambda c: c.__name__)
def test_every_torch_optimizer_is_registered_and_builds(cls):
    names = [n for n in ds.optim.available()   # torch's class, or descend's faster way to run its update
             if cls in (ds.optim.entry(n).factory, getattr(ds.optim.entry(n).factory, "torch_class", None))]
    assert len(names) == 1, f"torch.optim.{cls.__name__} is not in the registry"
    model = nn.Linear(3, 3, bias=False)  # one 2-D weight: every algorithm accepts it (Muon takes only matrices)
    built = ds.optim.create(model, names[0])
    assert isinstance(built, cls) or isinstance(getattr(built, "inner", None), cls)
    assert built.param_groups[0]["params"] == [model.weight]


def test_named_losses_equal_torch_functional():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(16, 1, generator=g), torch.randn(16, generator=g)
    labels = (y > 0).long()
    assert torch.equal(losses.get("mse")(out, y), nn.functional.mse_loss(out.squeeze(1), y))
    assert torch.equal(losses.get("mae")(out, y), nn.functional.l1_loss(out.squeeze(1), y))
    assert torch.equal(losses.get("huber")(out, y), nn.functional.huber_loss(out.squeeze(1), y))
    assert torch.equal(losses.get("bce")(out, labels),
                       nn.functional.binary_cross_entropy_with_logits(out.squeeze(1), labels.float()))
    logits = torch.randn(16, 4, generator=g)
    assert torch.equal(losses.get("cross_entropy")(logits, labels), nn.functional.cross_entropy(logits, labels))


def test_metrics_align_an_n_by_1_output_with_its_target():
    out, y = torch.randn(16, 1), torch.randn(16)
    assert metrics.mse(out, y) == pytest.approx(nn.functional.mse_loss(out.squeeze(1), y).item(), rel=1e-6)
    assert metrics.mae(out, y) == pytest.approx(nn.functional.l1_loss(out.squeeze(1), y).item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"model output has shape \(16, 2\) but the target has shape \(16,\)"):
        metrics.mse(torch.randn(16, 2), y)


def test_a_batch_norm_model_trains_when_the_rows_leave_a_last_batch_of_one():
    """1793 rows = 28 x 64 + 1: torch's BatchNorm raises on a one-row batch in training mode, which stopped fit at
    the first pass's end; the lone row now joins the batch before it (a last batch of 65), every row still seen."""
    torch.manual_seed(0)
    x = torch.randn(1793, 8)
    y = (x[:, :1] > 0).float()
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))
    seen = []
    model[0].register_forward_hook(lambda module, args, out: seen.append(len(args[0])) if module.training else None)
    result = ds.fit(model, (x, y), loss="bce", max_epochs=2, progress=False, doctor=False)
    assert len(result.history) == 2 * 28
    assert seen[-28:] == [64] * 27 + [65]   # the second pass as fit drew it
    plain = ds.fit(nn.Linear(8, 1), (x, y), loss="bce", max_epochs=1, progress=False, doctor=False)
    assert len(plain.history) == 29         # without BatchNorm, batches are as before: 28 of 64 and 1 of 1


def test_pandas_columns_train_without_torchs_read_only_array_warning(recwarn):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=64), "b": rng.normal(size=64)})
    frame["y"] = 2 * frame.a - frame.b
    values = frame["y"].to_numpy()
    values.flags.writeable = False   # what pandas' copy-on-write hands out
    result = ds.fit(nn.Linear(2, 1), (frame[["a", "b"]], values), loss="mse", progress=False, max_epochs=2)
    assert len(result.history) == 2 and values.flags.writeable is False   # one full batch an epoch; y untouched
    assert not [w for w in recwarn if "not writable" in str(w.message)]
