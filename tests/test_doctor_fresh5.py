"""What the fifth fresh set (benchmarks/doctor_fresh5.py) taught the doctor, each on a small real fit with a healthy
twin that must stay silent: steps so large the model collapses onto a constant (lr_too_high with no rise to see),
gradients that fade to exactly zero through a deep sigmoid stack (vanishing, not a cut graph), BatchNorm given
Keras's momentum, an id column scaled before the embedding reads it, a loss that never reads an output column, a
BCE module on 0/255 targets, and three false alarms of healthy runs: a metric the user named that kept improving
while a weighted loss rose, a BatchNorm's leftover batch of 3 rows each epoch, and raw ids beside scaled columns."""
import torch
from sklearn.datasets import load_digits, make_classification
from torch import nn
from torch.nn import functional as F

from descend.doctor.outcome_rules import _higher_is_better
from descend.doctor.probes import fewest_ids, ids_seen, on_batch_statistics, unread_outputs
from test_doctor_fresh2 import WARN, classes, regression, warnings
from test_doctor_fresh3 import fit_rows, mlp


def first_warning(result):
    return next(f for f in result.findings if f.severity in WARN)


class SetClassifier(nn.Module):
    """Each step's value embedded, one transformer layer with learnt positions, mean over steps, a linear head."""

    def __init__(self, steps=8, dim=16):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.position = nn.Linear(1, dim), nn.Parameter(0.1 * torch.randn(steps, dim))
        layer = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.encoder, self.head = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False), nn.Linear(dim, 2)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.position).mean(1))


def halves(n=900, steps=8, seed=0):
    """Whether a sequence's first half sums to more than its second: only positions tell the halves apart."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, 1, generator=g)
    return x, (x[:, :steps // 2, 0].sum(1) > x[:, steps // 2:, 0].sum(1)).long()


def test_adamw_at_lr_0_1_collapsing_a_transformer_onto_a_constant_is_lr_too_high_and_its_fix_trains():
    x, y = halves()
    collapsed = fit_rows(SetClassifier(), x, y, loss="cross_entropy", optimizer="adamw", lr=0.1, max_epochs=15)
    first = first_warning(collapsed)
    assert first.code == "lr_too_high" and first.evidence["kind"] == "collapsed"
    assert first.evidence["first_update"] > 0.1 and first.change["lr"] == 0.001
    assert "order_blind" not in warnings(collapsed)   # a model that learnt nothing is blind to everything
    fixed = fit_rows(SetClassifier(), x, y, loss="cross_entropy", optimizer="adamw", lr=0.003, max_epochs=15)
    assert "lr_too_high" not in warnings(fixed)   # (still falling at its end: not_converged, truly)
    assert fixed.history[-1]["val_loss"] < 0.6 * collapsed.history[-1]["val_loss"]


def deep_sigmoid(inputs, depth=30, width=32, act=nn.Sigmoid):
    torch.manual_seed(0)
    layers, size = [], inputs
    for _ in range(depth):
        layers += [nn.Linear(size, width), act()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, 1))


def test_gradients_that_fade_to_zero_through_30_sigmoid_layers_are_vanishing_not_a_cut_graph():
    x, y = regression()
    deep = fit_rows(deep_sigmoid(6), x, y, max_epochs=10)
    first = first_warning(deep)
    assert first.code == "vanishing_gradients" and "detached_parameters" not in warnings(deep)
    assert first.change == {"activation": "relu", "init": "kaiming"}
    fixed = fit_rows(deep_sigmoid(6, act=nn.ReLU), x, y, max_epochs=10, init="kaiming")
    assert fixed.history[-1]["val_loss"] < 0.6 * deep.history[-1]["val_loss"]


def bn_mlp(momentum, outputs=1):
    model = mlp(6, outputs, norm=True)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.momentum = momentum
    return model


def test_keras_momentum_in_batchnorm_is_named_and_pytorchs_default_fixes_the_run():
    x, y = regression(n=1200)
    keras = fit_rows(bn_mlp(0.99), x, y, cut=900, batch_size=32, max_epochs=15)
    first = first_warning(keras)
    assert first.code == "batch_norm_momentum" and first.change == {"batch_norm_momentum": 0.1}
    assert first.evidence["loss_running"] > 1.5 * first.evidence["loss_own_statistics"]
    default = fit_rows(bn_mlp(0.1), x, y, cut=900, batch_size=32, max_epochs=15)
    assert warnings(default) == []
    assert default.history[-1]["val_loss"] < 0.5 * keras.history[-1]["val_loss"]


def test_the_batch_statistics_probe_leaves_running_statistics_and_mode_as_they_were():
    model = bn_mlp(0.99, outputs=4)
    model.train()
    norm = model[1]
    mean, count = norm.running_mean.clone(), norm.num_batches_tracked.clone()
    out = on_batch_statistics(model, 3 + torch.randn(64, 6))
    assert out.shape == (64, 4) and model.training and norm.momentum == 0.99
    assert torch.equal(norm.running_mean, mean) and torch.equal(norm.num_batches_tracked, count)


def test_a_leftover_batch_of_3_rows_each_epoch_under_batchnorm_is_no_exploding_gradient():
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32)
    x, y = (x - x.mean(0)) / x.std(0).clamp_min(1e-6), torch.tensor(digits.target)
    # 1283 training rows in batches of 32: each epoch ends on 3 rows, whose BatchNorm statistics spike the gradient
    # 100x (the doctor called that exploding gradients before); the model is fine
    run = fit_rows(mlp(64, 10, width=128, norm=True), x, y, cut=1283, loss="cross_entropy", batch_size=32,
                   max_epochs=10)
    assert warnings(run) == [] and run.history[-1]["val_loss"] < 0.3


class CustomerModel(nn.Module):
    """A customer's learnt embedding (column 0 read as an id) beside the measured columns."""

    def __init__(self, customers=60):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.net = nn.Embedding(customers, 8), nn.Sequential(nn.Linear(11, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(torch.cat([self.embed(x[:, 0].long()), x[:, 1:]], 1))[:, 0]


def customers(n=1500, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids, x = torch.randint(0, 60, (n,), generator=g), torch.randn(n, 3, generator=g)
    y = torch.randn(60, generator=g)[ids] + 0.5 * x[:, 0] + 0.2 * torch.randn(n, generator=g)
    return torch.cat([ids[:, None].float(), x], 1), y


def test_ids_scaled_with_the_features_before_the_embedding_are_named_and_raw_ids_stay_silent():
    x, y = customers()
    scaled = (x - x.min(0).values) / (x.max(0).values - x.min(0).values)
    lost = fit_rows(CustomerModel(), scaled, y, cut=1100, max_epochs=10)
    first = first_warning(lost)
    assert first.code == "embedding_ids" and first.evidence["distinct"] <= 2 and first.evidence["table_rows"] == 60
    raw = torch.cat([x[:, :1], scaled[:, 1:]], 1)   # raw ids beside scaled columns: no unscaled input either
    kept = fit_rows(CustomerModel(), raw, y, cut=1100, max_epochs=10)
    assert warnings(kept) == []
    assert kept.history[-1]["val_loss"] < 0.5 * lost.history[-1]["val_loss"]


def test_the_ids_probe_counts_the_distinct_ids_each_table_saw():
    model = CustomerModel()
    with ids_seen(model) as seen:
        model(torch.cat([torch.tensor([[0.0], [1.0], [1.0], [7.0]]), torch.zeros(4, 3)], 1))
    assert fewest_ids(seen, 4) == {"table_rows": 60, "distinct": 3, "rows": 4, "largest": 7}
    assert fewest_ids({}, 4) is None


def first_column_mse(output, target):
    return F.mse_loss(output[:, 0], target[:, 0])


def test_a_loss_that_reads_only_the_first_of_two_targets_is_named_and_mse_fixes_the_run():
    x, y = regression()
    y2 = torch.stack([y, torch.cos(2 * x[:, 4]) + x[:, 5]], 1)
    half = fit_rows(mlp(6, 2), x, y2, max_epochs=15, loss=first_column_mse)
    first = first_warning(half)
    assert first.code == "unread_outputs" and first.evidence["unread"] == [1] and first.change == {"loss": "mse"}
    both = fit_rows(mlp(6, 2), x, y2, max_epochs=15, loss="mse")
    assert warnings(both) == []
    assert F.mse_loss(both.model(x[600:]), y2[600:]) < 0.5 * F.mse_loss(half.model(x[600:]), y2[600:])


def test_the_unread_probe_leaves_a_loss_that_reads_every_column_alone():
    out, target = torch.zeros(32, 3), torch.randn(32, 3)
    assert unread_outputs(F.mse_loss, out, target) is None
    assert unread_outputs(lambda o, t: F.l1_loss(o[:, :2], t[:, :2]), out, target) == {
        "unread": [2], "columns": 3, "same_as": None}


def test_a_bce_module_on_0_255_targets_is_named_and_dividing_them_fixes_the_run():
    x, y = classes(n=1000, k=2)
    mask = y.float() * 255
    raw = fit_rows(mlp(6, 1), x, mask[:, None], max_epochs=6, loss=nn.BCEWithLogitsLoss())
    first = first_warning(raw)
    assert first.code == "loss_target_mismatch" and first.change == {"target_divisor": 255.0}
    right = fit_rows(mlp(6, 1), x, mask[:, None] / 255, max_epochs=6, loss=nn.BCEWithLogitsLoss())
    assert warnings(right) == [] and right.history[-1]["val_loss"] > 0


def test_user_metrics_named_in_the_usual_words_have_a_direction():
    assert _higher_is_better("balanced_accuracy") and _higher_is_better("roc_auc") and _higher_is_better("accuracy")
    assert _higher_is_better("pixel_error") is False and _higher_is_better("both_targets_mse") is False
    assert _higher_is_better("calibration") is None


def balanced_accuracy(output, target) -> float:
    predicted = output.argmax(1)
    return sum(float((predicted[target == c] == c).float().mean()) for c in (0, 1)) / 2


def test_a_weighted_loss_rising_while_the_users_balanced_accuracy_improves_is_no_overfitting_warning():
    x, y = make_classification(n_samples=3000, n_features=10, n_informative=6, n_redundant=0, weights=[0.95],
                               class_sep=1.2, random_state=17)
    x, y = torch.tensor((x - x.mean(0)) / x.std(0), dtype=torch.float32), torch.tensor(y)
    weighted = lambda output, target: F.cross_entropy(output, target, weight=torch.tensor([1.0, 19.0]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 2))
    run = fit_rows(model, x, y, cut=2250, loss=weighted, max_epochs=15, metrics=[balanced_accuracy])
    best = min((h for h in run.history if "val_loss" in h), key=lambda h: h["val_loss"])
    assert run.history[-1]["val_balanced_accuracy"] > best["val_balanced_accuracy"]   # the user's measure improved
    found = {f.code: f for f in run.findings}
    assert "overfitting" in found and found["overfitting"].severity == "info"
    assert found["overfitting"].evidence["metrics_held"] == ["val_balanced_accuracy"]


class ReluRNN(nn.Module):
    """A ReLU RNN regressor on its last output, its recurrent weights started at `gain` x the identity."""

    def __init__(self, gain):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.RNN(1, 32, nonlinearity="relu", batch_first=True), nn.Linear(32, 1)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(gain * torch.eye(32))
            self.rnn.bias_hh_l0.zero_()

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])[:, 0]


def test_a_relu_rnn_started_above_the_identity_is_a_bad_start_that_clipping_fixes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1200, 30, 1, generator=g)
    y = (x[:, :, 0] * 0.9 ** torch.arange(29, -1, -1)).sum(1)
    y = (y - y.mean()) / y.std()
    grown = fit_rows(ReluRNN(1.3), x, y, cut=900, max_epochs=15)
    first = first_warning(grown)
    assert first.code == "bad_start" and first.change == {"grad_clip": 1.0} and "recurrent" in first.fix
    clipped = fit_rows(ReluRNN(1.3), x, y, cut=900, max_epochs=15, grad_clip=1.0)
    assert "bad_start" not in warnings(clipped) and clipped.history[-1]["val_loss"] < 0.2
