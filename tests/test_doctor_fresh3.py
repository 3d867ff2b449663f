"""What the third fresh set (benchmarks/doctor_fresh3.py) taught the doctor, each on a small real fit with a
healthy twin that must stay silent: a final activation whose range leaves out the target, gradients clipped to a
sliver, a loader that serves rows grouped by class, BatchNorm on batches of 2, a sequence model blind to order, an
init fix tried before it is offered, Monte Carlo dropout kept on by design, an all-zero start, a one-batch spike
on a run's last step, and (the first fresh set's miss) a recurrent gradient that vanishes through time."""
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import descend as ds
from descend.doctor import diagnose
from descend.doctor.inputs import grouped_order
from descend.doctor.instruments import Readings
from descend.fit.data import stored_order_targets
from test_doctor_fresh2 import WARN, classes, regression, warnings


def mlp(inputs, outputs, width=32, head=None, norm=False):
    torch.manual_seed(0)
    extra = (lambda: [nn.BatchNorm1d(width)]) if norm else (lambda: [])
    layers = [nn.Linear(inputs, width), *extra(), nn.ReLU(), nn.Linear(width, width), *extra(), nn.ReLU(),
              nn.Linear(width, outputs)]
    return nn.Sequential(*layers, *([head] if head is not None else []))


def fit(model, train, x, y, cut=600, **kw):
    return ds.fit(model, train, val=(x[cut:], y[cut:]), progress=False, **kw)


def fit_rows(model, x, y, cut=600, **kw):
    return fit(model, (x[:cut], y[:cut]), x, y, cut, **kw)


def first_warning(result):
    return next(f for f in result.findings if f.severity in WARN)


def test_a_final_relu_on_a_target_with_negative_values_is_named_and_dropping_it_fixes_the_run():
    x, y = regression()
    relu = fit_rows(mlp(6, 1, head=nn.ReLU()), x, y, max_epochs=15)
    first = first_warning(relu)
    assert first.code == "loss_target_mismatch" and first.change == {"drop_output_activation": True}
    assert first.evidence["output_activation"] == "ReLU" and 0.3 < first.evidence["beyond"] < 0.7
    plain = fit_rows(mlp(6, 1), x, y, max_epochs=15)
    assert plain.history[-1]["val_loss"] < 0.5 * relu.history[-1]["val_loss"]
    bounded = torch.tanh(y / 2)   # a target inside (-1, 1): a final Tanh is the right head
    assert "loss_target_mismatch" not in warnings(fit_rows(mlp(6, 1, head=nn.Tanh()), x, bounded, max_epochs=15))


def test_gradients_clipped_to_a_sliver_are_named_and_the_suggested_clip_fixes_the_run():
    x, y = regression()
    tight = fit_rows(mlp(6, 1), x, y, optimizer="sgd", lr=0.05, grad_clip=1e-4, max_epochs=15)
    first = first_warning(tight)
    assert first.code == "grad_clip_too_small" and first.evidence["median_grad_norm"] > 100 * 1e-4
    loose = fit_rows(mlp(6, 1), x, y, optimizer="sgd", lr=0.05, max_epochs=15, **first.change)
    assert "grad_clip_too_small" not in warnings(loose)
    assert loose.history[-1]["val_loss"] < 0.5 * tight.history[-1]["val_loss"]
    # under the default optimizer (Adam's steps do not scale with the gradient) the same clip costs little: silent
    assert "grad_clip_too_small" not in warnings(fit_rows(mlp(6, 1), x, y, grad_clip=1e-4, max_epochs=15))


def sorted_loader(x, y, shuffle):
    order = torch.argsort(y, stable=True)
    return DataLoader(TensorDataset(x[order], y[order]), batch_size=32, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(0))


def test_a_loader_serving_rows_grouped_by_class_is_named_and_shuffling_fixes_the_run():
    x, y = classes(n=1600)
    grouped = fit(mlp(6, 4), sorted_loader(x[:1200], y[:1200], False), x, y, cut=1200, loss="cross_entropy",
                  max_epochs=8)
    first = first_warning(grouped)
    assert first.code == "unshuffled_data" and first.change == {"shuffle": True}
    assert first.evidence["within"] < 0.05 and first.evidence["random"] > 0.7   # 4 balanced classes: 0.75
    shuffled = fit(mlp(6, 4), sorted_loader(x[:1200], y[:1200], True), x, y, cut=1200, loss="cross_entropy",
                   max_epochs=8)
    assert warnings(shuffled) == [] and shuffled.history[-1]["val_loss"] < 0.5 * grouped.history[-1]["val_loss"]


def test_the_stored_order_is_read_only_from_an_unshuffled_loader_and_a_noisy_series_is_not_grouped():
    x, y = classes(n=1600)
    assert stored_order_targets(sorted_loader(x, y, True)) is None
    runs = stored_order_targets(sorted_loader(x, y, False))
    assert runs.shape == (8, 32) and grouped_order(runs)["kind"] == "classes"
    assert grouped_order(stored_order_targets(DataLoader(TensorDataset(x, y), batch_size=32))) is None
    t = torch.arange(1600.0)
    noisy_series = torch.sin(t / 5) + 0.5 * torch.randn(1600, generator=torch.Generator().manual_seed(0))
    assert grouped_order(stored_order_targets(DataLoader(TensorDataset(x, noisy_series), batch_size=32))) is None
    in_order = DataLoader(TensorDataset(x, torch.sort(noisy_series).values), batch_size=32)   # sorted by target
    assert grouped_order(stored_order_targets(in_order))["kind"] == "values"


def test_batch_norm_on_batches_of_two_is_named_and_larger_batches_fix_the_run():
    x, y = classes(n=1000, seed=3)
    tiny = fit_rows(mlp(6, 4, norm=True), x, y, cut=600, loss="cross_entropy", batch_size=2, max_epochs=2)
    first = first_warning(tiny)
    assert first.code == "batch_norm_small_batches" and first.change == {"batch_size": 32}
    assert first.evidence["batch_size"] == 2 and first.evidence["layers"] == 2
    fixed = fit_rows(mlp(6, 4, norm=True), x, y, loss="cross_entropy", max_epochs=10, **first.change)
    assert warnings(fixed) == [] and fixed.history[-1]["val_loss"] < 0.5 * tiny.history[-1]["val_loss"]


class SetTransformer(nn.Module):
    """Each step's value embedded, one attention layer, mean over the steps; with `positions` a learnt position
    embedding is added first."""

    def __init__(self, steps=8, dim=32, positions=False):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(1, dim)
        self.position = nn.Parameter(0.1 * torch.randn(steps, dim)) if positions else None
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 4, 64, dropout=0.0, batch_first=True),
                                             1, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        h = self.embed(x) + (self.position if self.position is not None else 0)
        return self.head(self.encoder(h).mean(1))


def test_a_sequence_model_blind_to_order_is_named_where_order_decides_and_positions_silence_it():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1600, 8, 1, generator=g)
    y = (x[:, :4, 0].sum(1) > x[:, 4:, 0].sum(1)).long()   # which half is larger: a set model cannot tell

    def run(model, target):
        return fit_rows(model, x, target, cut=1200, loss="cross_entropy", max_epochs=15)
    blind = run(SetTransformer(), y)
    assert warnings(blind) == ["order_blind"] and blind.history[-1]["val_loss"] > 0.6
    seeing = run(SetTransformer(positions=True), y)
    assert warnings(seeing) == [] and seeing.history[-1]["val_loss"] < 0.2
    # a set task (is any step above 1.5?) stays silent: order does not matter, so no reference beats the model
    assert "order_blind" not in warnings(run(SetTransformer(), (x[:, :, 0].amax(1) > 1.5).long()))


class Residual(nn.Module):
    def __init__(self, depth=20, width=32):
        super().__init__()
        torch.manual_seed(0)
        self.stem, self.head = nn.Linear(6, width), nn.Linear(width, 1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
                                    for _ in range(depth))
        for block in self.blocks:
            for layer in (block[0], block[2]):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)[:, 0]


def test_a_bad_start_no_init_scheme_fixes_offers_no_init_and_says_why():
    x, y = regression()
    deep = fit_rows(Residual(), x, y, max_epochs=5)
    first = first_warning(deep)
    assert first.code == "bad_start" and first.change == {} and "no init scheme fixes it" in first.fix
    starts = first.evidence["init_starts"]
    assert set(starts) == {"kaiming", "xavier", "orthogonal"} and min(starts.values()) > 10 * 1.0
    # a plain MLP with its weights scaled up: kaiming does start near the constant, so it is offered (and tried)
    big = mlp(6, 1)
    with torch.no_grad():
        for p in big.parameters():
            p.mul_(30)
    scaled = fit_rows(big, x, y, max_epochs=5)
    found = first_warning(scaled)
    assert found.code == "bad_start" and found.change == {"init": "kaiming"}
    assert found.evidence["init_starts"]["kaiming"] < 10 * found.evidence["constant_baseline"]


class MCDropout(nn.Dropout):
    """Dropout kept on at evaluation on purpose (Monte Carlo dropout)."""

    def forward(self, x):
        return nn.functional.dropout(x, self.p, training=True)


class DropoutInForward(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.hidden, self.head = nn.Linear(6, 64), nn.Linear(64, 4)

    def forward(self, x):
        return self.head(nn.functional.dropout(torch.relu(self.hidden(x)), 0.3))   # training defaults to True


def test_monte_carlo_dropout_layers_are_an_info_and_dropout_left_on_in_forward_stays_a_warning():
    x, y = classes()
    torch.manual_seed(0)
    mc = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), MCDropout(0.1), nn.Linear(64, 4))
    by_design = fit_rows(mc, x, y, loss="cross_entropy", max_epochs=10)
    found = next(f for f in by_design.findings if f.code == "random_evaluation")
    assert found.severity == "info" and found.evidence["layers"] == "MCDropout" and warnings(by_design) == []
    assert mc[2].p == 0.1   # the check put the layer's p back
    left_on = fit_rows(DropoutInForward(), x, y, loss="cross_entropy", max_epochs=10)
    assert "random_evaluation" in warnings(left_on)


def test_an_all_zero_start_is_named_dead_units_without_a_doctor_error():
    x, y = classes()
    model = mlp(6, 4)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    result = fit_rows(model, x, y, loss="cross_entropy", max_epochs=5)
    assert warnings(result)[:1] == ["dead_units"] and first_warning(result).change == {"init": "kaiming"}
    assert "doctor_error" not in [f.code for f in result.findings]


def history(losses, lr=0.1):
    return [{"step": i + 1, "epoch": 0, "loss": v, "grad_norm": 1.0, "lr": lr} for i, v in enumerate(losses)]


@pytest.mark.parametrize("tail, diverged", [([8.0], False), ([8.0, 8.0, 8.0], True)], ids=["last batch", "last three"])
def test_a_rise_on_the_last_batch_alone_is_no_divergence(tail, diverged):
    falling = [math.exp(-i / 20) for i in range(60)]
    found = [f.code for f in diagnose(Readings(history=history(falling + tail)))]
    assert ("lr_too_high" in found) == diverged


class ReluRNN(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.RNN(1, 32, batch_first=True, nonlinearity="relu"), nn.Linear(32, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])[:, 0]


def test_a_gradient_that_vanishes_through_time_is_named_where_the_early_steps_matter():
    x = torch.randn(1000, 50, 1, generator=torch.Generator().manual_seed(0))
    first_value = fit_rows(ReluRNN(), x, x[:, 0, 0].clone(), optimizer="sgd", lr=0.05, batch_size=32, max_epochs=4)
    found = first_warning(first_value)
    assert found.code == "vanishing_gradients" and found.evidence["through"] == "time"
    assert found.evidence["early_to_late"] < 1e-3 and "first quarter" in found.message
    # the last value as the target: the early steps do not matter, so their faint gradient costs nothing
    last_value = fit_rows(ReluRNN(), x, x[:, -1, 0].clone(), optimizer="sgd", lr=0.05, batch_size=32, max_epochs=4)
    assert "vanishing_gradients" not in warnings(last_value)


def test_reading_how_far_early_steps_reach_leaves_the_models_gradients_and_mode_alone():
    from descend.doctor.probes import early_step_reach
    model = ReluRNN()
    model.train()
    reach = early_step_reach(model, torch.randn(32, 40, 1, generator=torch.Generator().manual_seed(1)))
    assert 0 <= reach < 1 and model.training and all(p.grad is None for p in model.parameters())


def test_validation_targets_scaled_apart_are_named_with_both_sides_centre_and_spread():
    x, y = regression()
    raw_val = torch.cat([y[:600], 250 + 40 * y[600:]])   # the scaler applied to the training file only
    found = first_warning(fit_rows(mlp(6, 1), x, raw_val, max_epochs=10))
    assert found.code == "validation_unlike_training" and "the validation target centres on 2" in found.message
    assert "one side was scaled or recorded apart" in found.message


def test_a_warmup_longer_than_the_run_is_named_and_leaving_the_schedule_out_fixes_it():
    x, y = regression()
    endless = fit_rows(mlp(6, 1), x, y, schedule=ds.schedules.warmup(100_000), max_epochs=15)
    found = first_warning(endless)
    assert found.code == "lr_too_low" and found.change == {"schedule": None} and "warmup longer" in found.message
    assert found.evidence["schedule_peak"] < 0.01 * endless.lr
    default = fit_rows(mlp(6, 1), x, y, max_epochs=15)
    short = fit_rows(mlp(6, 1), x, y, schedule=ds.schedules.warmup(50), max_epochs=15)
    assert warnings(short) == [] and default.history[-1]["val_loss"] < 0.5 * endless.history[-1]["val_loss"]


def test_a_custom_batch_sampler_over_sorted_rows_is_not_read_as_stored_order():
    x, y = classes(n=1600)
    order = torch.argsort(y, stable=True)
    rows = TensorDataset(x[order], y[order])
    shuffled_batches = torch.randperm(1600, generator=torch.Generator().manual_seed(0)).reshape(50, 32).tolist()
    assert stored_order_targets(DataLoader(rows, batch_sampler=shuffled_batches)) is None
