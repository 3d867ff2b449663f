"""What the second fresh set (benchmarks/doctor_fresh2.py) taught the doctor, each on a small real fit with a
healthy twin that must stay silent: a target in raw units, a schedule that takes the lr to zero early, frozen
weights still at their random initialization, a sampler that repeats one batch, validation rows copied from
training, validation labels coded in another class order, dropout left on at evaluation, and a column that rises
with the target."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from descend.doctor.inputs import copied_validation, leaking_column, row_keys
from descend.doctor.watch import untrained
from descend.fit.data import repeated_draws

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def regression(n=800, features=6, seed=0):
    """A smooth nonlinear target of standardized inputs, standardized (an MLP beats a linear model on it)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] + 0.1 * torch.randn(n, generator=g)
    return x, (y - y.mean()) / y.std()


def classes(n=800, k=4, seed=0):
    """k classes from the nearest of k random centres in 6 dimensions (a linear model separates them well)."""
    g = torch.Generator().manual_seed(seed)
    centres = 2 * torch.randn(k, 6, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    return centres[y] + torch.randn(n, 6, generator=g), y


def mlp(inputs, outputs, width=32):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, outputs))


def fit(model, x, y, cut=600, **kw):
    return ds.fit(model, (x[:cut], y[:cut]), val=(x[cut:], y[cut:]), progress=False, **kw)


def relative(result, y) -> float:
    return result.history[-1]["val_loss"] / float(y[600:].var())


def test_a_target_in_dollars_is_named_and_standardizing_it_fixes_the_run():
    x, y = regression()
    dollars = 60_000 + 15_000 * y
    # a named optimizer trains in the units given (fit's default run trains this target as if standardized, and
    # then the doctor rightly has nothing to say: tests/test_auto_units.py)
    raw = fit(mlp(6, 1), x, dollars, max_epochs=20, optimizer="adamw", lr="auto")
    first = [f for f in raw.findings if f.severity in WARN][0]
    assert first.code == "unscaled_target" and first.change == {"standardize_target": True}
    assert first.evidence["target_size"] > 50_000 and "bad_start" not in warnings(raw)
    scaled = fit(mlp(6, 1), x, y, max_epochs=20)
    assert "unscaled_target" not in warnings(scaled) and relative(scaled, y) < 0.5 * relative(raw, dollars)


def test_a_count_target_under_poisson_is_no_unscaled_target():
    x, _ = regression()
    counts = torch.poisson(torch.exp(2.5 + 0.8 * torch.tanh(x[:, 0])), generator=torch.Generator().manual_seed(1))
    assert float(counts.mean()) < 100 and "unscaled_target" not in warnings(fit(mlp(6, 1), x, counts,
                                                                               loss="poisson", max_epochs=10))


def test_a_schedule_that_reaches_zero_early_is_named_and_leaving_it_out_fixes_the_run():
    x, y = regression()
    steep = fit(mlp(6, 1), x, y, max_epochs=20, schedule=ds.schedules.exponential(0.9))
    first = [f for f in steep.findings if f.severity in WARN][0]
    assert first.code == "lr_decayed_early" and first.change == {"schedule": None}
    assert first.evidence["below_at"] < 0.5 * steep.history[-1]["step"]
    default = fit(mlp(6, 1), x, y, max_epochs=20)
    mild = fit(mlp(6, 1), x, y, max_epochs=20, schedule=ds.schedules.exponential(0.999))
    assert "lr_decayed_early" not in warnings(default) + warnings(mild)
    assert default.history[-1]["val_loss"] < 0.7 * steep.history[-1]["val_loss"]


class Tokens(nn.Module):
    def __init__(self, vocab=200, outputs=4):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.EmbeddingBag(vocab, 16, mode="mean")
        self.head = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, outputs))

    def forward(self, x):
        return self.head(self.embed(x))


def documents(n=1200, seed=0):
    """Each of 4 classes has 10 keywords; a document holds 3 of its class's keywords among 12 random tokens."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    docs = torch.randint(40, 200, (n, 15), generator=g)
    docs[:, :3] = y[:, None] * 10 + torch.randint(0, 10, (n, 3), generator=g)
    return docs, y


def test_frozen_weights_at_their_random_init_are_named_without_a_reference_and_trained_ones_are_not():
    docs, y = documents()
    model = Tokens()
    model.embed.requires_grad_(False)
    assert untrained(model)
    frozen = fit(model, docs, y, cut=900, loss="cross_entropy", max_epochs=10)
    assert warnings(frozen)[0] == "frozen_parameters" and frozen.findings[0].evidence["untrained"]
    trained = Tokens()
    fit(trained, docs, y, cut=900, loss="cross_entropy", max_epochs=10, doctor=False)
    trained.embed.requires_grad_(False)
    assert not untrained(trained)
    assert "frozen_parameters" not in warnings(fit(trained, docs, y, cut=900, loss="cross_entropy", max_epochs=3))


def test_a_sampler_that_repeats_one_batch_is_repeated_rows_and_a_weighted_sampler_is_not():
    x, y = classes()
    same = DataLoader(TensorDataset(x[:600], y[:600]), batch_sampler=[list(range(32))] * 18)
    assert repeated_draws(same) == {"rows": 576, "distinct": 32}
    result = ds.fit(mlp(6, 4), same, val=(x[600:], y[600:]), loss="cross_entropy", max_epochs=5, progress=False)
    first = [f for f in result.findings if f.severity in WARN][0]
    assert first.code == "repeated_rows" and "sampler drew 576 row indices" in first.message
    weights = torch.where(y[:600] == 0, 3.0, 1.0)
    sampler = torch.utils.data.WeightedRandomSampler(weights, 600, generator=torch.Generator().manual_seed(0))
    balanced = DataLoader(TensorDataset(x[:600], y[:600]), batch_size=32, sampler=sampler)
    state = torch.get_rng_state()
    assert repeated_draws(balanced) is None and torch.equal(state, torch.get_rng_state())
    assert repeated_draws(DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)) is None
    oversampled = torch.utils.data.RandomSampler(range(100), replacement=True, num_samples=2000)
    assert repeated_draws(DataLoader(TensorDataset(x[:100], y[:100]), batch_size=32, sampler=oversampled)) is None


def test_validation_rows_copied_from_training_are_named_but_categories_that_recur_are_not():
    x, y = regression()
    copied = ds.fit(mlp(6, 1), (x[:600], y[:600]), val=(x[:200].clone(), y[:200].clone()), max_epochs=5,
                    progress=False)
    found = next(f for f in copied.findings if f.code == "validation_in_training")
    assert found.severity == "warning" and warnings(copied)[-1] == "validation_in_training"   # after training's causes
    assert {"rows": 200, "copies": 200, "training_rows": 600}.items() <= found.evidence.items()
    assert copied_validation(x[:600], x[600:]) is None and copied_validation(x, x.clone()) is None   # val=train: a choice
    levels = torch.randint(0, 3, (800, 3), generator=torch.Generator().manual_seed(2)).float()   # 27 distinct rows
    assert copied_validation(levels[:600], levels[600:]) is None
    assert torch.equal(row_keys(x[5:7]), row_keys(x)[5:7])   # a row's key does not depend on its batch


def test_validation_labels_in_another_class_order_are_not_called_no_signal():
    x, y = classes()
    shifted = torch.cat([y[:600], (y[600:] + 1) % 4])
    result = fit(mlp(6, 4), x, shifted, loss="cross_entropy", max_epochs=10)
    first = [f for f in result.findings if f.severity in WARN][0]
    assert first.code == "validation_unlike_training" and first.evidence["training_gain"] > 0.5
    g = torch.Generator().manual_seed(3)
    # shuffled everywhere: no signal in training or validation (with validation's labels left true, auto's kept
    # best evaluation, the luckiest of ten on those rows, beats a constant there by chance, and the doctor is right
    # not to call that no signal)
    noise = y[torch.randperm(800, generator=g)]
    assert "no_signal" in warnings(fit(mlp(6, 4), x, noise, loss="cross_entropy", max_epochs=10))


class AlwaysDropout(nn.Module):
    def __init__(self, training_flag: bool | None):
        super().__init__()
        torch.manual_seed(0)
        self.hidden, self.head, self.flag = nn.Linear(6, 64), nn.Linear(64, 4), training_flag

    def forward(self, x):
        training = self.training if self.flag is None else self.flag
        return self.head(nn.functional.dropout(torch.relu(self.hidden(x)), 0.5, training=training))


def test_dropout_left_on_at_evaluation_is_named_and_the_usual_dropout_is_not():
    x, y = classes()
    result = fit(AlwaysDropout(True), x, y, loss="cross_entropy", max_epochs=5)
    assert warnings(result)[0] == "random_evaluation" and result.findings[0].evidence["relative_change"] > 0.05
    assert "random_evaluation" not in warnings(fit(AlwaysDropout(None), x, y, loss="cross_entropy", max_epochs=5))


def test_a_column_that_rises_with_the_target_is_a_leak_and_one_input_of_a_curve_is_not():
    x, y = regression()
    rank = torch.argsort(torch.argsort(y)).float()[:, None]
    leaky = torch.cat([x, (rank - 400) / 230], 1)
    assert leaking_column(leaky, y) == {"column": 6, "monotone": "rises", "rows": 800}
    assert leaking_column(torch.cat([x, -torch.exp(y)[:, None]], 1), y)["monotone"] == "falls"
    result = fit(mlp(7, 1), leaky, y, max_epochs=5)
    assert warnings(result)[0] == "target_leak" and result.findings[0].change == {"drop_columns": [6]}
    assert leaking_column(x, y) is None
    t = torch.linspace(0, 1, 200)[:, None]
    assert leaking_column(t, t[:, 0] ** 2) is None   # fitting a curve of one input
