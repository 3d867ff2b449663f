"""What the sixth fresh set (benchmarks/doctor_fresh6.py) taught the doctor (setup_rules.py), each on a small real fit
with a healthy twin that must stay silent: an optimizer instance that misses the model's weights (built on a copy,
or on the head only), Adam's betas swapped, a schedule that raises the lr, cross_entropy on multi-label rows, a class
loss that hides a class (weights set to the shares, an ignore_index that is a real class) or normalizes over the
batch, and a split that put a whole class on the validation side; plus the probes' own numbers."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import descend as ds
from descend.doctor.inputs import missing_codes, multi_hot, unseen_classes
from descend.doctor.probes import batch_normalized_loss, class_weights, loss_scale
from test_doctor_fresh2 import WARN, classes, regression, warnings
from test_doctor_fresh3 import fit_rows, mlp


def first_warning(result):
    return next(f for f in result.findings if f.severity in WARN)


# ---- the optimizer the user built -------------------------------------------------------------------------------
def test_an_optimizer_on_the_head_only_is_named_when_the_body_stays_random():
    x, y = classes(k=4)
    model = mlp(6, 4, width=8)
    head_only = fit_rows(model, x, y, loss="cross_entropy", max_epochs=10,
                         optimizer=torch.optim.Adam(model[-1].parameters(), lr=1e-3))
    first = first_warning(head_only)
    assert first.code == "optimizer_misses_weights"
    assert first.evidence["weights"] == ["0.weight", "0.bias", "2.weight", "2.bias"] and first.evidence["of"] == 6


def test_an_optimizer_on_every_weight_in_two_groups_is_not_warned():
    x, y = regression()
    model = mlp(6, 1)
    body, head = list(model[:-1].parameters()), list(model[-1].parameters())
    grouped = fit_rows(model, x, y, max_epochs=10,
                       optimizer=torch.optim.Adam([{"params": body, "lr": 3e-4}, {"params": head, "lr": 3e-3}]))
    assert "optimizer_misses_weights" not in warnings(grouped)   # (still falling at 10 epochs: not_converged, truly)


def test_adam_betas_swapped_are_lr_too_high_and_default_betas_are_not():
    x, y = regression()
    model = mlp(6, 1)
    swapped = fit_rows(model, x, y, max_epochs=5, optimizer=torch.optim.Adam(model.parameters(), betas=(0.999, 0.9)))
    first = first_warning(swapped)
    assert first.code == "lr_too_high" and first.evidence["betas"] == [0.999, 0.9]
    assert first.change == {"optimizer": "auto"}
    model = mlp(6, 1)
    usual = fit_rows(model, x, y, max_epochs=5, optimizer=torch.optim.Adam(model.parameters(), betas=(0.9, 0.95)))
    assert "lr_too_high" not in warnings(usual)


def test_a_step_schedule_with_gamma_10_is_lr_too_high_with_the_schedule_as_its_fix():
    x, y = regression()
    rising = fit_rows(mlp(6, 1), x, y, max_epochs=20, optimizer="adam", lr=1e-3,
                      schedule=ds.schedules.step(20, gamma=10.0))
    found = [f for f in rising.findings if f.change == {"schedule": None}]
    assert found and found[0].code == "lr_too_high" and found[0].severity == "warning"
    assert found[0].evidence["lr"] == 1e-3 and found[0].evidence["schedule_peak"] >= 10 * 1e-3
    assert found[0].evidence["rose"] > 2
    decaying = fit_rows(mlp(6, 1), x, y, max_epochs=20, optimizer="adam", lr=1e-3,
                        schedule=ds.schedules.step(200, gamma=0.1))
    assert "lr_too_high" not in warnings(decaying)


# ---- the loss against the targets --------------------------------------------------------------------------------
def tags(n=800, labels=4, seed=0):
    """Independent 0/1 tags of standardized inputs: a row carries none, one or several."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    logits = x @ torch.randn(6, labels, generator=g)
    return x, (torch.rand(n, labels, generator=g) < torch.sigmoid(logits)).float()


def test_cross_entropy_on_multi_label_rows_is_named_and_bce_fixes_it():
    x, y = tags()
    softmax = fit_rows(mlp(6, 4), x, y, loss="cross_entropy", max_epochs=10)
    first = first_warning(softmax)
    assert first.code == "loss_target_mismatch" and first.change == {"loss": "bce"}
    share = float((y[:600].sum(1) != 1).float().mean())
    assert first.evidence["rows_not_one_hot"] == pytest.approx(share) and share > 0.5
    assert not warnings(fit_rows(mlp(6, 4), x, y, loss="bce", max_epochs=10))


def test_multi_hot_reads_rows_that_are_not_one_hot():
    one_hot = F.one_hot(torch.arange(40) % 4, 4).float()
    assert multi_hot(one_hot) is None
    tagged = one_hot.clone()
    tagged[:10, 0] = 1.0   # rows 0, 4, 8 already held class 0: 7 rows now hold two 1s
    assert multi_hot(tagged) == pytest.approx(7 / 40)


def test_class_weights_reads_each_class_weight_over_the_average_row():
    y = torch.tensor([0] * 15 + [1] * 5)
    out = torch.randn(20, 2)
    found = class_weights(lambda o, t: F.cross_entropy(o, t, weight=torch.tensor([0.9, 0.1])), out, y)
    average = (15 * 0.9 + 5 * 0.1) / 20
    assert found["weights"][1] == pytest.approx(0.1 / average) and found["weights"][0] == pytest.approx(0.9 / average)
    plain = class_weights(nn.CrossEntropyLoss(), out, y)
    assert plain["weights"] == pytest.approx({0: 1.0, 1: 1.0})
    ignored = class_weights(nn.CrossEntropyLoss(ignore_index=0), out, y)
    assert ignored["weights"][0] == 0.0


def rare_class(n=1000, seed=0):
    """Class 1 in about 12% of rows, likelier as two of six standardized inputs grow (the classes overlap)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return x, (torch.rand(n, generator=g) < torch.sigmoid(2 * x[:, 0] + x[:, 1] - 3)).long()


def test_class_weights_set_to_the_class_shares_are_named_and_plain_cross_entropy_fixes_the_rare_class():
    x, y = rare_class()
    share = float(y.float().mean())
    shares = fit_rows(mlp(6, 2), x, y, max_epochs=10,
                      loss=lambda o, t: F.cross_entropy(o, t, weight=torch.tensor([1 - share, share])))
    first = first_warning(shares)
    assert first.code == "class_weighting" and first.change == {"loss": "cross_entropy"}
    assert first.evidence["hidden"] == [1] and first.evidence["recall"][1] < 0.5
    plain = fit_rows(mlp(6, 2), x, y, max_epochs=10, loss="cross_entropy")
    recall = float((plain.model(x[600:]).argmax(1)[y[600:] == 1] == 1).float().mean())
    assert recall > first.evidence["recall"][1]
    inverse = fit_rows(mlp(6, 2), x, y, max_epochs=10,
                       loss=lambda o, t: F.cross_entropy(o, t, weight=torch.tensor([1 / (1 - share), 1 / share])))
    assert "class_weighting" not in warnings(inverse)


def test_an_ignore_index_that_is_a_real_class_is_named():
    x, y = classes(k=3)
    ignored = fit_rows(mlp(6, 3), x, y, loss=nn.CrossEntropyLoss(ignore_index=0), max_epochs=10)
    first = first_warning(ignored)
    assert first.code == "class_weighting" and first.evidence["hidden"] == [0]
    assert first.evidence["weights"][0] == 0.0
    assert not warnings(fit_rows(mlp(6, 3), x, y, loss=nn.CrossEntropyLoss(), max_epochs=10))


def test_a_log_softmax_over_the_batch_is_loss_unpaired_and_over_the_classes_is_not():
    def over(dim):
        return lambda o, t: -F.log_softmax(o, dim=dim).gather(1, t[:, None]).mean()
    out, y = torch.randn(16, 3), torch.arange(16) % 3
    assert batch_normalized_loss(over(0), out, y) == {"output": [16, 3]}
    assert batch_normalized_loss(over(1), out, y) is None
    assert batch_normalized_loss(nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0])), out, y) is None
    x, y = classes(k=4)
    batch = fit_rows(mlp(6, 4), x, y, loss=over(0), max_epochs=10)
    first = first_warning(batch)
    assert first.code == "loss_unpaired" and first.change == {"loss": "cross_entropy"}
    assert not warnings(fit_rows(mlp(6, 4), x, y, loss=over(1), max_epochs=10))


# ---- the split ---------------------------------------------------------------------------------------------------
def test_unseen_classes_counts_validation_rows_of_classes_training_all_but_lacks():
    train, val = torch.tensor([0] * 50 + [1] * 49 + [2]), torch.tensor([2] * 30 + [1] * 10)
    assert unseen_classes(train, val) == {"classes": [2], "share": 0.75}
    assert unseen_classes(torch.tensor([0, 1, 2] * 30), torch.tensor([0, 1, 2] * 10)) is None


def test_a_split_after_sorting_by_label_is_validation_unlike_training_and_a_random_split_is_not():
    x, y = classes(k=4)
    rows = torch.cat([(y == k).nonzero()[:150, 0] for k in range(4)])   # 150 rows a class, sorted by class
    sorted_split = fit_rows(mlp(6, 4), x[rows], y[rows], cut=450, loss="cross_entropy", max_epochs=10)
    first = first_warning(sorted_split)
    assert first.code == "validation_unlike_training" and first.evidence["classes"] == [3]
    assert first.evidence["share"] > 0.9
    assert not warnings(fit_rows(mlp(6, 4), x, y, loss="cross_entropy", max_epochs=10))


# ---- a missing-value code among measurements ------------------------------------------------------------------------
def test_missing_codes_finds_a_value_far_from_a_column_and_not_a_common_measured_one():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(400, 3, generator=g, dtype=torch.float64)
    table[:80, 1] = -999.0          # a fifth of column 1 is the code
    assert missing_codes(table, [1.0, 450.0, 1.0]) == {1: {"value": -999.0, "share": 0.2}}
    table[:, 2] = 100 * table[:, 2].round()   # whole hundreds: many rows share 0, 100, -100, none far off
    assert missing_codes(table, [1.0, 1.0, 100.0]) == {}


def test_a_missing_value_code_is_unscaled_inputs_named_as_a_code_and_imputing_fixes_it():
    x, y = regression()
    coded = x.clone()
    coded[torch.arange(len(x)) % 5 == 0, 3] = -999.0
    raw = fit_rows(mlp(6, 1), coded, y, max_epochs=15)
    first = first_warning(raw)
    assert first.code == "unscaled_inputs" and first.change == {"missing_code": {"column": 3, "value": -999.0}}
    assert first.evidence["share"] == pytest.approx(0.2, abs=0.01)
    imputed = coded.clone()
    imputed[imputed[:, 3] == -999.0, 3] = float(x[:600][torch.arange(600) % 5 != 0, 3].median())
    imputed = torch.cat([imputed, (coded[:, 3] == -999.0).float()[:, None]], 1)
    fixed = fit_rows(mlp(7, 1), imputed, y, max_epochs=15)
    assert "unscaled_inputs" not in warnings(fixed)
    assert fixed.history[-1]["val_loss"] < raw.history[-1]["val_loss"]


# ---- a loss scaled down under plain SGD ------------------------------------------------------------------------------
def test_loss_scale_reads_a_fixed_factor_and_not_a_sum_over_the_batch():
    out, y = torch.randn(32, 1), torch.randn(32)
    assert loss_scale(lambda o, t: F.mse_loss(o[:, 0], t) / 1500, out, y) == {"same_as": "mse",
                                                                               "factor": pytest.approx(1 / 1500)}
    assert loss_scale(lambda o, t: ((o[:, 0] - t) ** 2).sum(), out, y) is None   # grows with the rows: a sum
    assert loss_scale(lambda o, t: F.mse_loss(o[:, 0], t), out, y) is None       # mse itself
    logits, ids = torch.randn(32, 3), torch.arange(32) % 3
    assert loss_scale(lambda o, t: 100 * F.cross_entropy(o, t), logits, ids)["factor"] == pytest.approx(100)


def test_mse_divided_by_the_row_count_under_sgd_is_lr_too_low_and_plain_mse_fixes_it():
    x, y = regression()
    def shrunk(o, t):
        return F.mse_loss(o[:, 0], t) / 600
    model = mlp(6, 1)
    slow = fit_rows(model, x, y, loss=shrunk, max_epochs=10, batch_size=32,
                    optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    first = first_warning(slow)
    assert first.code == "lr_too_low" and first.change == {"loss": "mse"}
    assert first.evidence["factor"] == pytest.approx(1 / 600) and first.evidence["update_ratio"] < 1e-4
    model = mlp(6, 1)
    plain = fit_rows(model, x, y, loss="mse", max_epochs=10, batch_size=32,
                     optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    assert "lr_too_low" not in warnings(plain)
    assert plain.history[-1]["val_loss"] < 0.5 * 600 * slow.history[-1]["val_loss"]
    model = mlp(6, 1)
    adaptive = fit_rows(model, x, y, loss=shrunk, max_epochs=10, batch_size=32,
                        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3))
    assert "lr_too_low" not in warnings(adaptive)   # Adam divides the factor out of every step
    model = mlp(6, 1)
    crawling = fit_rows(model, x, y, loss=shrunk, max_epochs=3, batch_size=32,
                        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-6))
    assert not any(f.change == {"loss": "mse"} for f in crawling.findings)   # AdamW too: its lr is what is low
