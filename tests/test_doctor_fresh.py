"""What the fresh held-out set (benchmarks/doctor_fresh.py) taught the doctor, each on a small real fit: a final
Sigmoid under a logits loss, a target column copied into a multi-output table (an autoencoder is no leak), a column
that alone separates the classes (a question, not an alarm), a silent ReLU layer (dead units, not vanishing
gradients), frozen parameters, weight decay too strong, a Dataset that repeats its first rows, and references on
sequences."""
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import descend as ds
from descend.doctor.inputs import leaking_column, reconstruction, repeated_rows

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def regression(n=600, features=6, outputs=1, seed=0):
    """A smooth nonlinear target of standardized inputs (an MLP beats a linear model on it)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = torch.stack([torch.sin(2 * x[:, k]) + x[:, k + 1] * x[:, k + 2] for k in range(outputs)], 1)
    y = y + 0.1 * torch.randn(n, outputs, generator=g)
    return x, (y - y.mean(0)) / y.std(0)


def labels(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).long()


def mlp(inputs, outputs, width=32, head=()):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, outputs), *head)


def val_loss(result) -> float:
    return result.history[-1]["val_loss"]


def test_a_sigmoid_head_under_a_logits_loss_is_named_and_dropping_it_helps():
    x, y = labels()
    y = y.float()
    squashed = ds.fit(mlp(4, 1, head=(nn.Sigmoid(),)), (x[:450], y[:450]), val=(x[450:], y[450:]), loss="bce",
                      max_epochs=15, progress=False)
    first = [f for f in squashed.findings if f.severity in WARN][0]
    assert first.code == "loss_target_mismatch" and first.change == {"drop_output_activation": True}
    assert first.evidence["output_activation"] == "Sigmoid"
    raw = ds.fit(mlp(4, 1), (x[:450], y[:450]), val=(x[450:], y[450:]), loss="bce", max_epochs=15, progress=False)
    assert "loss_target_mismatch" not in warnings(raw)
    assert val_loss(raw) < 0.7 * val_loss(squashed)


def test_a_target_column_copied_into_the_inputs_is_a_leak_but_an_autoencoder_is_not():
    x, y = regression(outputs=3)
    leaky = torch.cat([x, 2 * y[:, 1:2] - 1], 1)
    assert leaking_column(leaky, y) == {"column": 6, "correlation": leaking_column(leaky, y)["correlation"],
                                        "target_column": 1}
    result = ds.fit(mlp(7, 3), (leaky[:450], y[:450]), val=(leaky[450:], y[450:]), max_epochs=10, progress=False)
    assert warnings(result)[0] == "target_leak" and result.findings[0].change == {"drop_columns": [6]}
    assert leaking_column(y, y) is None and reconstruction(y, y) and not reconstruction(leaky, y)


def test_a_column_that_alone_separates_the_classes_far_ahead_of_the_rest_and_a_relabelling_are_warnings():
    x, y = labels()
    noisy = torch.cat([x, y[:, None] + 0.05 * torch.randn(len(y), 1, generator=torch.Generator().manual_seed(1))], 1)
    found = leaking_column(noisy, y)
    assert found["column"] == 4 and found["separates_classes"] == 2 and not found["one_value_per_class"]
    result = ds.fit(mlp(5, 2), (noisy[:450], y[:450]), val=(noisy[450:], y[450:]), loss="cross_entropy",
                    max_epochs=5, progress=False)
    leak = next(f for f in result.findings if f.code == "target_leak")
    # the classes sit in two clusters a clear gap apart in that column, and the other columns' linear model is far
    # behind: the label copied with noise (a column the label is a cut of stays an info question:
    # test_doctor_common_mistakes.py)
    assert leak.severity == "warning" and leak.evidence["rest_accuracy"] < 0.95 and "copied with noise" in leak.message
    three = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(2))
    relabelled = torch.cat([x, torch.tensor([5.0, -2.0, 9.0])[three][:, None]], 1)   # not an affine map of 0, 1, 2
    assert leaking_column(relabelled, three)["one_value_per_class"]
    assert leaking_column(x, y) is None


def test_a_silent_relu_layer_is_dead_units_not_vanishing_gradients():
    x, y = regression()
    model = mlp(6, 1)
    with torch.no_grad():
        model[2].bias.fill_(-50.0)   # the second layer never fires: nothing reaches the first
    result = ds.fit(model, (x[:450], y[:450, 0]), val=(x[450:], y[450:, 0]), max_epochs=10, progress=False)
    codes = warnings(result)
    assert codes[0] == "dead_units" and "vanishing_gradients" not in codes
    assert result.findings[0].change == {"init": "kaiming"}   # dead from the first sampled step on


def test_frozen_parameters_that_cost_are_named_and_unfreezing_fixes_it_but_a_trained_frozen_body_is_left_alone():
    x, y = regression(outputs=2)
    frozen = mlp(6, 2)
    frozen[:-1].requires_grad_(False)
    result = ds.fit(frozen, (x[:450], y[:450]), val=(x[450:], y[450:]), max_epochs=20, progress=False)
    f = [f for f in result.findings if f.severity in WARN][0]
    assert f.code == "frozen_parameters" and f.change == {"unfreeze": True}
    assert f.evidence["frozen"] == sum(p.numel() for p in frozen[:-1].parameters())
    unfrozen = ds.fit(mlp(6, 2), (x[:450], y[:450]), val=(x[450:], y[450:]), max_epochs=20, progress=False)
    assert warnings(unfrozen) == [] and val_loss(unfrozen) < 0.5 * val_loss(result)
    trained = mlp(6, 2)
    ds.fit(trained, (x[:450], y[:450]), max_epochs=20, progress=False, doctor=False)
    trained[:-1].requires_grad_(False)
    fine_tuned = ds.fit(trained, (x[:450], y[:450]), val=(x[450:], y[450:]), max_epochs=5, progress=False)
    assert "frozen_parameters" not in warnings(fine_tuned)


def test_weight_decay_that_takes_a_share_of_each_weight_every_step_is_named_and_lowering_it_helps():
    x, y = regression()
    settings = dict(val=(x[450:], y[450:, 0]), optimizer="adamw", max_epochs=20, progress=False)
    strong = ds.fit(mlp(6, 1), (x[:450], y[:450, 0]), weight_decay=30.0, **settings)
    f = [f for f in strong.findings if f.severity in WARN][0]
    assert f.code == "weight_decay_too_strong" and f.change == {"weight_decay": 0.01}
    assert f.fix == "lower weight_decay to 0.01"
    lowered = ds.fit(mlp(6, 1), (x[:450], y[:450, 0]), weight_decay=0.01, **settings)
    assert "weight_decay_too_strong" not in warnings(lowered) and val_loss(lowered) < 0.5 * val_loss(strong)


class FirstRows(Dataset):
    """A Dataset that wraps its index at 32 instead of its length (the bug)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i % 32], self.y[i % 32]


def test_a_dataset_that_returns_its_first_rows_again_is_named_but_a_table_of_categories_is_not():
    x, y = labels()
    loader = DataLoader(FirstRows(x[:450], y[:450]), batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    result = ds.fit(mlp(4, 2), loader, val=(x[450:], y[450:]), loss="cross_entropy", max_epochs=10, progress=False)
    f = [f for f in result.findings if f.severity in WARN][0]
    assert f.code == "repeated_rows" and f.evidence["distinct"] == 32 and "overfitting" not in warnings(result)
    categories = torch.randint(0, 3, (400, 3), generator=torch.Generator().manual_seed(0)).float()
    assert repeated_rows(categories) is None   # 27 combinations repeat by nature
    assert repeated_rows(x) is None


def test_shuffled_labels_on_sequences_are_no_signal():
    """References now read images and sequences flattened row by row, so a 1-D convolution gets them too."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(800, 20, 1, generator=g)
    y = torch.randint(0, 2, (800,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 20)), nn.Conv1d(1, 8, 5, padding=2), nn.ReLU(),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))
    result = ds.fit(model, (x[:600], y[:600]), val=(x[600:], y[600:]), loss="cross_entropy", max_epochs=10,
                    progress=False)
    assert warnings(result)[:1] == ["no_signal"]


def test_an_info_cause_never_hides_a_warning():
    """A possible leak (info) explains overfitting only as a question: the overfitting warning stays in view, while a
    certain leak (warning) still folds it."""
    from descend.doctor import Finding
    from descend.doctor.diagnose import fold
    overfit = Finding("overfitting", "warning", (10, 90), {}, "overfitting")
    maybe = Finding("target_leak", "info", None, {"column": 3}, "possible target leak")
    assert [f.code for f in fold([maybe, overfit])] == ["target_leak", "overfitting"]
    certain = Finding("target_leak", "warning", None, {"column": 3}, "target leak")
    folded = fold([certain, overfit])
    assert [f.code for f in folded] == ["target_leak"] and folded[0].evidence["explains"] == ["overfitting"]
