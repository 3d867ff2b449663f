"""The doctor reads every optimizer of Adam's kin as adaptive, whatever its registry name (adamw, adam_flat, nadam),
so a rule whose fix only holds for plain steps (a loss scaled down by a constant factor) stays quiet under them."""

import torch
from torch.nn import functional as F

from descend.doctor.advice import adaptive
from test_doctor_fresh2 import regression
from test_doctor_fresh3 import fit_rows, mlp


def test_adaptive_reads_adam_kin_by_any_name_and_plain_steps_as_not():
    assert all(adaptive(name) for name in ("adam", "adamw", "adamw_flat", "nadam", "rmsprop", "lion"))
    assert not any(adaptive(name) for name in ("sgd", "lbfgs", "", None))


def test_a_shrunk_loss_under_adamw_is_not_told_to_drop_its_factor():
    x, y = regression()
    def shrunk(o, t):
        return F.mse_loss(o[:, 0], t) / 600
    model = mlp(6, 1)
    result = fit_rows(model, x, y, loss=shrunk, max_epochs=3, batch_size=32,
                      optimizer=torch.optim.AdamW(model.parameters(), lr=1e-6))
    assert not any(f.change == {"loss": "mse"} for f in result.findings)   # AdamW divides the factor out
