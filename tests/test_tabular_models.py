"""Model choice on tables: members trained side by side, out-of-fold validation, the linear blend, refitting on
every row, no test set, and that all of it is deterministic and resumes exactly."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from descend.cli import main
from descend.cli.tabular_options import validation_line
from descend.core.loop import Callback
from descend.apps.tabular import Options, TabularRun, fit_table, glm, linear
from descend.apps.tabular import train as train_module
from descend.apps.tabular.members import MemberLoss, chain_ids, fold_ids, seen_share, with_member
from descend.apps.tabular.model import TabularNet, joined, with_held_out
from descend.apps.tabular.options import TUNED_LR
from descend.apps.tabular.subruns import CANDIDATES
from descend.apps.tabular.train import (FIRST_RUN, LR_CANDIDATES, WEIGHT_AVERAGE, averaged, fit_arguments,
                                        grade, prepare, train)
from descend import optim
from tabular_data import bakery

QUICK = dict(max_epochs=12, patience=4, progress=False)


def _linear_table(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """y = 3a - 2b + c plus a little noise: a table where ridge regression is the right model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "y": x @ np.array([3.0, -2.0, 1.0]) + rng.normal(0, 0.1, rows)})


def test_member_loss_counts_only_the_rows_a_member_may_see():
    output = torch.tensor([[[1.0], [3.0]], [[0.0], [2.0]], [[5.0], [5.0]]])   # 3 rows, 2 members
    y = torch.tensor([1.0, 1.0, 4.0])
    held = torch.tensor([0, 1, -1])   # row 0 hidden from member 0, row 1 from member 1, row 2 from none
    squared = torch.tensor([[0.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    allowed = torch.tensor([[0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    expected = (squared * allowed).sum() / allowed.sum()
    assert MemberLoss("mse")(output, with_member(y, held)).item() == pytest.approx(expected.item())
    logits = torch.randn(4, 3, 5)
    labels = torch.tensor([0, 4, 2, 1])
    everyone = torch.full((4,), -1)
    by_hand = F.cross_entropy(logits.reshape(12, 5), labels.repeat_interleave(3))
    assert MemberLoss("cross_entropy")(logits, with_member(labels, everyone)).item() == pytest.approx(by_hand.item())


def test_evaluation_predicts_a_held_out_row_by_the_member_that_never_saw_it():
    torch.manual_seed(0)
    net = TabularNet(numeric_width=2, categorical=[], hidden=[8], out_dim=1, members=3).eval()
    x = torch.randn(5, 2)
    with torch.no_grad():
        members = net.member_outputs(x)[:, :, 0]
        held = torch.tensor([2, 0, -1, 1, 2])
        out = net(with_held_out(x, held))[:, 0]
        assert torch.allclose(out[[0, 1, 3, 4]], members[[0, 1, 3, 4], held[[0, 1, 3, 4]]])
        assert torch.allclose(out[2], members[2].mean())
        assert torch.allclose(net(x)[:, 0], members.mean(dim=1))   # no held-out column: every member
        net.set_linear(torch.tensor([[1.0, 0.0]]), torch.tensor([0.5]), blend=0.25)
        assert torch.allclose(net(x)[:, 0], 0.25 * members.mean(dim=1) + 0.75 * (x[:, 0] + 0.5))


def test_several_members_per_fold_share_its_held_out_rows():
    torch.manual_seed(0)
    net = TabularNet(numeric_width=2, categorical=[], hidden=[8], out_dim=1, members=4, folds=2).eval()
    x = torch.randn(3, 2)
    with torch.no_grad():
        members = net.member_outputs(x)[:, :, 0]   # members 0 and 2 form fold 0, members 1 and 3 fold 1
        out = net(with_held_out(x, torch.tensor([0, 1, -1])))[:, 0]
    assert torch.allclose(out, torch.stack([members[0, [0, 2]].mean(), members[1, [1, 3]].mean(), members[2].mean()]))
    output = torch.zeros(2, 4, 1)
    output[0, [1, 3]] = 2.0   # row 0 is held out of fold 0: only members 1 and 3 learn from it
    loss = MemberLoss("mse", folds=2)(output, with_member(torch.zeros(2), torch.tensor([0, -1])))
    assert loss.item() == pytest.approx((4.0 + 4.0) / (2 + 4))


def test_the_networks_clip_numbers_to_their_bounds_and_the_linear_model_only_when_told():
    net = TabularNet(numeric_width=2, categorical=[], hidden=[4], out_dim=1, bounds=[[-1.0, 2.0], [None, None]])
    x = torch.tensor([[5.0, 7.0], [-3.0, -9.0], [0.5, 0.5]])
    clipped = torch.tensor([[2.0, 7.0], [-1.0, -9.0], [0.5, 0.5]])
    assert torch.equal(net.features(x)[:, 0, :], clipped)
    net.eval()
    with torch.no_grad():
        net.set_linear(torch.tensor([[1.0, 1.0]]), torch.tensor([0.0]), blend=0.0)
        assert torch.equal(net(x)[:, 0], x.sum(dim=1))              # the linear model extrapolates
        net.set_linear(torch.tensor([[1.0, 1.0]]), torch.tensor([0.0]), blend=0.0, clipped=True)
        assert torch.equal(net(x)[:, 0], clipped.sum(dim=1))
    assert "lower" not in net.state_dict() and net.state_dict()["linear_clipped"] == 1.0


def test_the_model_extrapolates_on_tables_without_dates_and_clips_on_dated_ones():
    frame = _linear_table(200)
    frame.loc[199, ["a", "y"]] = [40.0, 120.0 - 2 * frame.b[199] + frame.c[199]]   # a test row far beyond a's range
    lines = []
    run = fit_table(frame, Options(target="y", **QUICK), say=lines.append)
    assert run.config["linear_clipped"] is False
    assert run.config["architecture"]["bounds"] == [[None, None]] * 3   # the networks take numbers as they are
    row = run.encode(frame.iloc[[199]], "the row")[0]
    assert run.model.fixed_features(row)[0, 0] == row[0, 0] > 10   # a = 40, standardized, reaches the networks
    assert ("numbers (3): standardized with the training mean and spread; the networks and the linear model take "
            "them as they are (beyond the training range, a straight line carries on)") in "\n".join(lines)
    run.model.blend.fill_(0.0)   # the linear model alone: its straight line carries on to a = 40
    assert run.outputs(row)[0] == pytest.approx(frame.y[199], abs=1.0)
    dated = fit_table(bakery(200), Options(target="loaves", **QUICK), say=lambda line: None)
    assert dated.config["linear_clipped"] is True and float(dated.model.linear_clipped) == 1.0
    assert all(low is not None for low, _ in dated.config["architecture"]["bounds"][:2])   # networks clip there
    classes = frame.assign(y=np.where(frame.y > 0, "up", "down"))   # and for classes: no logit grows on
    lines.clear()
    run = fit_table(classes, Options(target="y", **QUICK), say=lines.append)
    assert run.config["linear_clipped"] is False and run.config["architecture"]["bounds"][0][1] < 10
    row = run.encode(classes.iloc[[199]], "the row")[0]
    assert run.model.fixed_features(row)[0, 0] == run.config["architecture"]["bounds"][0][1]
    assert ("the networks clip them to the training range (beyond it, a class's logit would grow on), the linear "
            "model takes them as they are") in "\n".join(lines)


def test_networks_that_diverged_leave_the_model_to_the_linear_part():
    lines = []
    run = fit_table(_linear_table(60), Options(target="y", weight_decay=7e21, **QUICK), say=lines.append)
    assert float(run.model.blend) == 0.0 and "the model is the linear model alone" in " ".join(lines)
    model, ridge, _ = run.metrics["scores"].values()
    assert np.isfinite(model["rmse"]) and model["rmse"] < 0.2   # y = 3a - 2b + c + noise(0.1): ridge's fit


def test_networks_whose_counts_overflow_leave_the_model_to_the_linear_part():
    """Under the Poisson loss a diverged network's outputs can be finite logs whose counts overflow to inf, on the
    very rows it trained on (lr 1: the loss is non-finite at step 2). The count bound, which holds rows far outside
    the training range when predicting, must not hide that divergence."""
    lines = []
    run = fit_table(bakery(60), Options(target="loaves", lr=1.0, max_epochs=2), say=lines.append)
    assert [f.code for f in run.findings] == ["non_finite"] and "log_rate_cap" in run.config["architecture"]
    assert float(run.model.blend) == 0.0 and ("the networks diverged: they predict non-finite values on their own "
                                              "training rows (see the findings); the model is the linear model "
                                              "alone") in lines
    model, ridge, _ = run.metrics["scores"].values()
    assert np.isfinite(model["rmse"]) and model["rmse"] < 1.2 * ridge["rmse"]


def test_folds_are_balanced_and_fixed_by_the_seed():
    folds = fold_ids(23, 5, seed=3)
    assert sorted(np.bincount(folds)) == [4, 4, 5, 5, 5]
    assert np.array_equal(folds, fold_ids(23, 5, seed=3)) and not np.array_equal(folds, fold_ids(23, 5, seed=4))


def test_a_linear_table_is_given_to_the_linear_model():
    lines = []
    run = fit_table(_linear_table(), Options(target="y", **QUICK), say=lines.append)
    validation = run.metrics["validation"]
    assert validation["how"] == "5-fold, out of fold" and validation["rows"] == 240
    assert validation["blend"] <= 0.3   # mostly ridge: the networks only add noise here
    model, ridge, _ = run.metrics["scores"].values()
    assert model["rmse"] < 1.1 * ridge["rmse"] and model["rmse"] < 0.15
    assert any("5 folds" in line for line in lines)


@pytest.mark.parametrize("rows, members", [(6250, 4), (6252, 2)])   # 5000 and 5002 training rows
def test_a_table_above_the_large_table_rows_trains_two_networks_side_by_side(rows, members):
    lines = []
    prepared = prepare(_linear_table(rows), Options(target="y", **QUICK), say=lines.append)
    assert len(prepared.split.train) == rows - round(rows * 0.2)
    assert prepared.scheme.kind == "slice" and prepared.scheme.members == members
    assert prepared.run.model.members == members and prepared.run.config["architecture"]["members"] == members
    assert any(line.startswith(f"model: {members} mlp networks") for line in lines)
    named = prepare(_linear_table(rows), Options(target="y", members=3, **QUICK), say=lambda _: None)
    assert named.scheme.members == 3 and named.run.model.members == 3   # --members N is taken as given


def test_members_must_be_a_positive_integer_or_left_to_the_table():
    Options(target="y", members=None).check()
    with pytest.raises(ValueError, match="--members must be a positive integer, got 0"):
        Options(target="y", members=0).check()


def test_when_no_column_carries_over_validation_can_choose_the_training_mean():
    """Columns that drift with time while the target only wanders around its level (a dated table whose inputs
    say nothing about the later rows): the penalty grid reaches far enough that validation picks a model that
    predicts the training mean, not the most penalized line of a short grid."""
    rng = np.random.default_rng(0)
    time = np.arange(150.0)
    design = time[:, None] * rng.normal(size=10) / 50 + rng.normal(size=(150, 10))
    y = rng.normal(size=150)
    fit, val = np.arange(120), np.arange(120, 150)
    penalty, outputs = linear.choose_penalty("mse", design, y, [(fit, val)], 1)
    short = [linear.fit_linear("mse", design[fit], y[fit], 1000.0, 1).outputs(design[val])]
    assert penalty > 1000.0
    assert np.abs(outputs[val] - y[fit].mean()).max() < 0.05
    assert linear.mean_loss("mse", torch.as_tensor(outputs[val]), torch.as_tensor(y[val])) < \
        linear.mean_loss("mse", torch.as_tensor(short[0]), torch.as_tensor(y[val]))


def test_ridges_penalty_choice_from_one_factorization_is_the_direct_fits_choice():
    """choose_penalty fits ridge along its grid from one factorization per fold: the same validation outputs (to
    rounding) and the same penalty as a direct solve per penalty and fold, the lowest validation loss."""
    rng = np.random.default_rng(1)
    one_hot = np.eye(15)[rng.integers(0, 15, 200)]
    design = np.hstack([rng.normal(size=(200, 4)), one_hot])
    y = design @ rng.normal(0, 0.3, 19) + rng.normal(size=200)
    folds = [(np.arange(100, 200), np.arange(100)), (np.arange(100), np.arange(100, 200))]
    penalty, outputs = linear.choose_penalty("mse", design, y, folds, 1)
    direct = {p: np.concatenate([linear.fit_linear("mse", design[fit], y[fit], p, 1).outputs(design[val])
                                 for fit, val in folds]) for p in linear.PENALTIES["mse"]}
    losses = {p: float(np.mean((out[:, 0] - y) ** 2)) for p, out in direct.items()}
    assert penalty == min(losses, key=losses.get)
    assert 0.1 < penalty < 1e6   # an optimum inside the grid, not at an end
    np.testing.assert_allclose(outputs, direct[penalty], rtol=1e-10, atol=1e-12)


def test_the_poisson_penalty_is_the_same_for_counts_of_any_level():
    """Counts 1000 times larger (salaries in thousands instead of millions) get the same Poisson regression: the
    same weights, the intercept moved by log(1000), the same penalty chosen by validation. With alpha fixed, not
    per unit of the mean count, the large counts' fit was all but unpenalized."""
    rng = np.random.default_rng(0)
    design = rng.standard_t(3, size=(120, 6))
    counts = rng.poisson(np.exp(1.0 + 0.3 * design[:, 0])).astype(float)
    small, large = (linear.fit_linear("poisson", design, scale * counts, 1.0, 1) for scale in (1.0, 1000.0))
    np.testing.assert_allclose(large.weight, small.weight, atol=1e-8)
    np.testing.assert_allclose(large.bias, small.bias + np.log(1000.0), atol=1e-8)
    folds = [(np.arange(90), np.arange(90, 120)), (np.arange(30, 120), np.arange(30))]
    assert linear.choose_penalty("poisson", design, counts, folds, 1)[0] == \
        linear.choose_penalty("poisson", design, 1000.0 * counts, folds, 1)[0]
    unscaled = glm.poisson(design, 1000.0 * counts, 1.0)   # as the fit was: the penalty of alpha 0.001 on the counts
    np.testing.assert_allclose(unscaled.coef, glm.poisson(design, counts, 1e-3).coef, atol=1e-8)
    assert np.abs(large.weight).sum() < 0.8 * np.abs(unscaled.coef).sum()


def test_no_test_set_trains_on_every_row_but_validation_then_refits_on_all(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "CHAIN_MAX_ROWS", 100)   # past the chained blocks' size: one slice
    frame = bakery(200)   # dated rows: one validation slice, the latest training rows
    lines = []
    opts = Options(target="loaves", test_fraction=0.0, batch_size=32, **QUICK)
    prepared = prepare(frame, opts, say=lines.append)
    split, scheme = prepared.split, prepared.scheme
    assert len(split.test) == 0 and scheme.kind == "slice" and scheme.refit
    assert len(scheme.train_rows) == 170 and len(scheme.val_rows) == 30   # every row but validation
    assert np.array_equal(np.sort(np.concatenate([scheme.train_rows, scheme.val_rows])), np.arange(200))
    train(prepared, opts, say=lines.append)
    grade(prepared, opts)
    history = pd.DataFrame(prepared.run.history)
    fit_steps = history[history.phase == "fit"]
    refit_steps = history[history.phase == "refit"]
    epochs = prepared.run.config["refit_epochs"]
    assert len(fit_steps) % 6 == 0                          # ceil(170 / 32) steps per epoch
    assert len(refit_steps) == epochs * 7                   # ceil(200 / 32): the refit sees all 200 rows
    assert prepared.run.metrics["test_rows"] == 0 and prepared.run.metrics["scores"] == {}
    assert prepared.run.metrics["validation"]["rows"] == 30
    assert "no test rows (--test-fraction 0: the model is not tested here)" in " ".join(lines)


def test_chained_blocks_are_the_last_runs_of_rows_in_time_order():
    assert chain_ids(10, 3, 2).tolist() == [-1, -1, -1, -1, 0, 0, 1, 1, 2, 2]


def test_a_chained_member_learns_only_from_the_rows_before_its_block():
    output = torch.arange(1.0, 9.0).reshape(4, 2, 1)   # 4 rows in time order, 2 members (blocks 0 and 1)
    held = torch.tensor([-1, -1, 0, 1])   # rows 0-1 before both blocks, row 2 block 0, row 3 block 1
    allowed = torch.tensor([[1, 1], [1, 1], [0, 1], [0, 0]], dtype=torch.float32)   # member 1 sees block 0
    seen = seen_share(held.numpy(), 2)
    assert seen == pytest.approx(5 / 8)   # member 0 sees 2 of the 4 rows, member 1 sees 3
    loss = MemberLoss("mse", folds=2, seen=seen)(output, with_member(torch.zeros(4), held))
    assert loss.item() == pytest.approx(((output[..., 0] ** 2 * allowed).sum() / 5).item())   # targets 0
    halves = [MemberLoss("mse", folds=2, seen=seen)(output[rows], with_member(torch.zeros(2), held[rows]))
              for rows in ([0, 2], [1, 3])]   # two processes' shards, holding 3 and 2 seen pairs
    assert sum(halves).item() / 2 == pytest.approx(loss.item())


def test_a_small_dated_table_validates_on_forward_chained_blocks_then_refits_on_all():
    lines = []
    opts = Options(target="loaves", test_fraction=0.0, batch_size=32, **QUICK)
    prepared = prepare(bakery(200).assign(loaves=lambda f: f.loaves * 1.5), opts, say=lines.append)   # values
    scheme = prepared.scheme
    assert scheme.kind == "chain" and scheme.refit and not scheme.keeps_first and scheme.members == 6
    assert np.array_equal(scheme.train_rows, np.arange(200))   # time order: 134 rows, then 3 blocks of 22
    assert scheme.train_held.tolist() == [-1] * 134 + [0] * 22 + [1] * 22 + [2] * 22   # a third: not 3 x 30
    assert np.array_equal(scheme.val_rows, np.arange(134, 200))
    assert scheme.val_held.tolist() == scheme.train_held[134:].tolist()
    assert [(len(fit), val[0], val[-1]) for fit, val in scheme.linear_folds()] == [(134, 134, 155), (156, 156, 177),
                                                                                  (178, 178, 199)]
    assert np.array_equal(scheme.base_rows(), np.arange(134))   # the residual networks' linear part: no block
    train(prepared, opts, say=lines.append)
    assert prepared.run.model.residual
    # the blocks are training rows, each scored by the networks that never learned from it: not a copy
    assert "validation_in_training" not in {finding.code for finding in prepared.run.findings}
    history = pd.DataFrame(prepared.run.history)
    assert len(history[history.phase == "fit"]) % 7 == 0                 # every row in each epoch's batches
    assert len(history[history.phase == "refit"]) == prepared.run.config["refit_epochs"] * 7
    validation = prepared.run.metrics["validation"]
    assert validation["rows"] == 66 and validation["how"] == "3 forward-chained blocks of time"
    assert prepared.run.config["architecture"]["members"] == 6   # the refit's networks alone
    assert "the last 66 in 3 blocks of time" in " ".join(lines)


def test_a_chained_member_is_untouched_by_the_rows_of_its_block_and_later():
    opts = Options(target="loaves", test_fraction=0.0, batch_size=32, **QUICK)
    models = []
    for scale in (1, 3):   # the middle block's targets (rows 156-177) differ, as the model sees them
        prepared = prepare(bakery(200), opts, say=lambda _: None)
        prepared.y[156:178] *= scale
        scheme, run = prepared.scheme, prepared.run
        rows = train_module._member_data(prepared, scheme.train_rows, scheme.train_held)
        models.append(train_module.run_fit(fit_arguments(run, rows, None, opts, 3e-3, epochs=3), opts, 1, 3).model)
    before, after = (m.layers[0].weight for m in models)   # members 0, 3: block 0; 1, 4: block 1; 2, 5: block 2
    assert torch.equal(before[[0, 1, 3, 4]], after[[0, 1, 3, 4]])   # the last block's learn from the middle one
    assert not torch.allclose(before[[2, 5]], after[[2, 5]])


@pytest.mark.parametrize("dated", [False, True])
def test_folds_chains_and_refit_are_deterministic_for_a_seed(dated):
    frame = bakery(120, seed=4) if dated else _linear_table(120).assign(y=lambda f: np.sin(2 * f.a) + f.b)
    target = "loaves" if dated else "y"
    runs = [fit_table(frame, Options(target=target, seed=5, **QUICK), say=lambda _: None) for _ in range(2)]
    assert runs[0].metrics["validation"]["how"] == ("3 forward-chained blocks of time" if dated
                                                    else "5-fold, out of fold")
    first, second = (r.model.state_dict() for r in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert runs[0].metrics == runs[1].metrics
    other = fit_table(frame, Options(target=target, seed=6, **QUICK), say=lambda _: None)
    assert not torch.equal(other.model.layers[0].weight, runs[0].model.layers[0].weight)


def test_with_folds_the_default_lr_is_chosen_by_validation_and_is_the_run_that_lr_gives():
    frame = _linear_table(120).assign(y=lambda f: np.sin(2 * f.a) + f.b)
    lines = []
    chosen = fit_table(frame, Options(target="y", seed=3, **QUICK), say=lines.append)
    tried = chosen.config["lr_candidates"]
    assert list(tried) == [f"{TUNED_LR * f:g}" for f in LR_CANDIDATES] and len(LR_CANDIDATES) == 2
    best = min(tried, key=tried.get)
    assert f"{chosen.config['lr']:g}" == best and chosen.config["lr"] in [TUNED_LR * f for f in LR_CANDIDATES]
    assert any(line.startswith(f"lr {best} chosen by validation loss") for line in lines)
    named = fit_table(frame, Options(target="y", seed=3, lr=chosen.config["lr"], **QUICK), say=lambda _: None)
    assert "lr_candidates" not in named.config   # a named lr is the user's: nothing else is tried
    want, got = named.model.state_dict(), chosen.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_joined_members_are_both_models_members_in_order():
    spec = {"numeric_width": 2, "categorical": [[3, "onehot", 0], [40, "embedding", 4]], "hidden": [8],
            "out_dim": 1, "members": 3, "folds": 3}
    torch.manual_seed(0)
    first, second = TabularNet.build(spec).eval(), TabularNet.build(spec).eval()
    both, both_spec = joined(first, second, spec)
    assert both_spec["members"] == 6 and spec["members"] == 3
    x = torch.cat([torch.randn(5, 2), torch.tensor([[0, 7], [1, 39], [2, 0], [1, 12], [0, 3]]).float()], dim=1)
    with torch.no_grad():
        want = torch.cat([first.member_outputs(x), second.member_outputs(x)], dim=1)
        assert torch.equal(both.member_outputs(x), want)
        assert torch.allclose(both.eval()(x), want.mean(dim=1), atol=1e-6)   # no linear part: the members' mean
    assert torch.equal(TabularNet.build(both_spec).fold, torch.arange(6) % 3)


def test_with_folds_the_final_model_keeps_the_fold_members_beside_the_refit_ones():
    frame = _linear_table(120).assign(y=lambda f: np.sin(2 * f.a) + f.b)
    opts = Options(target="y", seed=3, **QUICK)
    prepared = prepare(frame, opts, say=lambda _: None)
    assert prepared.scheme.kind == "folds" and prepared.scheme.keeps_first
    first = train(prepared, opts, say=lambda _: None).model.state_dict()
    final, members = prepared.run.model.state_dict(), prepared.scheme.members
    assert prepared.run.config["architecture"]["members"] == 2 * members == 20
    for name, value in first.items():
        if name.startswith("layers."):
            assert torch.equal(final[name][:members], value)          # the folds' networks, as trained
            assert not torch.allclose(final[name][members:], value)   # the refit's own
    grade(prepared, opts)
    with torch.no_grad():   # the test rows are predicted by all 20 networks' mean, blended with the linear part
        model, x = prepared.run.model, prepared.x[prepared.split.test]
        blend = float(model.blend)
        expected = blend * model.member_outputs(x)[:, :, 0].mean(dim=1) + (1 - blend) * (
            model.design(x) @ model.linear_weight.T + model.linear_bias)[:, 0]
    predicted = prepared.run.test_predictions["predicted"].to_numpy()
    target = prepared.run.target
    assert np.allclose(predicted, expected.numpy() * target.std + target.mean, atol=1e-4)


class FirstBatches(Callback):
    """The rows (inputs without the held-out member column) of each run's first training batch, in run order."""

    def __init__(self):
        self.batches, self.hooks = [], []

    def on_start(self, state):
        self.batches.append(None)
        self.hooks.append(state.task.model.register_forward_pre_hook(self._record))

    def _record(self, model, inputs):
        if model.training and self.batches[-1] is None:
            self.batches[-1] = inputs[0][:, :-1].clone()

    def on_end(self, state):
        self.hooks.pop().remove()


def test_with_folds_the_refit_takes_the_rows_in_another_order_than_the_kept_first_run():
    frame = _linear_table(120).assign(y=lambda f: np.sin(2 * f.a) + f.b)
    opts = Options(target="y", seed=3, **QUICK)
    prepared, watched = prepare(frame, opts, say=lambda _: None), FirstBatches()
    train(prepared, opts, say=lambda _: None, callbacks=[watched])
    *first_runs, refit = watched.batches   # one first run per lr candidate, from the same order; then the refit
    assert len(first_runs) == len(LR_CANDIDATES) and torch.equal(first_runs[0], first_runs[1])
    assert refit.shape == first_runs[0].shape   # the same rows in batches of the same size...
    assert not torch.equal(refit, first_runs[0])   # ...but other rows first: the two halves' luck is their own
    assert train_module.refit_seed(prepared.scheme, opts) == 4
    sliced = prepare(_linear_table(2600), opts, say=lambda _: None)   # over 2,000 training rows: one slice
    assert sliced.scheme.kind == "slice" and sliced.scheme.refit and not sliced.scheme.keeps_first
    assert train_module.refit_seed(sliced.scheme, opts) == 3   # nothing of the first run is kept: its own seed


def test_named_optimizers_train_an_exponential_average_of_the_weights():
    prepared = prepare(_linear_table(60), Options(target="y", **QUICK), say=lambda _: None)
    run = prepared.run
    data = (prepared.x, prepared.y)
    default = fit_arguments(run, data, None, Options(target="y", **QUICK), 3e-3, epochs=2)["optimizer"]
    assert isinstance(default, optim.EMA) and default.decay == WEIGHT_AVERAGE == 0.95
    assert default.param_groups[0]["lr"] == 3e-3 and {id(p) for g in default.param_groups for p in g["params"]} \
        == {id(p) for p in run.model.parameters()}
    for name, lr in (("auto", None), ("adamw", "auto"), ("lbfgs", 1.0), ("schedule_free_adamw", 1e-3)):
        assert averaged(Options(target="y", optimizer=name), run.model, lr) == name   # they choose or average
    assert isinstance(averaged(Options(target="y", optimizer="sgd"), run.model, 0.1), optim.EMA)


def test_the_kept_networks_are_the_average_of_their_last_steps_weights():
    frame = _linear_table(64)
    opts = Options(target="y", batch_size=32, test_fraction=0.0, refit="no", max_epochs=3, patience=10,
                   progress=False)
    prepared = prepare(frame, opts, say=lambda _: None)
    runs = []   # each lr candidate's steps: the callback watches every run

    class Weights(Callback):
        def on_start(self, state):
            runs.append([])

        def on_step_end(self, state, record):
            runs[-1].append(state.task.model.layers[0].weight.detach().clone())

    assert train(prepared, opts, say=lambda _: None, callbacks=[Weights()]).best["epoch"] == 3   # the last: kept
    assert len(runs) == len(LR_CANDIDATES)
    steps = runs[[TUNED_LR * f for f in LR_CANDIDATES].index(prepared.run.config["lr"])]
    kept = prepared.run.model.layers[0].weight
    average = sum((1 - WEIGHT_AVERAGE) * WEIGHT_AVERAGE ** (len(steps) - 1 - i) * w for i, w in enumerate(steps))
    assert torch.allclose(kept, average / (1 - WEIGHT_AVERAGE ** len(steps)), atol=1e-6)


class StopAt(Callback):
    """Ctrl-C once `steps` steps have ended, counting across the lr candidates' first runs and the refit."""

    def __init__(self, steps: int | None = None):
        self.steps, self.seen = steps, 0

    def on_step_end(self, state, record):
        self.seen += 1
        if self.seen == self.steps:
            raise KeyboardInterrupt


@pytest.mark.parametrize("dated", [False, True])
@pytest.mark.parametrize("where", ["first run", "refit"])
def test_an_interrupted_fit_resumes_to_the_same_model(tmp_path, where, dated):
    frame = bakery(120, seed=2)   # dated: forward-chained blocks, else 5 folds; then a refit
    frame = frame if dated else frame.drop(columns=["date"])
    opts = Options(target="loaves", seed=1, **QUICK)
    reference, counted = prepare(frame, opts, say=lambda _: None), StopAt()
    train(reference, opts, say=lambda _: None, callbacks=[counted])
    steps = counted.seen - sum(r.get("phase") == "refit" for r in reference.run.history)   # both candidates'
    stop_after = 7 if where == "first run" else steps + 6   # after the refit's first checkpoint (step 4)
    interrupted = prepare(frame, opts, say=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, opts, say=lambda _: None, run_dir=tmp_path / "run", callbacks=[StopAt(stop_after)])
    refit_checkpoints = list((tmp_path / "run" / "refit" / "checkpoints").glob("step-*"))
    assert bool(refit_checkpoints) == (where == "refit")
    resumed = prepare(frame, opts, say=lambda _: None)
    train(resumed, opts, say=lambda _: None, run_dir=tmp_path / "run", resume=True)
    want, got = reference.run.model.state_dict(), resumed.run.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert resumed.run.metrics["validation"] == reference.run.metrics["validation"]


class Steps(Callback):
    """The steps of each run it watched, in order."""

    def __init__(self):
        self.runs = []

    def on_start(self, state):
        self.runs.append(0)

    def on_step_end(self, state, record):
        self.runs[-1] += 1


@pytest.mark.parametrize("where", ["second lr", "adopting the chosen record"])
def test_a_fit_interrupted_while_choosing_its_lr_resumes_to_the_same_choice_and_model(tmp_path, monkeypatch, where):
    frame = bakery(120, seed=2).drop(columns=["date"])
    opts = Options(target="loaves", seed=1, **QUICK)
    reference, steps = prepare(frame, opts, say=lambda _: None), Steps()
    train(reference, opts, say=lambda _: None, callbacks=[steps])
    assert len(steps.runs) == len(LR_CANDIDATES) + 1   # each lr's first run, then the refit
    folder, real_replace, moved = tmp_path / "run", os.replace, []

    def cut_short(source, target):   # Ctrl-C after the chosen record's first entry moved up
        if CANDIDATES in Path(source).parts and Path(target).parent == folder:
            if moved:
                raise KeyboardInterrupt
            moved.append(source)
        real_replace(source, target)

    stop = StopAt(steps.runs[0] + 5 if where == "second lr" else None)
    if where != "second lr":
        monkeypatch.setattr(os, "replace", cut_short)
    with pytest.raises(KeyboardInterrupt):
        train(prepare(frame, opts, say=lambda _: None), opts, say=lambda _: None, run_dir=folder, callbacks=[stop])
    monkeypatch.undo()
    first_lr = folder / CANDIDATES / f"lr-{TUNED_LR * LR_CANDIDATES[0]:g}"
    if where == "second lr":
        assert (first_lr / "summary.json").is_file() and not (folder / FIRST_RUN).exists()
    else:
        assert (folder / FIRST_RUN).is_file() and len(moved) == 1 and (folder / CANDIDATES).is_dir()
    resumed = prepare(frame, opts, say=lambda _: None)
    train(resumed, opts, say=lambda _: None, run_dir=folder, resume=True)
    want, got = reference.run.model.state_dict(), resumed.run.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert resumed.run.config["lr_candidates"] == reference.run.config["lr_candidates"]
    assert resumed.run.history == reference.run.history
    assert not (folder / CANDIDATES).exists()   # the chosen record is the run folder's own, the other is gone
    first = json.loads((folder / FIRST_RUN).read_text())
    assert len((folder / "history.jsonl").read_text().splitlines()) == first["records"] == steps.runs[
        [TUNED_LR * f for f in LR_CANDIDATES].index(reference.run.config["lr"])]


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_says_how_many_rows_each_part_gets_and_what_predict_writes(capsys):
    text = _help("fit", capsys)
    assert "--test-fraction 0" in text and "5 folds" in text and "trained again on all" in text
    text = _help("predict", capsys)
    assert "prediction" in text and "p_<class>" in text


def test_the_temperature_undoes_logits_made_too_sure():
    rng = np.random.default_rng(0)
    z = torch.as_tensor(rng.normal(size=20_000), dtype=torch.float32)
    y = (torch.rand(20_000, generator=torch.Generator().manual_seed(1)) < torch.sigmoid(z)).float()
    temperature, tempered_loss = linear.choose_temperature("bce", torch.sigmoid(3 * z), y)   # logits 3x too large
    assert temperature == pytest.approx(3.0, rel=0.05)
    assert tempered_loss < linear.mean_loss("bce", torch.sigmoid(3 * z), y) - 0.05
    assert linear.choose_temperature("mse", z, z) == (1.0, 0.0)   # values are left alone


def test_no_temperature_sharpens_classes_that_every_row_already_gets_right():
    z = torch.linspace(-3, 3, 400)
    y = (z > 0).float()   # every row on its likelier side: sharper logits lower the loss without end
    temperature, tempered_loss = linear.choose_temperature("bce", torch.sigmoid(z), y)
    assert temperature == 1.0 and tempered_loss == pytest.approx(linear.mean_loss("bce", torch.sigmoid(z), y))
    y[0] = 1.0   # one row wrong: the rows now say how sure to be, and they say sharper
    assert linear.choose_temperature("bce", torch.sigmoid(z), y)[0] < 1.0
    probabilities = torch.softmax(torch.stack([z, -z, torch.zeros_like(z)], dim=1), dim=1)
    assert linear.choose_temperature("cross_entropy", probabilities, (z < 0).long())[0] == 1.0


def test_the_model_divides_its_class_logits_by_the_temperature_it_was_built_with():
    spec = dict(numeric_width=2, categorical=[], hidden=[8], out_dim=3, members=2, link="softmax")
    x = torch.randn(5, 2)
    plain, hot = TabularNet.build(spec).eval(), TabularNet.build({**spec, "temperature": 2.0}).eval()
    hot.load_state_dict(plain.state_dict())   # the temperature travels in the architecture, not in the weights
    with torch.no_grad():
        assert torch.allclose(hot(x), torch.log_softmax(plain(x) / 2.0, dim=1), atol=1e-6)


def test_a_classification_run_keeps_its_chosen_temperature_when_loaded(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.where(x[:, 0] + rng.normal(0, 1, 300) > 0, "up", "down")})
    run = fit_table(frame, Options(target="y", **QUICK))
    chosen = run.metrics["validation"]["temperature"]
    assert chosen in linear.TEMPERATURES and run.config["architecture"]["temperature"] == chosen
    assert float(run.model.temperature) == pytest.approx(chosen) and chosen != 1.0
    assert validation_line(run.metrics["validation"]).endswith(
        f"; then logits divided by a temperature of {chosen:g} (validation loss "
        f"{run.metrics['validation']['losses']['tempered']:.4g})")
    run.save(tmp_path / "run")
    loaded = TabularRun.load(tmp_path / "run")
    assert np.array_equal(loaded.outputs(torch.as_tensor(x, dtype=torch.float32)),
                          run.outputs(torch.as_tensor(x, dtype=torch.float32)))


def test_the_doctor_reads_folds_without_their_member_column_as_a_leak():
    frame = _linear_table(150)
    clean = fit_table(frame, Options(target="y", **QUICK), say=lambda _: None)
    assert clean.metrics["validation"]["how"] == "5-fold, out of fold"
    assert "target_leak" not in [f.code for f in clean.findings]   # the member column is in inputs and targets
    leaking = fit_table(frame.assign(copy=2 * frame.y + 1), Options(target="y", **QUICK), say=lambda _: None)
    leak = next(f for f in leaking.findings if f.code == "target_leak")
    assert leak.evidence["column"] == 3 and leak.evidence["correlation"] > 0.9999   # a, b, c, then the copy


def test_the_member_loss_shows_the_doctor_the_features_and_the_target_alone():
    x, labels, held = torch.randn(4, 3), torch.tensor([0, 2, 1, 2]), torch.tensor([0, 1, -1, 1])
    features, target = MemberLoss("cross_entropy").readings_view(with_held_out(x, held), with_member(labels, held))
    assert torch.equal(features, x) and torch.equal(target, labels) and target.dtype == torch.long
    _, numbers = MemberLoss("mse").readings_view(with_held_out(x, held), with_member(labels.float() / 2, held))
    assert torch.equal(numbers, labels.float() / 2)


def test_a_run_interrupted_while_choosing_its_lr_is_kept_and_a_fresh_run_is_told_to_resume_it(tmp_path, capsys,
                                                                                                monkeypatch):
    data, out = tmp_path / "table.csv", tmp_path / "run"
    _linear_table(120).to_csv(data, index=False)
    candidate = tmp_path / "run.partial" / CANDIDATES / "lr-0.003"

    def interrupted(frame, opts, run_dir, **_):   # Ctrl-C while the first lr candidate trains
        candidate.mkdir(parents=True)
        (candidate / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr("descend.cli.commands.fit.fit_table", interrupted)
    assert main(["fit", str(data), "--target", "y", "--out", str(out)]) == 130
    assert (f"the run is kept in {out}.partial; the same command with --resume completes it"
            in capsys.readouterr().err)
    monkeypatch.undo()
    assert main(["fit", str(data), "--target", "y", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {out}.partial holds an interrupted run for --out {out}: add --resume to continue it, or "
        "delete that folder to start over")
    assert (candidate / "config.json").is_file()   # not cleared away as a dead run's leftovers


def test_update_help_says_which_rows_judge_and_when_the_previous_weights_stay(capsys):
    text = _help("update", capsys)
    assert "the newest --test-fraction of the fit (default 0.2) are held out and scored before and after" in text
    assert "when the validation loss ends worse than it began, the previous weights are kept" in text
    assert "--max-epochs N" in text


def test_the_doctor_does_not_read_the_tables_member_loss_as_a_users_loss_that_ignores_its_rows():
    """Fit's member loss takes targets with the rows' folds beside the classes: probing it as a user's loss (outputs
    moved one row against their targets) warned `loss_unpaired` on class tables with folds whose rows are sorted by
    class (palmerpenguins' file, as it ships)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(240, 3))
    label = np.array(["a", "b", "c"])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)]
    frame = pd.DataFrame({"u": x[:, 0], "v": x[:, 1], "w": x[:, 2], "kind": label}).sort_values("kind", kind="stable")
    lines = []   # sorted by class, as files often are: the rows the probe moved against each other share a class
    run = fit_table(frame, Options(target="kind", **QUICK), say=lines.append)
    assert "5 folds" in "\n".join(lines)
    assert [f.code for f in run.findings if f.code in ("loss_unpaired", "class_weighting")] == []
