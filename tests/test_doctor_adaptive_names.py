"""The doctor reads every optimizer of Adam's kin as adaptive, whatever its registry name (adamw, adam_flat, nadam),
so a rule whose fix only holds for plain steps (a loss scaled down by a constant factor) stays quiet under them; the
fit that shows it is in test_doctor_fresh6 beside the SGD and Adam twins."""

from descend.doctor.advice import adaptive


def test_adaptive_reads_adam_kin_by_any_name_and_plain_steps_as_not():
    assert all(adaptive(name) for name in ("adam", "adamw", "adamw_flat", "nadam", "rmsprop", "lion"))
    assert not any(adaptive(name) for name in ("sgd", "lbfgs", "", None))
