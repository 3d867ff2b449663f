"""The doctor never costs a run: a failing rule becomes a `doctor_error` finding, and fit returns whole on any
small model, data and settings."""
import importlib
import math
import random

import pytest
import torch
from torch import nn

import descend as ds
from descend.doctor import CODES, Finding, diagnose
from descend.doctor import rules
from descend.doctor.instruments import Readings
from descend.core.errors import DescendError


def test_a_first_layer_without_gradient_is_vanishing_not_a_crash():
    """The bias of -10 switches off every unit of the first ReLU layer: its weights get exactly zero gradient,
    which once raised ZeroDivisionError in the message and lost the run."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5, generator=g)
    y = x.sum(1)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    with torch.no_grad():
        model[0].bias.fill_(-10.0)
    result = ds.fit(model, (x, y), max_steps=60, progress=False)
    found = {f.code: f for f in result.findings}
    assert "doctor_error" not in found
    zero = [f for f in result.findings if f.evidence.get("first_to_last") == 0.0 or f.code == "dead_units"]
    assert zero, [str(f) for f in result.findings]
    assert all("no gradient at all" in f.message for f in result.findings if f.code == "vanishing_gradients")


def test_a_failing_rule_becomes_a_doctor_error_finding_naming_it(monkeypatch):
    def broken(readings):
        raise ZeroDivisionError("float division by zero")
    broken.__name__ = "plateau"
    module = importlib.import_module("descend.doctor.diagnose")
    monkeypatch.setattr(module, "RULES", [broken, *rules.RULES[1:]])
    history = [{"step": i + 1, "epoch": 0, "loss": 1.0 / (i + 1), "grad_norm": 1.0, "lr": 0.1} for i in range(30)]
    found = diagnose(Readings(history=history))
    errors = [f for f in found if f.code == "doctor_error"]
    assert len(errors) == 1 and errors[0].evidence["rule"] == "plateau"
    assert "ZeroDivisionError" in errors[0].evidence["error"] and errors[0].severity == "info"


def test_accuracy_on_one_hot_targets_is_a_value_error_naming_the_metric():
    x = torch.randn(64, 4)
    y = nn.functional.one_hot((x[:, 0] > 0).long(), 2).float()
    model = nn.Sequential(nn.Linear(4, 2), nn.Softmax(-1))
    with pytest.raises(ValueError, match="metric 'accuracy'.*shape \\(64, 2\\).*argmax"):
        ds.fit(model, (x, y), loss="mse", val=(x, y), metrics=["accuracy"], max_steps=2, progress=False)
    assert isinstance(DescendError("x"), ValueError)


def _random_case(rng: random.Random) -> dict:
    n, d = rng.choice([3, 17, 64, 300]), rng.choice([1, 3, 12])
    g = torch.Generator().manual_seed(rng.randrange(10**6))
    x = torch.randn(n, d, generator=g) * rng.choice([1e-3, 1.0, 1e4])
    loss = rng.choice(["mse", "cross_entropy", "bce", "huber", lambda out, y: ((out.squeeze(-1) - y) ** 4).mean()])
    classes = rng.choice([2, 3])
    if loss == "cross_entropy":
        y, outputs = torch.randint(0, classes, (n,), generator=g), classes
    elif loss == "bce":
        y, outputs = (torch.rand(n, generator=g) < rng.choice([0.02, 0.5])).float(), 1
    else:
        y, outputs = x[:, 0] * rng.choice([0.0, 1.0, 1e3]) + torch.randn(n, generator=g), 1
    width = rng.choice([1, 8, 64])
    act = rng.choice([nn.ReLU, nn.Sigmoid, nn.Tanh])
    layers = [nn.Linear(d, width), act()] * 1 + [nn.Linear(width, outputs)] if rng.random() < 0.7 else \
        [nn.Linear(d, outputs)]
    model = nn.Sequential(*layers)
    if rng.random() < 0.3:
        with torch.no_grad():
            model[0].bias.fill_(rng.choice([-50.0, 50.0]))
    val = (x[: max(1, n // 4)], y[: max(1, n // 4)]) if rng.random() < 0.6 else None
    return dict(model=model, train=(x, y), loss=loss, val=val,
                optimizer=rng.choice(["adamw", "sgd"]), lr=rng.choice([1e-7, 1e-2, 5.0, 1e3]),
                batch_size=rng.choice([1, 8, 64]), max_steps=rng.choice([1, 5, 40]),
                doctor=rng.choice([True, "fix"]),
                metrics=["accuracy"] if loss == "cross_entropy" and rng.random() < 0.5 else [])


@pytest.mark.slow
def test_fit_returns_and_every_finding_is_well_formed_on_random_small_runs():
    rng = random.Random(16)
    for case in range(60):
        settings = _random_case(rng)
        model, train = settings.pop("model"), settings.pop("train")
        result = ds.fit(model, train, progress=False, **settings)
        assert result.history, case
        for f in result.findings:
            assert isinstance(f, Finding) and f.code in CODES and f.code != "doctor_error", (case, str(f))
            assert f.message and isinstance(f.change, dict)
            assert Finding.from_dict(f.to_dict()) == Finding.from_dict(f.to_dict())
            assert all(not isinstance(v, float) or math.isfinite(v) for v in f.change.values()), (case, f.change)
