"""What fit_held_out3's models (benchmarks/fit_held_out3.py) taught the doctor, each on a real fit: a run whose
validation loss rose from its best while the training loss fell is short of the linear reference because it
overfits, so it is not told to train longer; a run still improving on held-out rows at its limit still is. A
model held at a constant prediction's loss until the schedule lowered the lr is told the lr where it left, not to
train longer."""
import pytest
import torch
from torch import nn

import descend as ds
from benchmarks.fit_held_out3 import deep_plain_mlp, lstm2_bursts


def codes(result) -> list[str]:
    return [f.code for f in result.findings]


@pytest.mark.slow
def test_an_overfit_run_is_not_told_to_train_longer():
    """fit's defaults on the 10-layer plain MLP, seed 0: validation loss 0.825 at step 261, 0.96 at the end,
    while the training loss fell 0.64 -> 0.42. The doctor also said "not converged ... 0.1225 short of a linear
    model; train longer (max_epochs=60)"; following it left the gap where it was (0.1227 short, test
    cross-entropy 0.843 -> 0.823 from the restored best weights) while validation rose to 1.77."""
    case = deep_plain_mlp(0)
    result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=0, progress=False)
    assert "overfitting" in codes(result)
    assert "not_converged" not in codes(result)


def test_a_run_still_improving_on_held_out_rows_is_not_converged():
    """A linear regression under plain SGD at lr 1e-3 for 5 epochs: training and validation losses both still
    falling at the limit, far above the least-squares fit; the doctor names not_converged and its longer run."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 1, generator=g)
    x, xv = torch.randn(512, 8, generator=g), torch.randn(256, 8, generator=g)
    y, yv = x @ w + 0.1 * torch.randn(512, 1, generator=g), xv @ w + 0.1 * torch.randn(256, 1, generator=g)
    torch.manual_seed(0)
    result = ds.fit(nn.Linear(8, 1), (x, y), loss="mse", val=(xv, yv), optimizer="sgd", lr=1e-3, max_epochs=5,
                    batch_size=32, seed=0, progress=False)
    assert codes(result)[0] == "not_converged"
    assert "max_epochs" in result.findings[0].change


@pytest.mark.slow
def test_a_model_held_at_the_constant_until_the_lr_decayed_is_told_that_lr():
    """fit's defaults on the 2-layer LSTM, seed 0: auto picked lr 0.1, the loss sat at log 3 nats until the cosine
    had taken the lr to about 0.02 (step 316 of 440) and fell only then (test cross-entropy 0.89). The doctor said
    "not converged ... train longer (max_epochs=80)": 80 epochs end at 1.098 (log 3), the high lr held longer. The
    grid's AdamW + cosine runs reach 0.40-0.44 at lr 0.01-0.03 and sit at log 3 at 0.1."""
    case = lstm2_bursts(0)
    result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=0, progress=False)
    assert codes(result) == ["lr_too_high"]
    found = result.findings[0]
    assert found.evidence["kind"] == "held"
    assert 0.01 <= found.change["lr"] <= 0.03
    assert "not_converged" in found.evidence.get("explains", [])


@pytest.mark.slow
def test_a_model_that_learns_at_its_lr_is_not_held():
    """The same LSTM on seed 1: auto picked 0.01, the loss left the constant early and the run ends within 2% of
    the grid's best (0.41 nats): no finding."""
    case = lstm2_bursts(1)
    result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=1, progress=False)
    assert codes(result) == []
