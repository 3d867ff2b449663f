"""The cheaper paths of issue 14's fourth pass compute what the plain ones did: the doctor's linear references
from one Gram matrix, column spreads in two passes, per-layer samples on a thinning schedule, step hooks run
without torch's profiler scope, and the lr sweep's snapshots from reused state_dict tensors."""
import copy

import torch
from torch import nn

import descend as ds
from descend.doctor import reference
from descend.doctor.instruments import DENSE, Instruments, Readings, next_sampled, sampled
from descend.fit.auto.sweep import Sweep
from descend.optim.base import step_unwrapped


def _plain_ridge_outputs(z, y, z_eval, strength):
    """Ridge regression with an unpenalized intercept by the normal equations, written out directly."""
    a = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], dim=1)
    penalty = strength * len(z) * torch.eye(a.shape[1], dtype=z.dtype)
    penalty[-1, -1] = 0.0
    w = torch.linalg.solve(a.T @ a + penalty, a.T @ y.reshape(len(y), -1))
    return z_eval @ w[:-1] + w[-1]


def test_the_linear_reference_is_the_plain_ridge_fit_at_the_strength_that_does_best_on_the_last_fifth():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 6, generator=g, dtype=torch.float64)
    y = z @ torch.randn(6, generator=g, dtype=torch.float64) + 2.0 * torch.randn(500, generator=g, dtype=torch.float64)
    z_eval = torch.randn(40, 6, generator=g, dtype=torch.float64)
    cut = 400
    held_out = {s: float((_plain_ridge_outputs(z[:cut], y[:cut], z[cut:], s).squeeze(1) - y[cut:]).square().mean())
                for s in reference.RIDGE}
    best = min(held_out, key=held_out.get)
    assert best != reference.RIDGE[-1]   # the data make the choice matter: the strongest penalty is not the pick
    expected = _plain_ridge_outputs(z, y, z_eval, best)
    got = reference._linear("regression", z, y, z_eval, "mse")
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_column_spreads_in_two_passes_match_tensor_std():
    x = torch.randn(2000, 32, dtype=torch.float64) * torch.logspace(-3, 3, 32, dtype=torch.float64) + 1e3
    torch.testing.assert_close(reference._spread(x - x.mean(dim=0)), x.std(dim=0), rtol=1e-9, atol=0)


def test_per_layer_samples_are_dense_first_then_twice_as_far_apart_after_every_dense_samples():
    steps = [s for s in range(3000) if sampled(s, 25)]
    first = list(range(0, DENSE * 25, 25))
    second = list(range(DENSE * 25, 3 * DENSE * 25, 50))
    third = list(range(3 * DENSE * 25, 7 * DENSE * 25, 100))
    assert steps[:3 * DENSE] == first + second + third
    assert steps[3 * DENSE:] == list(range(7 * DENSE * 25, 3000, 200))
    assert [s for s in range(12) if sampled(s, 5)] == [0, 5, 10]   # short runs: every `every` steps, as before


class _Steps:
    """A task for the loop: SGD steps on a fixed batch."""

    epoch = 0
    non_finite_origin = None

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.x, self.y = torch.randn(16, 4), torch.randn(16, 1)

    def step(self):
        self.optimizer.zero_grad()
        loss = nn.functional.mse_loss(self.model(self.x), self.y)
        loss.backward()
        step_unwrapped(self.optimizer)
        return {"loss": float(loss.detach())}

    def evaluate(self):
        return {}


def test_a_long_run_samples_the_layers_on_the_thinning_schedule():
    from descend.core.loop import Loop
    from descend.core.stop import MaxSteps
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    readings = Readings(history=[])
    Loop(_Steps(model, opt), opt, [MaxSteps(70)], callbacks=[Instruments(model, readings, every=2)]).run()
    assert readings.sampled_steps == [s + 1 for s in range(70) if sampled(s, 2)]
    assert readings.sampled_steps[DENSE - 1:DENSE + 2] == [19, 21, 25]   # 2 apart, then 4
    assert len(readings.layer_grads) == len(readings.update_ratios) == len(readings.sampled_steps)


def test_the_next_sampled_step_is_the_first_the_schedule_takes_and_steps_between_ask_no_schedule(monkeypatch):
    from descend.core.loop import Loop
    from descend.core.stop import MaxSteps
    from descend.doctor import instruments
    for every in (1, 3, 25):
        taken = [s for s in range(40 * DENSE * every) if sampled(s, every)]
        assert [next_sampled(s, every) for s in range(taken[-1] + 1)] == [min(t for t in taken if t >= s)
                                                                         for s in range(taken[-1] + 1)]
    asked = []
    monkeypatch.setattr(instruments, "sampled", lambda step, every: asked.append(step) or sampled(step, every))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    readings = Readings(history=[])
    Loop(_Steps(model, opt), opt, [MaxSteps(70)], callbacks=[Instruments(model, readings, every=2)]).run()
    assert asked == [s for s in range(70) if sampled(s, 2)] == [s - 1 for s in readings.sampled_steps]


def test_hooked_steps_pass_a_pre_hooks_new_arguments_to_the_update_as_torchs_wrapper_does():
    calls = {"torch": 0, "unwrapped": 0}

    def run(stepper, key):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        opt = ds.optim.create(model, "adamw", lr=0.1)
        x, y = torch.randn(8, 3), torch.randn(8, 1)

        def closure():
            calls[key] += 1
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        opt.register_step_pre_hook(lambda o, args, kwargs: (args, {"closure": closure}))
        stepper(opt)
        return [p.detach().clone() for p in model.parameters()]

    wrapped, unwrapped = run(lambda opt: opt.step(), "torch"), run(step_unwrapped, "unwrapped")
    assert calls == {"torch": 1, "unwrapped": 1}
    assert all(torch.equal(a, b) for a, b in zip(wrapped, unwrapped))


class _Counter(nn.Module):
    """A layer whose buffer is replaced (not updated in place) at every forward pass."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls = self.calls + 1
        return self.lin(x)


def test_sweep_snapshots_follow_a_buffer_the_model_replaces_and_the_weights_as_they_move(monkeypatch):
    model = _Counter()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sweep = Sweep(model, opt, "sgd", total_steps=100)
    walks = []
    buffers = nn.Module.buffers
    monkeypatch.setattr(nn.Module, "buffers", lambda self, *args: walks.append(self) or buffers(self, *args))
    for step in (1, 2):
        model(torch.ones(1, 2))
        with torch.no_grad():
            model.lin.weight.add_(1.0)
        sweep._keep(step)
    assert walks == []   # the buffers are looked up in the modules collected once, not by model.buffers()
    (_, first), (_, second) = sweep.kept
    assert (float(first["calls"]), float(second["calls"])) == (1.0, 2.0)
    torch.testing.assert_close(second["lin.weight"] - first["lin.weight"], torch.ones(1, 2))
    assert set(first) == set(model.state_dict())


def test_the_upper_quantile_from_the_top_values_is_torchs_quantile():
    from descend.doctor.data_rules import upper_quantile
    g = torch.Generator().manual_seed(0)
    for n in (1, 2, 30, 101, 2000, 2001):
        x = torch.randn(n, generator=g, dtype=torch.float64).exp()
        for q in (0.99, 0.9, 0.5):
            assert torch.equal(upper_quantile(x, q), torch.quantile(x, q)), (n, q)


def _exploding_as_before(history):
    """exploding_gradients' test without its early exit: the rolling median over every window."""
    import math

    import numpy as np
    records = [(x["step"], x["grad_norm"]) for x in history if math.isfinite(x.get("grad_norm", math.nan))]
    if len(records) < 31:
        return None
    norms = np.array([g for _, g in records])
    before = np.median(np.lib.stride_tricks.sliding_window_view(norms[:-1], 20), axis=1)
    jump = norms[20:] / np.maximum(before, 1e-12)
    i = int(np.argmax(jump[10:])) + 10
    return None if jump[i] <= 100 or records[i + 20][1] <= norms[:10].max() else records[i + 20][0]


def test_exploding_gradients_early_exit_finds_what_the_full_rolling_median_finds():
    from descend.doctor.rules import exploding_gradients
    g = torch.Generator().manual_seed(0)
    found = 0
    for trial in range(300):
        n = int(torch.randint(31, 200, (1,), generator=g))
        norms = torch.exp(torch.randn(n, generator=g, dtype=torch.float64) * float(torch.rand(1, generator=g) * 3))
        if trial % 3 == 0:   # a spike somewhere after the first 30 steps
            norms[int(torch.randint(30, n, (1,), generator=g))] *= 10 ** float(torch.rand(1, generator=g) * 5)
        history = [{"step": i + 1, "loss": 1.0, "grad_norm": float(v)} for i, v in enumerate(norms)]
        finding = exploding_gradients(Readings(history=history))
        expected = _exploding_as_before(history)
        assert (finding.steps[0] if finding else None) == expected, trial
        found += expected is not None
    assert 20 < found < 150   # both outcomes were exercised


def test_active_units_by_the_largest_output_match_any_output_above_zero_with_nan_inf_and_empty_batches():
    from descend.doctor.instruments import active_units
    for trial in range(60):
        g = torch.Generator().manual_seed(trial)
        shape = [(16, 8), (4, 6, 3, 3), (5, 7, 9)][trial % 3]
        out = torch.relu(torch.randn(*shape, generator=g) - 1.0)
        mask = torch.rand(*shape, generator=g)
        out[mask < 0.05] = float("nan")
        out[mask > 0.97] = float("inf")
        out[(mask > 0.5) & (mask < 0.52)] = -float("inf")
        plain = (out > 0).transpose(0, 1).reshape(out.shape[1], -1).any(1)
        assert torch.equal(active_units(out), plain)
    assert torch.equal(active_units(torch.zeros(0, 5)), torch.zeros(5, dtype=torch.bool))


def test_the_silent_share_by_count_is_the_float64_mean_it_replaced_to_the_last_bit():
    from descend.doctor.instruments import active_units
    from descend.fit.auto.collapse import silent_share
    for width in [*range(4, 130), 257, 300, 999]:
        g = torch.Generator().manual_seed(width)
        out = torch.relu(torch.randn(8, width, generator=g) - torch.rand(width, generator=g) * 4)
        out[0, :: 7] = float("nan")
        assert silent_share(out) == 1.0 - float(active_units(out).double().mean()), width
    conv = torch.relu(torch.randn(3, 6, 4, 4) - 2.5)
    assert silent_share(conv) == 1.0 - float(active_units(conv).double().mean())


class _Ops(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the operations torch runs, by name."""

    def __init__(self):
        super().__init__()
        self.counts = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func)] = self.counts.get(str(func), 0) + 1
        return func(*args, **(kwargs or {}))


def _fit_ops(steps: int) -> dict:
    X, y = torch.randn(640, 5, generator=torch.Generator().manual_seed(0)), torch.randn(640)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
    with _Ops() as ops:
        ds.fit(model, (X, y), optimizer="adamw", lr=1e-3, batch_size=10, max_steps=steps, doctor=False,
               progress=False)
    return ops.counts


def test_a_step_slices_the_pass_order_once_and_the_nan_guard_makes_its_scale_once_a_run():
    short, long = _fit_ops(64), _fit_ops(192)   # 2 and 6 settle windows of 32 steps; 1 and 3 passes
    per_step = {name: (long.get(name, 0) - short.get(name, 0)) / 128 for name in ("aten.slice.Tensor",
                                                                                    "aten.index_select.default")}
    assert per_step == {"aten.slice.Tensor": 1.0, "aten.index_select.default": 2.0}   # one view for X and y
    assert long["aten.ones.default"] == short["aten.ones.default"]   # the guard's 1 is not remade every window
    assert long["aten.zeros.default"] - short["aten.zeros.default"] == 4   # its flag is: one a window


def test_index_columns_are_the_whole_numbers_inside_the_embedding_table_read_by_their_extremes_alone():
    from descend.doctor.inputs import index_columns
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 10, (200,), generator=g).double()
    x = torch.stack([ids, torch.randn(200, generator=g, dtype=torch.float64), ids - 1, ids + 1, ids * 0.5], dim=1)
    x[0, 2], x[0, 3] = -1.0, 10.0   # one id below the table, one past its last row (10 rows)
    assert index_columns(x, 10) == [0]   # column 4 holds halves
    assert index_columns(x, 11) == [0, 3]


class _Frozen(nn.Module):
    """A layer that keeps itself in eval mode whatever train() asks: its class overrides train."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(6)

    def train(self, mode: bool = True):
        super().train(mode)
        self.norm.training = False
        return self

    def forward(self, x):
        return self.norm(x)


def test_the_collapse_watch_reads_without_walking_the_modules_and_gives_back_each_modules_mode(monkeypatch):
    from descend.core.modes import Modules
    from descend.fit.auto import collapse
    probe = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 1))
    plain[2].eval()   # a user's own mode for one layer
    custom = nn.Sequential(nn.Linear(5, 6), _Frozen(), nn.ReLU(), nn.Linear(6, 1))
    for model in (plain, custom):
        modules = Modules.of(model)
        modes = [m.training for m in model.modules()]
        relu_outputs = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: relu_outputs.append(out)) for m in model.modules()
                 if isinstance(m, nn.ReLU)]
        model.eval()
        with torch.no_grad():
            expected = model(probe)
        model.train()
        for hook in hooks:
            hook.remove()
        silent = max(1 - float((out.amax(0) > 0).double().mean()) for out in relu_outputs)
        for module, training in zip(model.modules(), modes):
            module.training = training
        calls = {"modules": 0, "train": 0}
        walk, train = nn.Module.modules, nn.Module.train

        def counted_modules(self, *args, **kwargs):
            calls["modules"] += 1
            return walk(self, *args, **kwargs)

        def counted_train(self, mode=True):
            calls["train"] += 1
            return train(self, mode)

        monkeypatch.setattr(nn.Module, "modules", counted_modules)
        monkeypatch.setattr(nn.Module, "train", counted_train)
        readings = [collapse.read(modules, probe) for _ in range(8)]   # the watch's reads of one run
        monkeypatch.undo()
        assert [m.training for m in model.modules()] == modes
        assert calls["modules"] == 0
        assert calls["train"] == (0 if model is plain else 8 * 6)   # a class that overrides train gets its own call
        assert readings[0] == collapse.Reading(float(expected.double().std(0).mean()), silent)
        assert len(set(readings)) == 1
    assert Modules.of(plain).by_flags and not Modules.of(custom).by_flags


def test_the_doctors_evaluation_sets_modes_by_flags_as_model_train_would(monkeypatch):
    from descend.doctor.probes import evaluate
    x = torch.randn(12, 5, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    for make in (lambda: nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Dropout(0.3), nn.Linear(6, 2)),
                 lambda: nn.Sequential(nn.Linear(5, 6), _Frozen(), nn.Linear(6, 2))):
        model, twin = make(), None
        model[2].eval()   # a user's mode for one layer: model.train(True) afterwards sets it back to training
        twin = copy.deepcopy(model)
        twin.eval()
        with torch.no_grad():
            expected = twin(x)
        twin.train(True)
        calls = []
        train = nn.Module.train
        monkeypatch.setattr(nn.Module, "train", lambda self, mode=True: calls.append(self) or train(self, mode))
        out = evaluate(model, x)
        monkeypatch.undo()
        assert torch.equal(out, expected)
        assert [m.training for m in model.modules()] == [m.training for m in twin.modules()]
        plain = not any(isinstance(m, _Frozen) for m in model.modules())
        assert len(calls) == (0 if plain else 2 * len(list(model.modules())))   # eval and back: train's own walks


def test_the_constant_reference_is_worked_out_once_a_diagnosis(monkeypatch):
    g = torch.Generator().manual_seed(3)
    X, y = torch.randn(1024, 6, generator=g), torch.randn(1024, generator=g)   # no signal: every rule asks
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    made = []
    constant = reference._constant
    monkeypatch.setattr(reference, "_constant", lambda *args: made.append(args[2]) or constant(*args))
    result = ds.fit(model, (X, y), loss="mse", batch_size=64, max_epochs=2, progress=False)
    assert "no_signal" in [f.code for f in result.findings]
    assert made == [1024]   # one constant for the comparison rows, shared by the rules and the references


def test_the_flat_optimizers_skipped_steps_are_counted_on_the_host_not_by_an_operation_a_step():
    short, long = _fit_ops(64), _fit_ops(192)
    taken_back = [name for name in long if name.startswith("aten._foreach_sub")]
    assert taken_back == [] and short["aten._fused_adamw_.default"] == 2 * 64   # two groups, every step updated


def test_the_samples_and_the_sweeps_snapshots_copy_the_weights_without_a_detached_view_of_each(monkeypatch):
    seen = {}
    for owner, name in ((Instruments, "_pre_step"), (Instruments, "_post_step"), (Sweep, "_keep")):
        original = getattr(owner, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            with _Ops() as ops:
                _original(*args, **kwargs)
            for op, count in ops.counts.items():
                seen.setdefault(_name, {})[op] = seen.get(_name, {}).get(op, 0) + count
        monkeypatch.setattr(owner, name, counted)
    X = torch.randn(640, 5, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    result = ds.fit(model, (X, X.sum(1)), loss="mse", batch_size=16, max_epochs=2, progress=False)
    samples, snapshots = seen["_pre_step"]["aten._foreach_norm.Scalar"], seen["_keep"]["aten.clone.default"]
    assert samples >= 3 and snapshots == 4 * result.choice.observed["sweep_steps"]   # 2 weights and 2 biases
    assert seen["_pre_step"] == {"aten._foreach_norm.Scalar": samples, "aten.clone.default": 2 * samples}
    assert seen["_post_step"] == {"aten._foreach_sub_.List": samples, "aten._foreach_norm.Scalar": samples}
    assert seen["_keep"] == {"aten.clone.default": snapshots}
