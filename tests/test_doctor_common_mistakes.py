"""Common user mistakes the first fresh set (benchmarks/doctor_fresh.py) held and no round caught until now, each
on a small real fit with a healthy twin that must stay silent: class ids trained as numbers under mse, the targets
handed to fit as the inputs, the label copied with noise into a feature, and a rare class that a weak-signal
model never predicts."""
import torch
from sklearn.datasets import make_classification
from torch import nn

import descend as ds
from test_doctor_fresh2 import classes, warnings
from test_doctor_fresh3 import first_warning, fit_rows, mlp


def accuracy(model, x, y) -> float:
    """Argmax over several outputs, or one output rounded to the nearest class id."""
    with torch.no_grad():
        out = model(x)
    predicted = out.argmax(1) if out.dim() == 2 and out.shape[1] > 1 else out.reshape(-1).round()
    return float((predicted.long() == y.long()).float().mean())


def test_class_ids_under_mse_are_named_and_cross_entropy_with_one_output_per_class_trains_better():
    x, y = classes(n=800, k=6)
    numbers = mlp(6, 1)
    run = fit_rows(numbers, x, y.float(), max_epochs=15)
    first = first_warning(run)
    assert first.code == "loss_target_mismatch" and first.change == {"loss": "cross_entropy", "class_outputs": 6}
    assert first.evidence["classifier_accuracy"] > first.evidence["regression_accuracy"] + 0.25
    ids = mlp(6, 6)
    fixed = fit_rows(ids, x, y, loss="cross_entropy", max_epochs=15)
    assert "loss_target_mismatch" not in warnings(fixed)
    assert accuracy(ids, x[600:], y[600:]) > accuracy(numbers, x[600:], y[600:]) + 0.2
    assert "torch.long) and" in first.fix
    counted_from_one = first_warning(fit_rows(mlp(6, 1), x, y.float() + 1, max_epochs=15))
    assert counted_from_one.code == "loss_target_mismatch"
    assert "(0..5, torch.long; subtract 1 first, so that 1..6 become 0..5)" in counted_from_one.fix


def test_ratings_and_counts_under_mse_are_numbers_and_stay_silent():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(800, 6, generator=g)
    signal = x @ torch.randn(6, generator=g) / 2
    ratings = (3 + signal + 0.7 * torch.randn(800, generator=g)).round().clamp(1, 5)
    counts = torch.poisson(torch.exp(0.5 + 0.4 * signal), generator=g)
    for target in (ratings, counts):
        assert 3 <= len(torch.unique(target)) <= 30
        run = fit_rows(mlp(6, 1), x, target, max_epochs=15)
        assert "loss_target_mismatch" not in warnings(run)


def with_noisy_label(x, y, noise=0.1, seed=4):
    return torch.cat([x, y.float()[:, None] + noise * torch.randn(len(y), 1, generator=torch.Generator()
                                                                     .manual_seed(seed))], 1)


def weak_classes(n=900, seed=3, weights=None):
    x, y = make_classification(n_samples=n, n_features=8, n_informative=2, class_sep=0.5, weights=weights,
                               random_state=seed)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def test_the_label_copied_with_noise_into_a_column_is_a_warning_and_a_column_the_label_is_a_cut_of_is_not():
    x, y = weak_classes()
    leaked = fit_rows(mlp(9, 2), with_noisy_label(x, y), y, loss="cross_entropy", max_epochs=10)
    first = first_warning(leaked)
    assert first.code == "target_leak" and first.change == {"drop_columns": [8]}
    assert first.evidence["rest_accuracy"] < 0.95 and first.evidence["smallest_gap"] > 0.1
    # the label defined by a threshold on a measured column: that column separates the classes too, with no gap
    cut = (x[:, 0] > 0.3).long()
    rule = fit_rows(mlp(8, 2), x, cut, loss="cross_entropy", max_epochs=10)
    assert "target_leak" not in warnings(rule)
    assert [f.severity for f in rule.findings if f.code == "target_leak"] == ["info"]


def test_targets_handed_over_as_inputs_are_a_leak_and_an_autoencoder_with_a_bottleneck_is_not():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(800, 2, generator=g)
    y = torch.cat([torch.sin(z), z.prod(1, keepdim=True)], 1) + 0.1 * torch.randn(800, 3, generator=g)
    y = (y - y.mean(0)) / y.std(0)
    copied = fit_rows(mlp(3, 3), y.clone(), y, max_epochs=15)
    first = first_warning(copied)
    assert first.code == "target_leak" and first.evidence["narrowest_layer"] >= 3
    assert first.evidence["final_loss"] < 0.01 * first.evidence["constant_loss"]
    pixels = torch.rand(800, 8, generator=g)
    torch.manual_seed(0)
    bottleneck = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3), nn.ReLU(), nn.Linear(3, 8))
    assert "target_leak" not in warnings(fit_rows(bottleneck, pixels, pixels.clone(), max_epochs=15))


def balanced_accuracy(model, x, y) -> float:
    with torch.no_grad():
        predicted = model(x).argmax(1)
    return sum(float((predicted[y == c] == c).float().mean()) for c in (0, 1)) / 2


def test_a_rare_class_never_predicted_though_the_scores_rank_it_is_named_and_resampling_helps():
    x, y = weak_classes(n=4000, seed=7, weights=[0.97])
    torch.manual_seed(0)
    model = nn.Linear(8, 2)
    run = ds.fit(model, (x[:3000], y[:3000]), val=(x[3000:], y[3000:]), loss="cross_entropy", max_epochs=15,
                 progress=False)
    first = first_warning(run)
    assert first.code == "class_imbalance" and first.evidence["predicted_majority"] >= 0.98
    assert first.evidence["rare_ranking"] > 0.6 and first.change == {"resample": "balanced"}
    rows = torch.multinomial((1.0 / torch.bincount(y[:3000]).double())[y[:3000]], 3000, replacement=True,
                             generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    resampled = nn.Linear(8, 2)
    ds.fit(resampled, (x[rows], y[rows]), val=(x[3000:], y[3000:]), loss="cross_entropy", max_epochs=15,
           progress=False)
    assert balanced_accuracy(resampled, x[3000:], y[3000:]) > balanced_accuracy(model, x[3000:], y[3000:]) + 0.05


def test_a_rare_class_the_inputs_say_nothing_about_is_no_signal_not_imbalance():
    x, _ = weak_classes(n=4000, seed=7)
    y = (torch.rand(4000, generator=torch.Generator().manual_seed(1)) < 0.03).long()
    torch.manual_seed(0)
    run = ds.fit(nn.Linear(8, 2), (x[:3000], y[:3000]), val=(x[3000:], y[3000:]), loss="cross_entropy",
                 max_epochs=15, progress=False)
    assert warnings(run) == ["no_signal"]
