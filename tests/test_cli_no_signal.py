"""no_signal through `descend fit`: the tabular app trains under its members' loss object, whose `reference_loss`
names the loss its blended evaluation output is judged by and whose `readings_view` gives the plain features and
target, so the doctor compares the trained model with its references there too (before: no per-row losses, no
references, and a random target got `overfitting` at most)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from descend.apps.tabular.members import MemberLoss, with_member
from descend.cli import main
from descend.doctor.reference import kind_of, per_example, sample


def table(rows: int, width: int, seed: int, target: str) -> pd.DataFrame:
    """Standard normal columns f0.. and a target y: a coin flip ("coin"), normal noise ("noise"), both drawn apart
    from the columns, or the sign of f0 + f1 ("two")."""
    draw = np.random.default_rng(seed)
    x = draw.normal(size=(rows, width))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(width)])
    y = {"coin": draw.integers(0, 2, rows), "noise": draw.normal(size=rows),
         "two": (x[:, 0] + x[:, 1] > 0).astype(int)}[target]
    return frame.assign(y=y)


def findings(tmp_path, frame: pd.DataFrame) -> list[str]:
    """The finding codes `descend fit` saves for `frame` (target y), in order."""
    data, out = tmp_path / "data.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y", "--out", str(out)]) == 0
    return [f["code"] for f in json.loads((out / "findings.json").read_text())]


@pytest.mark.parametrize("rows, width, seed", [(600, 6, 0), (1500, 10, 2)])
def test_a_coin_flip_target_is_no_signal_first(tmp_path, rows, width, seed):
    """Out-of-fold (600 rows) and on a validation slice (1500): no_signal names the cause (on main: overfitting)."""
    codes = findings(tmp_path, table(rows, width, seed, "coin"))
    assert codes and codes[0] == "no_signal"


@pytest.mark.parametrize("rows, width, seed", [(600, 6, 0), (1500, 10, 2)])
def test_a_target_two_columns_decide_is_not_no_signal(tmp_path, rows, width, seed):
    assert "no_signal" not in findings(tmp_path, table(rows, width, seed, "two"))


def test_a_noise_regression_target_is_no_signal(tmp_path):
    assert "no_signal" in findings(tmp_path, table(900, 6, 1, "noise"))


def test_member_loss_hands_the_references_its_named_loss_and_plain_columns():
    """The references read the features without the held-out member column and the target without it, while the
    model is still evaluated on the inputs as given (it routes rows by that column)."""
    x = torch.randn(40, 3)
    member = torch.arange(40) % 5
    inputs, targets = torch.cat([x, member[:, None].float()], dim=1), with_member((x[:, 0] > 0).float(), member)
    loss = MemberLoss("bce", folds=5)
    assert kind_of(loss) == "binary" and kind_of("bce") == "binary" and kind_of(torch.nn.BCELoss()) is None
    rows = sample((inputs, targets), None, loss.readings_view)
    assert rows.x.shape == (40, 3) and torch.equal(rows.x, x.double())
    assert torch.equal(rows.y, (x[:, 0] > 0).float()) and torch.equal(rows.model_eval, inputs)
    logits = torch.zeros(40, 1)
    assert torch.allclose(per_example(loss, logits, rows.y_eval), torch.full((40,), np.log(2), dtype=torch.float64))
