"""The rows the doctor reads before the first step are sized to the run: a short run on a big table reads a share
of the rows it trains on (never fewer than the references' 2000), a long one as many as fit hands it."""
import pytest
import torch
from torch import nn

import descend as ds
from descend.doctor import Doctor, inputs
from descend.doctor.reference import ROWS
from descend.doctor.sizing import READ_SHARE, rows_read


def test_rows_read_are_a_share_of_the_planned_rows_between_the_references_rows_and_all():
    assert rows_read(None, 4096) == 4096                            # the run's length unknown: everything
    assert rows_read(16384, 4096) == 16384 // READ_SHARE == 2048    # a 256-step run of 64-row batches
    assert rows_read(4096, 4096) == ROWS                            # never fewer than the references use
    assert rows_read(4096, 1300) == 1300                            # small data: read in full, as before
    assert rows_read(10 ** 6, 4096) == 4096


def _split_target(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A target whose first ROWS rows vary 100x less than the rest, so the constant prediction's loss the doctor
    reads tells how many rows it read."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(rows, generator=g)
    y[ROWS:] *= 10
    return torch.randn(rows, 4, generator=g), y


def test_the_constant_baseline_is_read_on_the_rows_the_run_can_afford():
    x, y = _split_target(4096)
    model = nn.Linear(4, 1)
    short = Doctor(True, model, (x, y), "mse", planned_rows=8 * ROWS)
    long = Doctor(True, model, (x, y), "mse", planned_rows=100 * 4096)
    unknown = Doctor(True, model, (x, y), "mse")
    assert short.readings.target_baseline == pytest.approx(float(y[:ROWS].double().var(unbiased=False)))
    assert long.readings.target_baseline == pytest.approx(float(y.double().var(unbiased=False)))
    assert unknown.readings.target_baseline == long.readings.target_baseline
    assert long.readings.target_baseline > 20 * short.readings.target_baseline


def test_fit_tells_the_doctor_the_rows_its_steps_go_through(monkeypatch):
    read = []
    original = inputs.read
    monkeypatch.setattr(inputs, "read", lambda x, y, loss: read.append(len(x)) or original(x, y, loss))
    x, y = _split_target(6000)
    for epochs in (1, 20):
        torch.manual_seed(0)
        ds.fit(nn.Linear(4, 1), (x, y), loss="mse", optimizer="adamw", lr=1e-3, batch_size=64, max_epochs=epochs,
               progress=False)
    assert read == [ROWS, 4096]   # 6000 rows once: 750 would be an eighth; 20 passes: the 4096 fit hands over
