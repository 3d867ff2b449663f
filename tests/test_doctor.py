"""The doctor's parts: findings files, ordering, instruments' numbers, fit integration, fix mode, the CLI."""
import json
import math

import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
from descend.core.loop import NonFiniteOrigin
from descend.doctor import CODES, Finding, load_findings, save_findings
from descend.doctor.findings import ordered
from descend.doctor.inputs import column_scales, constant_baseline
from descend.doctor.instruments import Instruments, Readings



def blobs(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    return x, (x @ torch.randn(10, 3, generator=g)).argmax(1)


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))


def finding(code="plateau", steps=(3, 9), **evidence):
    return Finding(code, "warning", steps, evidence, f"{code} message", "a fix")


def test_findings_round_trip_through_json(tmp_path):
    items = [finding(peak=math.inf, names=["a", "b"]), finding("overfitting", None)]
    save_findings(items, tmp_path / "findings.json")
    raw = json.loads((tmp_path / "findings.json").read_text())
    assert raw[0]["evidence"]["peak"] == "inf" and raw[0]["steps"] == [3, 9]
    back = load_findings(tmp_path / "findings.json")
    assert [f.code for f in back] == ["plateau", "overfitting"] and back[0].steps == (3, 9) and back[1].steps is None
    assert str(back[0]) == "plateau message; a fix"


def test_load_findings_names_the_missing_or_broken_file(tmp_path):
    with pytest.raises(ds.DescendError, match="findings.json"):
        load_findings(tmp_path / "findings.json")
    (tmp_path / "findings.json").write_text("{not json")
    with pytest.raises(ds.DescendError, match="not a findings file"):
        load_findings(tmp_path / "findings.json")


def test_unknown_code_and_severity_are_refused():
    with pytest.raises(ds.DescendError, match="unknown finding code"):
        Finding("slow", "warning", None)
    with pytest.raises(ds.DescendError, match="severity"):
        Finding("plateau", "bad", None)


def test_findings_are_ordered_root_cause_first():
    got = ordered([finding("plateau"), finding("lr_too_high", (50, 60)), finding("unscaled_inputs", None),
                   finding("lr_too_high", (5, 9))])
    assert [(f.code, f.steps) for f in got] == [("unscaled_inputs", None), ("lr_too_high", (5, 9)),
                                                 ("lr_too_high", (50, 60)), ("plateau", (3, 9))]
    order = list(CODES)
    assert order.index("unscaled_inputs") < order.index("non_finite") < order.index("lr_too_high")


def test_column_scales_and_constant_baselines():
    x = torch.tensor([[1.0, 0.0, 300.0], [-1.0, 0.0, 400.0]])
    assert column_scales(x) == pytest.approx([1.0, 0.0, math.sqrt((300**2 + 400**2) / 2)])
    assert constant_baseline("mse", torch.tensor([1.0, 3.0])) == pytest.approx(1.0)
    assert constant_baseline("cross_entropy", torch.tensor([0, 1, 1, 1])) == pytest.approx(
        -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    assert constant_baseline("huber", torch.tensor([1.0, 3.0])) is None


def test_sampled_update_ratio_matches_plain_sgd():
    """For SGD without momentum the update is lr * grad, so |dw| / |w| = lr * |g| / |w_after|."""
    x, y = blobs()
    model, readings = net(), Readings(history=[])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ds.fit(model, (x, y), loss="cross_entropy", optimizer=opt, max_steps=5, progress=False, doctor=False,
           callbacks=[Instruments(model, readings, every=2)])
    assert readings.sampled_steps == [1, 3, 5]
    assert all(set(g) == set(u) == {"0.weight", "2.weight"} for g, u in zip(readings.layer_grads,
                                                                               readings.update_ratios))
    for name, weight in (("0.weight", model[0].weight), ("2.weight", model[2].weight)):
        expected = 0.1 * readings.layer_grads[-1][name] / float(weight.detach().norm())
        assert readings.update_ratios[-1][name] == pytest.approx(expected, rel=1e-5)
    assert readings.dead and all(len(v) == 3 for v in readings.dead.values())  # ReLU read on sampled steps only
    assert not any(m._forward_hooks for m in model.modules())
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def test_watching_does_not_change_the_run():
    from torch.utils.data import TensorDataset
    x, y = blobs()
    x[:, 0] *= 1e3  # so that the doctor has something to say
    runs = [ds.fit(net(), TensorDataset(x, y), loss="cross_entropy", max_steps=30, progress=False, doctor=mode)
            for mode in (False, True)]
    assert [r["loss"] for r in runs[0].history] == [r["loss"] for r in runs[1].history]
    assert runs[1].findings[0].code == "unscaled_inputs" and runs[1].findings[0].evidence["largest_column"] == 0


def test_doctor_off_and_bad_mode():
    x, y = blobs()
    result = ds.fit(net(), (x, y), loss="cross_entropy", lr=5.0, max_steps=40, progress=False, doctor=False)
    assert result.findings == []
    with pytest.raises(ds.DescendError, match="doctor must be"):
        ds.fit(net(), (x, y), loss="cross_entropy", max_steps=1, progress=False, doctor="heal")


def test_summary_printed_at_the_end_when_progress_is_on(capsys):
    x, y = blobs()
    result = ds.fit(net(), (x, y), loss="cross_entropy", lr=5.0, max_steps=60, progress=20)
    err = capsys.readouterr().err
    assert result.findings[0].code == "lr_too_high"
    assert "doctor: " in err and "[warning] learning rate too high" in err
    assert err.index("stopped after") < err.index("doctor:")


def test_fix_mode_rolls_back_divergence_and_cuts_the_lr():
    x, y = blobs()
    plain = ds.fit(net(), (x, y), loss="cross_entropy", lr=5.0, max_steps=150, progress=False)
    fixed = ds.fit(net(), (x, y), loss="cross_entropy", lr=5.0, max_steps=150, progress=False, doctor="fix")
    rollbacks = [f for f in fixed.findings if f.code == "rollback"]
    assert rollbacks and all(f.severity == "info" for f in rollbacks)
    lrs = [f.evidence["lr"] for f in rollbacks]
    assert lrs == pytest.approx([5.0 * 0.1 ** (i + 1) for i in range(len(lrs))])
    assert fixed.history[-1]["lr"] == pytest.approx(lrs[-1])
    tail = lambda r: sum(h["loss"] for h in r.history[-20:]) / 20
    assert tail(fixed) < 0.5 * tail(plain)
    assert "rolled back at step" in rollbacks[0].message
    # the result says the lr the run finished at, and no advice names an lr that diverged in it
    assert fixed.lr == pytest.approx(lrs[-1])
    diverged = [5.0, *lrs[:-1]]
    advised = [f.change["lr"] for f in fixed.findings if "lr" in f.change]
    assert advised and all(a < min(diverged) for a in advised)


def test_fix_mode_leaves_bad_data_to_the_non_finite_stop():
    from torch.utils.data import DataLoader
    x, y = blobs()
    x[300, 1] = float("nan")
    # a list of rows, not a TensorDataset (which fit scans in full before training): the NaN is met in training
    loader = DataLoader(list(zip(x, y)), batch_size=64)
    result = ds.fit(net(), loader, loss="cross_entropy", max_steps=40, progress=False, doctor="fix")
    assert result.findings[0].code == "non_finite" and "rollback" not in [f.code for f in result.findings]
    assert result.stop_reason.startswith("non-finite values at step 5")


def test_cli_doctor_prints_saved_findings(tmp_path, capsys):
    save_findings([finding("overfitting", (10, 50))], tmp_path / "findings.json")
    assert main(["doctor", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "doctor: 1 finding(s)" in out and "[warning] overfitting message; a fix (code overfitting)" in out


def test_cli_doctor_names_the_missing_folder_and_the_missing_file(tmp_path, capsys):
    assert main(["doctor", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"descend: error: run directory {tmp_path / 'run'} does not exist\n"
    assert main(["doctor", str(tmp_path)]) == 2   # a folder, but no run's
    assert "findings.json" in capsys.readouterr().err


class Steps:
    """A bare task for the fix-mode guard: full-batch steps on (x, y); the loss is NaN on the calls in `nan_at`."""

    def __init__(self, model, optimizer, nan_at=()):
        self.model, self.optimizer, self.nan_at, self.calls = model, optimizer, set(nan_at), 0
        self.x, self.y = blobs(128)

    def step(self):
        self.calls += 1
        self.optimizer.zero_grad()
        loss = nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        if self.calls in self.nan_at:
            return {"loss": math.nan, "grad_norm": math.nan}
        self.optimizer.step()
        return {"loss": loss.item(), "grad_norm": 1.0}

    non_finite_origin = NonFiniteOrigin("loss", "the loss (inputs and model output were finite)")


def weights_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("build", [lambda m: ds.optim.create(m, "schedule_free_adamw", lr=0.01),
                                   lambda m: ds.optim.EMA(torch.optim.AdamW(m.parameters(), lr=0.01), decay=0.9)],
                         ids=["schedule_free", "ema"])
def test_rollback_restores_the_training_point_not_the_evaluated_weights(build):
    from descend.doctor.fix import Guard
    from descend.optim import eval_mode, train_mode
    model = net()
    opt = build(model)
    guard = Guard(Steps(model, opt), opt, Readings(history=[]), every=5)
    for _ in range(5):
        guard.step()                      # the guard keeps a copy after step 5
    trained = weights_of(model)
    eval_mode(opt)
    evaluated = weights_of(model)
    train_mode(opt)
    assert any(not torch.equal(trained[k], evaluated[k]) for k in trained)  # the two points differ
    for _ in range(3):
        guard.step()
    guard._roll_back("test")
    assert all(torch.equal(v, trained[k]) for k, v in model.state_dict().items())
    eval_mode(opt)  # the optimizer's averages and the weights belong together again
    assert all(torch.equal(v, evaluated[k]) for k, v in model.state_dict().items())


def test_guard_counts_the_non_finite_steps_it_rolls_back_and_its_memory_round_trips():
    from descend.doctor.fix import Guard
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    readings = Readings(history=[])
    guard = Guard(Steps(model, opt, nan_at={4, 5}), opt, readings, every=2)
    records = [guard.step() for _ in range(6)]
    assert all(math.isfinite(r["loss"]) for r in records)
    assert readings.non_finite == {"count": 2, "first_step": 4}
    assert [(i["at_step"], i["from_step"]) for i in readings.interventions] == [(4, 2), (4, 2)]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1 * 0.1)
    copy = Guard(Steps(net(), opt), opt, Readings(history=[]))
    copy.load_state_dict(guard.state_dict())
    assert (copy.count, copy.smooth, copy.best, copy.good["step"]) == (6, guard.smooth, guard.best, 6)


def test_instruments_count_non_finite_steps_and_hook_only_the_sampled_steps():
    x, y = blobs()
    model, readings = net(), Readings(history=[])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hooked = []
    opt.register_step_pre_hook(lambda o, args, kwargs: hooked.append(len(o._optimizer_step_pre_hooks)))
    ds.fit(model, (x, y), loss="cross_entropy", optimizer=opt, max_steps=12, progress=False, doctor=False,
           callbacks=[Instruments(model, readings, every=5)])
    assert [step for step, count in enumerate(hooked, 1) if count == 2] == [1, 6, 11] == readings.sampled_steps
    assert set(hooked) == {1, 2} and readings.non_finite == {"count": 0, "first_step": None}
    x[300, 0] = math.inf  # fit checks the first batch before training; this row comes up later
    model, readings = net(), Readings(history=[])
    stopped = ds.fit(model, ItemDataset(x, y), loss="cross_entropy", max_steps=12, progress=False, doctor=False,
                     callbacks=[Instruments(model, readings)])
    assert stopped.stop_reason.startswith("non-finite values")
    assert readings.non_finite == {"count": 1, "first_step": stopped.history[-1]["step"]}


class ItemDataset(torch.utils.data.Dataset):
    """A plain Dataset over tensors, read item by item: fit checks its first batch only, so a NaN later in it is
    met during training."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class Interrupt(ds.loop.Callback):
    def on_step_end(self, state, record):
        if state.step == 75:
            raise KeyboardInterrupt


def deep_sigmoid():
    torch.manual_seed(0)
    layers = [nn.Linear(10, 32), nn.Sigmoid()] + [m for _ in range(9) for m in (nn.Linear(32, 32), nn.Sigmoid())]
    return nn.Sequential(*layers, nn.Linear(32, 3))


@pytest.mark.parametrize("mode, build, lr", [("fix", net, 5.0), (True, deep_sigmoid, 1e-3)], ids=["fix", "watch"])
def test_a_resumed_run_reports_what_the_uninterrupted_run_reports(tmp_path, mode, build, lr):
    x, y = blobs()
    settings = dict(loss="cross_entropy", lr=lr, max_steps=150, progress=False, doctor=mode, checkpoint_every=10)
    reference = ds.fit(build(), (x, y), run_dir=str(tmp_path / "ref"), **settings)
    with pytest.raises(KeyboardInterrupt):
        ds.fit(build(), (x, y), run_dir=str(tmp_path / "run"), callbacks=[Interrupt()], **settings)
    resumed = ds.fit(build(), (x, y), run_dir=str(tmp_path / "run"), resume=True, **settings)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in reference.history]
    assert [f.to_dict() for f in resumed.findings] == [f.to_dict() for f in reference.findings]
    expected = {"fix": "rollback", True: "vanishing_gradients"}[mode]  # rollbacks / medians over sampled steps
    assert expected in [f.code for f in reference.findings]


def history(losses, lr=0.1):
    return [{"step": i + 1, "epoch": 0, "loss": v, "grad_norm": 1.0, "lr": lr} for i, v in enumerate(losses)]


def diverging():
    return [1.0] * 10 + [10.0] * 20


@pytest.mark.parametrize("known, says, never, change", [
    ({}, ["try lr 0.01, or lr='auto' to let lr_find choose"], "lr_find's suggestion", {"lr": 0.01}),
    ({"auto_lr": 0.1}, ["try lr 0.01", "lr_find's suggestion 0.1"], "or lr='auto'", {"lr": 0.01}),
    ({"interventions": [{"at_step": 12, "from_step": 10, "why": "x", "lr": 0.003}]},
     ["start at lr 0.003", "doctor='fix' recovered"], "or lr='auto'", {"lr": 0.003}),
    # under optimizer="auto" the change names the optimizer it trains with; a line search gets a first-order one
    ({"auto_choice": "auto: lbfgs, line search, ...", "auto_optimizer": "lbfgs"},
     ["optimizer='adamw' and lr='auto'", "auto: lbfgs", "no lr to lower"], "try lr",
     {"optimizer": "adamw", "lr": "auto"}),
    ({"auto_choice": "auto: adamw, lr 0.1, constant (the lr was given ...)", "auto_optimizer": "adamw"},
     ["try lr 0.01 (optimizer='adamw')"], "lr_find's suggestion",
     {"lr": 0.01, "optimizer": "adamw"})],
    ids=["plain", "auto", "fix", "auto line search", "auto given lr"])
def test_the_lr_too_high_fix_quotes_the_lr_the_run_knows(known, says, never, change):
    from descend.doctor import diagnose
    found = diagnose(Readings(history=history(diverging()), **known))[0]
    assert found.code == "lr_too_high" and found.evidence["kind"] == "diverged"
    q = 0.9  # the bias-corrected EMA after 10 steps at 1 and 20 at 10, over its value at 1:
    assert found.evidence["rise"] == pytest.approx((10 * (1 - q ** 20) + q ** 20 - q ** 30) / (1 - q ** 30))
    assert all(text in found.fix for text in says) and never not in found.fix
    assert found.change == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in change.items()}


def test_lr_too_low_says_which_way_the_loss_went():
    from descend.doctor import diagnose
    rising = [1.0 + 0.1 * i / 39 for i in range(40)] + [1.1] * 80   # the EMA settles at 1.1 (0.9 ** 80 ~ 2e-4)
    readings = Readings(history=history(rising, lr=1e-6), update_ratios=[{"0.weight": 1e-7}] * 3)
    found = diagnose(readings)[0]
    assert found.code == "lr_too_low" and found.evidence["change"] == pytest.approx(0.1, abs=1e-3)
    # steps of 1e-7 of the weights, about 1e-3 is typical: the lr goes up by 1e4, the most the rule suggests at once
    assert "(+" in found.message and "fell only" not in found.message and "try lr 0.01;" in found.fix
    assert found.change == {"lr": pytest.approx(1e-2)}


def test_an_overflow_follows_the_lr_that_caused_it_but_bad_data_comes_first():
    overflow = Finding("non_finite", "error", (30, 30), {"from_data": False})
    bad_rows = Finding("non_finite", "error", (30, 30), {"from_data": True})
    high = finding("lr_too_high", (1, 29))
    assert [f.evidence.get("from_data") for f in ordered([overflow, high])] == [None, False]
    assert [f.evidence.get("from_data") for f in ordered([high, bad_rows])] == [True, None]
    assert ordered([overflow])[0] is overflow


def test_fit_with_lr_auto_quotes_lr_finds_suggestion_when_it_was_too_high(monkeypatch):
    """fit(lr="auto") hands its sweep's pick (lr_find's rule) to the doctor: here a pick forced to 5.0, which
    diverges."""
    from descend.fit.auto import sweep   # the module whose valley reading fit(lr="auto") uses
    monkeypatch.setattr(sweep, "read", lambda lrs, smoothed, settled_from=0: (5.0, "forced"))
    x, y = blobs()
    result = ds.fit(net(), (x, y), loss="cross_entropy", lr="auto", max_steps=80, progress=False)
    after = result.history[result.choice.probe_steps]
    assert result.choice.lr == after["lr"] == 5.0 and result.findings[0].code == "lr_too_high"
    assert "lr_find's suggestion 5 from" in result.findings[0].fix and "or lr='auto'" not in result.findings[0].fix
