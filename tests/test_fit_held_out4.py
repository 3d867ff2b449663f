"""fit_held_out4's models (benchmarks/fit_held_out4.py) build, take one AdamW step through fit on their own loss,
and score their test rows: a model whose output does not fit its loss or its score fails here, not 20 minutes into
the benchmark."""
import math

import pytest
import torch

import descend as ds
from benchmarks.fit_held_out4 import MODELS


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_model_builds_steps_and_scores(name):
    case = MODELS[name](0)
    before = [p.detach().clone() for p in case.model.parameters()]
    result = ds.fit(case.model, case.train, loss=case.loss, optimizer="adamw", lr=1e-3, max_steps=1, seed=0,
                    progress=False, doctor=False)
    assert len(result.history) == 1 and math.isfinite(result.history[0]["loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, case.model.parameters()))
    assert math.isfinite(case.score()) and case.score() > 0
