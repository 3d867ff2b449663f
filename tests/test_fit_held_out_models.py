"""The held-out lists' models (benchmarks/fit_held_out4.py, fit_held_out5.py) build, take one AdamW step through fit
on their own loss, and score their test rows: a model whose output does not fit its loss or its score fails here, not
20 minutes into the benchmark."""
import math

import pytest
import torch

import descend as ds
from benchmarks import fit_held_out4, fit_held_out5

BUILDS = fit_held_out4.MODELS | fit_held_out5.MODELS


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_a_model_builds_steps_and_scores(name):
    case = BUILDS[name](0)
    before = [p.detach().clone() for p in case.model.parameters()]
    result = ds.fit(case.model, case.train, loss=case.loss, optimizer="adamw", lr=1e-3, max_steps=1, seed=0,
                    progress=False, doctor=False)
    assert len(result.history) == 1 and math.isfinite(result.history[0]["loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, case.model.parameters()))
    assert math.isfinite(case.score()) and case.score() > 0


def test_the_physics_informed_model_meets_its_initial_conditions_and_scores_against_the_exact_solution():
    """u(0) = 1 and u'(0) = 0 hold before any training, also in eval mode under no_grad (the score's setting), and
    the training rows' targets are the residual's zeros while the test rows hold the exact solution (u(0) = 1)."""
    case = fit_held_out5.pinn_oscillator(0)
    case.model.eval()
    with torch.no_grad():
        u, du, _ = case.model(torch.zeros(1, 1))[0]
    assert (float(u), float(du)) == (1.0, 0.0)
    assert float(case.train[1].abs().max()) == 0.0
    assert 0.05 < float(case.test[1].abs().max()) <= 1.0


def test_cox_loss_is_the_partial_likelihood_of_a_hand_computed_case():
    """Three rows, times 1 < 2 < 3, the middle one censored: -(r1 - log(e^r1 + e^r2 + e^r3) + r3 - r3) / 2."""
    risk, target = torch.tensor([[0.5], [1.0], [-0.2]]), torch.tensor([[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    expected = -(0.5 - math.log(math.exp(0.5) + math.exp(1.0) + math.exp(-0.2))) / 2
    assert float(fit_held_out5.cox_partial_nll(risk, target)) == pytest.approx(expected, rel=1e-6)
