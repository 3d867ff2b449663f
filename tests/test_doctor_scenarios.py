"""Each failure is induced on purpose and the doctor must name it first; healthy runs must raise no warning."""
import math

import pytest
import torch
from sklearn.datasets import load_digits, load_iris, load_wine
from torch import nn
from torch.utils.data import DataLoader

import descend as ds

WARN = ("warning", "error")



def standardized(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(0)) / x.std(0).clamp_min(1e-8)


def shuffled(x, y):
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return x[order], y[order]


def blobs(n=512, features=10, classes=3, seed=0):
    """Separable-ish classes: a linear function of standardized Gaussian features."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x @ torch.randn(features, classes, generator=g)).argmax(1)
    return x, y


def regression(n=512, features=8, seed=0, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    return x, x @ torch.randn(features, generator=g) + noise * torch.randn(n, generator=g)


def mlp(inputs, hidden, outputs, act=nn.ReLU, depth=1):
    layers = [nn.Linear(inputs, hidden), act()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden), act()]
    return nn.Sequential(*layers, nn.Linear(hidden, outputs))


def codes(result):
    return [f.code for f in result.findings]


def first_code(result):
    assert result.findings, "the doctor found nothing"
    return result.findings[0].code


def test_learning_rate_far_too_high():
    x, y = blobs()
    result = ds.fit(mlp(10, 32, 3), (x, y), loss="cross_entropy", lr=5.0, max_steps=80, progress=False)
    assert first_code(result) == "lr_too_high"
    finding = result.findings[0]
    assert finding.evidence["rise"] > 3 and "try lr 0.5 (" in finding.fix


def digits(scale="standardized"):
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)
    return {"standardized": standardized(x), "pixels/16": x / 16, "pixels": x}[scale], torch.tensor(y)


def test_adamw_at_lr_03_on_digits_is_too_high_not_overfitting():
    """The smoothed loss jumps from 2.3 to over 10 and keeps swinging: the lr, whatever the validation loss does."""
    x, y = digits()
    torch.manual_seed(0)
    result = ds.fit(mlp(64, 64, 10), (x[:1400], y[:1400]), val=(x[1400:], y[1400:]), loss="cross_entropy",
                    metrics=["accuracy"], lr=0.3, max_epochs=10, progress=False)
    assert first_code(result) == "lr_too_high"
    f = result.findings[0]
    assert f.evidence["swings"] >= 2 and f.evidence["peak"] > 4 * f.evidence["low"]
    assert "overfitting" not in codes(result) and "try lr 0.03 (" in f.fix


def test_oscillating_loss_is_named_as_a_too_high_learning_rate():
    x, y = digits()
    torch.manual_seed(0)
    result = ds.fit(mlp(64, 64, 10), (x[:1400], y[:1400]), loss="cross_entropy", lr=0.2, max_epochs=10,
                    progress=False)
    assert first_code(result) == "lr_too_high"
    f = result.findings[0]
    assert f.evidence["kind"] == "oscillated" and f.evidence["swings"] >= 2 and "oscillated" in f.message
    assert "plateau" not in codes(result)  # a loss that swings in place is the lr's doing


def linear_data(n=2048, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return x, x @ torch.randn(8, generator=g) + 0.1 * torch.randn(n, generator=g)


def test_sgd_past_the_stability_limit_names_the_lr_before_the_overflow():
    x, y = linear_data()
    torch.manual_seed(0)
    result = ds.fit(nn.Linear(8, 1), (x, y), optimizer="sgd", lr=1.05, max_steps=200, progress=False)
    assert codes(result)[:2] == ["lr_too_high", "non_finite"]
    overflow = result.findings[1]
    assert not overflow.evidence["from_data"] and "(origin: the loss" in overflow.message
    assert "first in" not in overflow.message and "try lr 0.11, or lr=" in result.findings[0].fix


def test_a_diverging_run_is_not_called_overfitting():
    x, y = linear_data()
    torch.manual_seed(0)
    result = ds.fit(nn.Linear(8, 1), (x, y), val=(x[:256], y[:256]), optimizer="sgd", lr=0.9, max_steps=200,
                    progress=False)
    assert first_code(result) == "lr_too_high" and "overfitting" not in codes(result)


def test_learning_rate_far_too_low():
    x, y = blobs()
    result = ds.fit(mlp(10, 32, 3), (x, y), loss="cross_entropy", lr=1e-6, max_steps=80, progress=False)
    assert first_code(result) == "lr_too_low"
    assert result.findings[0].evidence["update_ratio"] < 1e-4


def test_features_scaled_by_1e4():
    x, y = blobs()
    x[:, :5] *= 1e4
    result = ds.fit(mlp(10, 32, 3), (x, y), loss="cross_entropy", max_steps=40, progress=False)
    assert first_code(result) == "unscaled_inputs"
    assert result.findings[0].evidence["largest"] > 1e3 and result.findings[0].evidence["largest_column"] < 5


def test_large_model_on_tiny_data_overfits():
    x, y = blobs(n=1000, features=20, classes=5)
    result = ds.fit(mlp(20, 256, 5, depth=2), (x[:30], y[:30]), val=(x[500:], y[500:]), loss="cross_entropy",
                    batch_size=30, max_epochs=150, eval_every=5, progress=False)
    assert first_code(result) == "overfitting"
    f = result.findings[0]
    assert f.evidence["val_last"] > 1.1 * f.evidence["val_best"] and f.evidence["train_last"] < f.evidence["train_at_best"]


def test_deep_sigmoid_network_has_vanishing_gradients():
    x, y = blobs()
    result = ds.fit(mlp(10, 32, 3, act=nn.Sigmoid, depth=10), (x, y), loss="cross_entropy", max_steps=60,
                    progress=False)
    assert first_code(result) == "vanishing_gradients"
    assert result.findings[0].evidence["first_to_last"] < 1e-3


def test_nan_inputs_name_the_batch_as_origin():
    x, y = blobs()
    x[300, 2] = float("nan")   # past the first batch, which fit checks before training
    # a list of rows, not a TensorDataset (which fit scans in full before training): the NaN is met at step 5
    loader = DataLoader(list(zip(x, y)), batch_size=64, shuffle=False)
    result = ds.fit(mlp(10, 32, 3), loader, loss="cross_entropy", max_steps=40, progress=False)
    assert first_code(result) == "non_finite"
    f = result.findings[0]
    assert f.severity == "error" and f.evidence["from_data"] and f.steps == (5, 5)
    assert "input batch" in f.message and "impute" in f.fix


def test_dead_relu_units():
    x, y = blobs()
    model = mlp(10, 32, 3)
    with torch.no_grad():
        model[0].bias.fill_(-20.0)  # every unit starts (and stays) below zero
    result = ds.fit(model, (x, y), loss="cross_entropy", max_steps=40, progress=False)
    assert first_code(result) == "dead_units"
    assert result.findings[0].evidence["dead_fraction"] == 1.0 and result.findings[0].evidence["layer"] == "1"


def test_outlier_target_explodes_gradients_without_divergence():
    x, y = regression(n=1024)
    y[700] = 1e4
    result = ds.fit(mlp(8, 16, 1), (x, y), loss="mse", batch_size=32, max_steps=120, progress=False)
    assert first_code(result) == "exploding_gradients"
    assert "lr_too_high" not in codes(result)


def test_random_labels_are_no_signal():
    """Labels drawn independently of the inputs: the loss is flat because there is nothing to learn, which is
    the finding (not a plateau to fix with the lr)."""
    x, _ = blobs(n=2048)
    y = torch.randint(0, 3, (2048,), generator=torch.Generator().manual_seed(1))
    result = ds.fit(mlp(10, 4, 3), (x, y), loss="cross_entropy", lr=1e-3, max_steps=120, progress=False)
    assert codes(result) == ["no_signal"]
    f = result.findings[0]    # log(3) = 1.0986 for all three: model, closed-form logistic regression, constant
    assert f.evidence["model_loss"] == pytest.approx(math.log(3), rel=0.01)
    assert f.evidence["linear_reference"] == pytest.approx(f.evidence["constant_baseline"], rel=0.01)


def test_linear_model_on_curved_data_underfits():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1024, 1, generator=g) * 6 - 3
    y = torch.sin(2 * x[:, 0]) * 3
    result = ds.fit(nn.Linear(1, 1), (x, y), val=(x[:256], y[:256]), loss="mse", lr=0.05, max_steps=150,
                    progress=False)
    assert first_code(result) == "underfitting"
    f = result.findings[0]   # a line through a sine: ridge on random features on the same rows does far better
    assert f.evidence["model_loss"] > 0.5 * f.evidence["constant_baseline"] > 10 * f.evidence["reference_loss"]


def test_loss_improves_while_accuracy_does_not_because_the_features_hold_no_signal():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 5, generator=g)
    y = (torch.rand(2000, generator=g) < 0.1).long()  # 90% one class, features carry no signal
    model = nn.Linear(5, 2)
    with torch.no_grad():  # start out predicting the majority class, but with a poorly calibrated margin
        model.bias.copy_(torch.tensor([3.0, -3.0]))
    result = ds.fit(model, (x[:1500], y[:1500]), val=(x[1500:], y[1500:]), loss="cross_entropy",
                    metrics=["accuracy"], lr=0.01, max_steps=150, eval_every=10, progress=False)
    assert codes(result) == ["no_signal"]   # the root cause; the stuck accuracy is its symptom
    assert "loss_metric_mismatch" in result.findings[0].evidence["explains"]


def _warnings(result):
    return [str(f) for f in result.findings if f.severity in WARN]


def test_healthy_digits_mlp_raises_no_warning():
    x, y = load_digits(return_X_y=True)
    x, y = shuffled(standardized(torch.tensor(x, dtype=torch.float32)), torch.tensor(y))
    # fit's defaults: auto's sweep, then AdamW at the lr it picked; the first steps after the sweep's restart rise
    # and the run recovers, which costs the model nothing
    result = ds.fit(mlp(64, 64, 10), (x[:1400], y[:1400]), val=(x[1400:], y[1400:]), loss="cross_entropy",
                    metrics=["accuracy"], max_epochs=20, progress=False)   # at 6 epochs it is still falling fast
    assert result.best["val_accuracy"] > 0.9
    assert _warnings(result) == []


def test_healthy_linear_regression_raises_no_warning():
    x, y = regression()
    result = ds.fit(nn.Linear(8, 1), (x[:400], y[:400]), val=(x[400:], y[400:]), loss="mse", lr=0.05,
                    max_epochs=20, progress=False)
    assert result.best["val_loss"] < 0.05
    assert _warnings(result) == []


@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_healthy_softmax_raises_no_warning(loader):
    x, y = loader(return_X_y=True)
    x, y = shuffled(standardized(torch.tensor(x, dtype=torch.float32)), torch.tensor(y))
    cut = len(y) * 3 // 4
    # lr 0.05: at 0.01 iris is still 0.19 short of the closed-form fit after 40 epochs (not converged)
    result = ds.fit(nn.Linear(x.shape[1], 3), (x[:cut], y[:cut]), val=(x[cut:], y[cut:]), loss="cross_entropy",
                    metrics=["accuracy"], lr=0.05, batch_size=16, max_epochs=40, progress=False)
    assert result.best["val_accuracy"] > 0.85
    assert _warnings(result) == []


@pytest.mark.parametrize("scale", ["pixels/16", "pixels"])
def test_healthy_digits_on_unstandardized_pixels_raise_no_warning(scale):
    """Same-unit pixels need no standardizing; near-constant border pixels (one value in 95% of rows) are no
    reference for the other columns' scale. 20 epochs: at 8 the validation loss (0.60, 0.15 at 40) is still
    falling fast, which the doctor rightly reports as not converged."""
    x, y = shuffled(*digits(scale))
    torch.manual_seed(0)
    result = ds.fit(mlp(64, 64, 10), (x[:1400], y[:1400]), val=(x[1400:], y[1400:]), loss="cross_entropy",
                    metrics=["accuracy"], max_epochs=20, progress=False)
    assert result.best["val_accuracy"] > 0.85
    assert _warnings(result) == []


def test_healthy_mlp_on_same_unit_raw_features_raises_no_warning():
    from sklearn.datasets import make_friedman1
    x, y = make_friedman1(n_samples=1500, noise=1.0, random_state=0)   # ten features, all uniform on [0, 1]
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)
    torch.manual_seed(0)
    result = ds.fit(mlp(10, 64, 1), (x[:1100], y[:1100]), val=(x[1100:], y[1100:]), loss="mse", lr=1e-2,
                    max_epochs=15, progress=False)
    assert result.best["val_loss"] < 0.15
    assert _warnings(result) == []


def test_a_perfect_classifier_raises_no_warning():
    """Accuracy is 1 from the first evaluation on: a metric already at its best cannot disagree with the loss."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 2, generator=g)
    y = (x[:, 0] > 0).long()
    x[:, 0] += torch.where(y == 1, 3.0, -3.0)
    torch.manual_seed(0)
    result = ds.fit(nn.Linear(2, 2), (x[:800], y[:800]), val=(x[800:], y[800:]), loss="cross_entropy",
                    metrics=["accuracy"], lr=0.1, max_epochs=10, progress=False)
    assert [r["val_accuracy"] for r in result.history if "val_accuracy" in r][0] == 1.0
    assert _warnings(result) == []


def test_one_validation_example_is_no_loss_metric_mismatch():
    """Wine at the lr lr_find once chose for it: accuracy drops by one of 45 examples (0.978 to 0.956) while the
    loss falls; one example is no evidence of a mismatch."""
    x, y = load_wine(return_X_y=True)
    x, y = shuffled(standardized(torch.tensor(x, dtype=torch.float32)), torch.tensor(y))
    cut = len(y) * 3 // 4
    torch.manual_seed(0)
    result = ds.fit(nn.Linear(13, 3), (x[:cut], y[:cut]), val=(x[cut:], y[cut:]), loss="cross_entropy",
                    metrics=["accuracy"], lr=0.0722, max_epochs=10, progress=False)
    accuracy = [r["val_accuracy"] for r in result.history if "val_accuracy" in r]
    assert accuracy[0] - accuracy[-1] == pytest.approx(1 / 45, abs=1e-6)
    assert "loss_metric_mismatch" not in codes(result)
