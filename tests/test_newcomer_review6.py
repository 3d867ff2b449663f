"""What a new user met in a sixth review (their own models, CSV files and calls written the way people first
write them), each fixed and pinned."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import descend as ds
from descend.core.errors import DescendError


def _line(rows: int = 200, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, 4, generator=g)
    return X, X @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1 * torch.randn(rows, generator=g)


def test_an_optimizer_built_on_another_model_is_refused_before_a_run_that_would_train_nothing():
    X, y = _line()
    model, other = nn.Linear(4, 1), nn.Linear(4, 1)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(DescendError, match=r"the optimizer \(Adam\) holds none of the model's parameters: it was "
                                           r"built on another model or on a copy of it.*Adam\(model.parameters"):
        ds.fit(model, (X, y), optimizer=torch.optim.Adam(other.parameters()), max_epochs=1, progress=False)
    with pytest.raises(DescendError, match="holds none of the model's parameters"):
        ds.lr_find(model, (X, y), optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_an_optimizer_over_part_of_the_model_still_trains_that_part():
    X, y = _line()
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    frozen = model[0].weight.detach().clone()
    result = ds.fit(model, (X, y), optimizer=torch.optim.Adam(model[1].parameters(), lr=0.01), max_epochs=3,
                    progress=False, doctor=False)
    assert torch.equal(model[0].weight, frozen) and result.history[-1]["loss"] < result.history[0]["loss"]
