"""The doctor's parts: findings files, ordering, instruments' numbers, fit integration, fix mode, the CLI."""
import json
import math

import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
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
    assert list(CODES)[:3] == ["unscaled_inputs", "non_finite", "lr_too_high"]


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


def test_cli_doctor_names_the_missing_file(tmp_path, capsys):
    assert main(["doctor", str(tmp_path / "run")]) == 2
    assert "findings.json" in capsys.readouterr().err
