"""fit's default run on targets in their own units trains exactly as the same call on the standardized target
would, mapped back (fit/auto/units.py), and leaves unit-scale targets, other losses and other models alone."""
import json

import pytest
import torch
from torch import nn

import descend as ds
from descend.doctor.instruments import Readings
from descend.doctor.rules import _input_to_output_ratio
from descend.core.loop import LR_SCALE
from descend.fit.auto.units import fold, target_units
from descend.fit.data import TensorBatches
from test_auto import Crash


def salary(mean=60000.0, sd=12000.0, rows=320, seed=0, outputs=1):
    """A user's MLP ending in nn.Linear and a target in its own units (mean and sd of the generating process)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 4, generator=gen)
    signal = torch.stack([x[:, 0] + torch.tanh(x[:, 1] * x[:, 2]) + 0.3 * torch.randn(rows, generator=gen) * (k + 1)
                          for k in range(outputs)], dim=1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, outputs))
    return model, x, mean + sd * signal


def standardized(y):
    mean, sd = y.mean(0), y.std(0)
    return mean, sd, (y - mean) / sd


SETTINGS = dict(seed=3, progress=False, doctor=False, max_steps=40)


@pytest.mark.parametrize("loss, mean, sd", [("mse", 60000.0, 12000.0), ("mse", 2e-3, 4e-4), ("mae", 290.0, 4.0)])
def test_raw_units_train_as_the_standardized_target_mapped_back(loss, mean, sd):
    model, x, y = salary(mean, sd)
    raw = ds.fit(model, (x, y), loss=loss, **SETTINGS)
    hand_model, _, _ = salary(mean, sd)
    m, s, y_std = standardized(y)
    hand = ds.fit(hand_model, (x, y_std), loss=loss, **SETTINGS)
    power = 2 if loss == "mse" else 1
    folded = raw.choice.observed["target"]
    assert folded["mean"] == pytest.approx([float(m)], rel=1e-6) and folded["sd"] == pytest.approx(float(s), rel=1e-5)
    assert folded["layer"] == "4" and folded["power"] == power and folded["rows"] == 320
    assert "target" not in hand.choice.observed    # the standardized target is on the unit scale: not folded
    assert raw.choice.lr == hand.choice.lr and raw.choice.probe_steps == hand.choice.probe_steps
    # every step is the standardized run's, its loss in the target's units (s^power times the standardized one)
    for a, b in zip(raw.history, hand.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"] * float(s) ** power, rel=1e-4)
    with torch.no_grad():   # the returned model predicts in the target's units, nothing to map back
        assert raw.model(x) == pytest.approx(hand.model(x) * s + m, rel=1e-4, abs=float(s) * 1e-4)


@pytest.mark.parametrize("mean, sd", [(1000.0, 250.0), (1e-3, 2e-4)])
def test_full_batch_lbfgs_takes_the_standardized_problems_steps(mean, sd):
    model, x, y = salary(mean, sd, rows=60)
    raw = ds.fit(model, (x, y), seed=0, progress=False, doctor=False, max_steps=24)
    hand_model, _, _ = salary(mean, sd, rows=60)
    m, s, y_std = standardized(y)
    hand = ds.fit(hand_model, (x, y_std), seed=0, progress=False, doctor=False, max_steps=24)
    assert raw.choice.optimizer == hand.choice.optimizer == "lbfgs" and "target" in raw.choice.observed
    assert len(raw.history) == len(hand.history) == 24   # a tiny target's raw gradients do not pass for converged
    for a, b in zip(raw.history, hand.history):   # (later, fitting 60 rows' noise, rounding grows: 1e-5 -> 5%)
        assert a["loss"] == pytest.approx(b["loss"] * float(s) ** 2, rel=1e-4)
    with torch.no_grad():
        assert raw.model(x) == pytest.approx(hand.model(x) * s + m, rel=1e-4, abs=float(s) * 1e-4)


def test_a_linear_model_alone_is_folded_whole_and_the_history_keeps_the_runs_lr():
    _, x, y = salary(rows=640)
    torch.manual_seed(0)
    raw = ds.fit(nn.Linear(4, 1), (x, y), **SETTINGS)
    torch.manual_seed(0)
    m, s, y_std = standardized(y)
    hand = ds.fit(nn.Linear(4, 1), (x, y_std), **SETTINGS)
    assert raw.choice.observed["target"]["layer"] == "" and "the model (one nn.Linear) starts" in raw.choice.line()
    for a, b in zip(raw.history, hand.history, strict=True):
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-12)
        assert a["loss"] == pytest.approx(b["loss"] * float(s) ** 2, rel=1e-4)
    with torch.no_grad():
        assert raw.model(x) == pytest.approx(hand.model(x) * s + m, rel=1e-4, abs=float(s) * 1e-4)


def test_each_output_column_gets_its_own_mean():
    model, x, y = salary(outputs=2)
    y = y + torch.tensor([0.0, 50000.0])
    result = ds.fit(model, (x, y), **SETTINGS)
    folded = result.choice.observed["target"]
    assert folded["mean"] == pytest.approx(y.mean(0).tolist(), rel=1e-6)
    assert folded["sd"] == pytest.approx(float(y.std(0).pow(2).mean().sqrt()), rel=1e-5)
    hand_model, _, _ = salary(outputs=2)   # by hand: each column less its mean, over the columns' common sd
    hand = ds.fit(hand_model, (x, (y - y.mean(0)) / folded["sd"]), **SETTINGS)
    for a, b in zip(result.history, hand.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"] * folded["sd"] ** 2, rel=1e-4)


def test_the_folded_layer_starts_scaled_in_groups_of_its_own():
    model, x, y = salary()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    opt = ds.optim.create(model, "adamw", weight_decay=0.01)
    units = target_units(model, "mse", TensorBatches((x, y), 64, False, None), torch.device("cpu"))
    fold(model, opt, units)
    s, m = units.sd, units.mean[0]
    assert torch.equal(model[4].weight, before["4.weight"] * s)
    assert torch.allclose(model[4].bias, before["4.bias"] * s + m)
    assert torch.equal(model[0].weight, before["0.weight"])
    body, last = opt.param_groups[:2], opt.param_groups[2:]
    assert [g["param_names"] for g in last] == [["4.weight"], ["4.bias"]]
    assert all(LR_SCALE not in g and g["eps"] == pytest.approx(1e-8 * s ** 2) for g in body)
    assert [g[LR_SCALE] for g in last] == [s, s] and all(g["eps"] == pytest.approx(1e-8 * s) for g in last)
    assert last[0]["weight_decay"] == pytest.approx(0.01 / s) and last[1]["weight_decay"] == 0.0


def test_the_choice_and_config_json_say_what_was_folded(tmp_path):
    model, x, y = salary()
    result = ds.fit(model, (x, y), run_dir=str(tmp_path / "run"), **SETTINGS)
    words = "trained as if standardized: layer '4' starts at weight x sd, bias x sd + mean, and its steps are sd x larger"
    assert words in result.choice.line()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["auto"]["observed"]["target"] == result.choice.observed["target"]
    assert "trained as if standardized" in config["auto"]["line"]
    assert result.lr == result.choice.lr   # the run's lr, not the folded layer's sd x larger one
    assert result.history[-1]["lr"] < result.choice.lr


def test_unit_scale_targets_other_losses_and_other_models_are_left_alone():
    model, x, y = salary(mean=0.3, sd=1.5)
    assert target_units(model, "mse", TensorBatches((x, y), 64, False, None), torch.device("cpu")) is None
    sentinel = y.clone()
    sentinel[100] = 9999.0   # a missing value coded as 9999 in a unit-scale target: a data bug, not raw units
    assert target_units(model, "mse", TensorBatches((x, sentinel), 64, False, None), torch.device("cpu")) is None
    _, _, raw = salary()
    source = TensorBatches((x, raw), 64, False, None)
    for loss in ("huber", "poisson", nn.functional.mse_loss):   # not a power of the raw differences, or unknown
        assert target_units(model, loss, source, torch.device("cpu")) is None
    squashed = nn.Sequential(*salary()[0], nn.Softplus())   # the output is not the last Linear's
    assert target_units(squashed, "mse", source, torch.device("cpu")) is None
    assert target_units(model, "mse", source, torch.device("cpu")).layer == "4"
    given = ds.fit(salary()[0], (x, raw), lr=1e-2, **SETTINGS)       # the caller's lr: the caller's units
    named = ds.fit(salary()[0], (x, raw), optimizer="adamw", lr="auto", **SETTINGS)
    assert "target" not in given.choice.observed and "target" not in named.choice.observed
    unit = ds.fit(salary(mean=0.3, sd=1.5)[0], (x, y), **SETTINGS)
    assert "target" not in unit.choice.observed and "standardized" not in unit.choice.line()


def test_a_dataloaders_first_rows_are_read():
    model, x, y = salary()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    result = ds.fit(model, loader, **SETTINGS)
    assert result.choice.observed["target"]["rows"] == 320
    assert result.choice.observed["target"]["mean"] == pytest.approx([float(y.mean())], rel=1e-6)


def test_a_killed_and_resumed_raw_unit_run_is_bit_identical(tmp_path):
    settings = dict(batch_size=32, max_steps=40, seed=1, progress=False, checkpoint_every=5)
    model, x, y = salary()
    reference = ds.fit(model, (x, y), **settings)
    assert "target" in reference.choice.observed
    model, x, y = salary()
    with pytest.raises(RuntimeError, match="simulated crash"):
        ds.fit(model, (x, y), run_dir=str(tmp_path / "run"), callbacks=[Crash(27)], **settings)
    model, x, y = salary()
    resumed = ds.fit(model, (x, y), run_dir=str(tmp_path / "run"), resume=True, **settings)
    assert resumed.history == reference.history and resumed.choice == reference.choice
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 reference.model.state_dict().values()))


def test_the_doctor_does_not_ask_for_what_fit_did():
    """test_doctor_fresh2's target in dollars, on fit's defaults: as good as standardized by hand, and no finding."""
    from test_doctor_fresh2 import fit, mlp, regression, relative
    x, y = regression()
    dollars = 60_000 + 15_000 * y
    raw = fit(mlp(6, 1), x, dollars, max_epochs=20)
    scaled = fit(mlp(6, 1), x, y, max_epochs=20)
    assert raw.choice.observed["target"] and raw.findings == []
    assert relative(raw, dollars) == pytest.approx(relative(scaled, y), rel=0.02)


def test_the_gradient_ratio_is_read_in_the_standardized_targets_terms():
    grads = [{"0.weight": 2e-4, "2.weight": 1.0, "4.weight": 1.0}] * 3
    plain = Readings([], layer_grads=grads)
    folded = Readings([], layer_grads=grads, auto_target={"layer": "4", "sd": 1e-3})
    assert _input_to_output_ratio(plain) == pytest.approx(2e-4)      # vanishing, read as it is
    assert _input_to_output_ratio(folded) == pytest.approx(0.2)      # the sd folded into layer 4 scaled it by 1e-3
