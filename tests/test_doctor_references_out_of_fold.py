"""The doctor's references out of fold: when validation rows are training rows that the model scores out of fold
(descend fit's K folds), each fold's rows are scored by references fitted on the other folds' rows. Fitted on the
very rows they score, the references looked better than they are, and a random target got `overfitting` from
descend fit's first run instead of `no_signal`."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from descend.apps.tabular.members import MemberLoss, with_member
from descend.cli import main
from descend.doctor.reference import Sample, constant_reference, references, sample
from test_cli_no_signal import table


def folded(rows: int, width: int, seed: int, y: torch.Tensor | None = None) -> Sample:
    """A K-fold comparison: standard normal inputs, a noise target (or `y`), five folds, the same rows fitted on
    and compared on, as descend fit hands them to the doctor."""
    draw = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, width, generator=draw, dtype=torch.float64)
    y = torch.randn(rows, generator=draw, dtype=torch.float64) if y is None else y
    folds = torch.arange(rows) % 5
    return Sample(x, y, x, y, True, x.float(), folds, folds)


def test_each_folds_rows_are_scored_by_references_fitted_on_the_other_folds():
    data = folded(300, 4, 0)
    found = references("mse", data)
    for fold in range(5):
        rows, others = data.folds == fold, data.folds != fold
        part = Sample(data.x[others], data.y[others], data.x[rows], data.y[rows], True, data.model_eval[rows])
        alone = references("mse", part)
        assert torch.allclose(found.linear[rows], alone.linear) and torch.allclose(found.features[rows],
                                                                                   alone.features)
        assert torch.allclose(constant_reference("mse", data)[rows], constant_reference("mse", part))


def test_out_of_fold_references_do_not_beat_a_constant_on_noise_that_they_memorize_in_sample():
    """200 rows of noise: in-sample the random-feature reference gains on a constant; out of fold it loses."""
    data = folded(200, 6, 1)
    plain = Sample(data.x, data.y, data.x, data.y, True, data.model_eval)
    inside, outside = references("mse", plain), references("mse", data)
    assert float(inside.best().mean()) < float(inside.constant.mean())
    assert float(outside.best().mean()) > float(outside.constant.mean())


def test_the_member_loss_gives_the_folds_only_when_rows_are_held_out():
    x, fold = torch.randn(20, 2), torch.arange(20) % 5
    inputs, targets = torch.cat([x, fold[:, None].float()], dim=1), with_member(x[:, 0], fold)
    k_fold = MemberLoss("mse", folds=5)
    assert torch.equal(k_fold.folds_view(inputs, targets), fold)
    assert MemberLoss("mse", folds=None, held_out=False).folds_view(inputs, targets) is None
    rows = sample((inputs, targets), (inputs, targets), k_fold.readings_view, k_fold.folds_view)
    assert torch.equal(rows.folds, fold) and torch.equal(rows.folds_eval, fold) and rows.x.shape == (20, 2)
    assert sample((inputs, targets), None, k_fold.readings_view, k_fold.folds_view).folds is None


def first_run_codes(tmp_path, frame: pd.DataFrame) -> list[str]:
    """The finding codes of descend fit's first run on `frame` (target y): findings.json begins with them."""
    data, out = tmp_path / "data.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y", "--out", str(out), "--seed", "0"]) == 0
    first = json.loads((out / "first_run.json").read_text())["findings"]
    return [f["code"] for f in json.loads((out / "findings.json").read_text())][:first]


def signal_table(seed: int) -> pd.DataFrame:
    """600 rows (K folds) of six standard normal columns, y = f0 - f1 plus a little noise."""
    draw = np.random.default_rng(seed)
    x = draw.normal(size=(600, 6))
    y = x[:, 0] - x[:, 1] + 0.3 * draw.normal(size=600)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(6)]).assign(y=y)


@pytest.mark.parametrize("seed", [0, 2])
def test_a_noise_regression_target_on_k_folds_is_no_signal_from_the_first_run(tmp_path, seed):
    """Before: these two of eight noise tables got only `overfitting` from the first run (the in-sample references
    gained on a constant); the rest got no_signal either way."""
    assert "no_signal" in first_run_codes(tmp_path, table(600, 6, seed, "noise"))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_regression_target_two_columns_decide_on_k_folds_is_not_no_signal(tmp_path, seed):
    assert "no_signal" not in first_run_codes(tmp_path, signal_table(seed))
