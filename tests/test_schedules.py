"""Every schedule's value at chosen steps, fractions resolved against the run, and join's hand-offs."""
import math

import pytest

from descend import schedules as S
from descend.core.errors import DescendError


def test_constant_linear_cosine():
    assert S.constant(0.3)(0) == S.constant(0.3)(10_000) == 0.3
    lin = S.linear(1.0, 0.0, 100)
    assert [lin(s) for s in (0, 25, 100, 500)] == [1.0, 0.75, 0.0, 0.0]
    cos = S.cosine(100)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0)
    assert S.cosine(100, start=1.0, end=0.1)(100) == pytest.approx(0.1)


def test_warmup_ramps_then_holds():
    w = S.warmup(10)
    assert [w(s) for s in (0, 5, 10, 99)] == [0.0, 0.5, 1.0, 1.0]


def test_warmup_cosine_with_fraction_binds_to_total():
    sched = S.warmup_cosine(warmup=0.1).bind(1000)
    assert sched(0) == 0.0
    assert sched(50) == pytest.approx(0.5)
    assert sched(100) == pytest.approx(1.0)
    assert sched(550) == pytest.approx(0.5)  # halfway through the 900-step cosine
    assert sched(1000) == pytest.approx(0.0, abs=1e-12)


def test_unbound_fraction_is_a_clear_error():
    with pytest.raises(DescendError, match="bind"):
        S.warmup_cosine(0.05)(10)


@pytest.mark.parametrize("cooldown,mid", [("linear", 0.5), ("cosine", 0.5), ("1-sqrt", 1 - math.sqrt(0.5))])
def test_wsd_cooldowns(cooldown, mid):
    sched = S.wsd(warmup=100, decay=200, cooldown=cooldown).bind(1000)
    assert sched(50) == pytest.approx(0.5)
    assert sched(100) == sched(500) == sched(799) == pytest.approx(1.0)
    assert sched(900) == pytest.approx(mid)
    assert sched(1000) == pytest.approx(0.0)


def test_one_cycle_runs_low_peak_lower():
    sched = S.one_cycle(warmup=0.25, div=25, final_div=1e4).bind(400)
    assert sched(0) == pytest.approx(1 / 25)
    assert sched(100) == pytest.approx(1.0)
    assert sched(400) == pytest.approx(1 / 25e4)


def test_inverse_sqrt_step_exponential():
    inv = S.inverse_sqrt(100)
    assert inv(49) == pytest.approx(0.5) and inv(99) == pytest.approx(1.0) and inv(399) == pytest.approx(0.5)
    st = S.step(every=10, gamma=0.5)
    assert [st(s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    assert S.exponential(0.9)(3) == pytest.approx(0.729)


def test_join_hands_over_with_its_own_step_counter():
    sched = S.join([S.warmup(500), S.cosine(9_500)])
    assert sched(250) == 0.5 and sched(500) == 1.0
    assert sched(500 + 4_750) == pytest.approx(0.5)
    assert sched(10_000) == pytest.approx(0.0)
    open_ended = S.join([S.Schedule(lambda t: 0.1, 10, "c"), S.exponential(0.5)])
    assert open_ended(5) == 0.1 and open_ended(12) == 0.25


def test_bad_lengths_are_named():
    with pytest.raises(DescendError, match="fractional length"):
        S.cosine(1.5)
    with pytest.raises(DescendError, match="cooldown"):
        S.wsd(cooldown="square")
    with pytest.raises(DescendError, match="at most one"):
        S.join([S.cosine(), S.linear()])


@pytest.mark.parametrize("make,match", [
    (lambda: S.exponential(0.5, every=0), "exponential: every must be a positive integer, got 0"),
    (lambda: S.step(every=2.5), "step: every must be a positive integer, got 2.5"),
    (lambda: S.step(every=10, gamma=0.0), "step: gamma must be a finite number > 0, got 0.0"),
    (lambda: S.exponential(float("inf")), "exponential: gamma must be a finite number > 0, got inf"),
    (lambda: S.inverse_sqrt(0), r"inverse_sqrt: warmup \(steps\) must be a positive integer, got 0"),
    (lambda: S.join([S.warmup(0.6), S.cosine(0.6)]),
     "join: the fractional lengths add up to 1.2 of the run, more than all of it"),
    (lambda: S.join([S.warmup(500), S.cosine(0.9)]).bind(1000),
     "join: its pieces take 1400 steps but the run has 1000"),
])
def test_impossible_schedules_are_refused_when_made_or_bound(make, match):
    with pytest.raises(DescendError, match=match):
        make()


def test_fixed_length_joins_may_outlast_a_short_run_and_fractions_may_fill_it():
    long = S.join([S.warmup(500), S.cosine(9_500)]).bind(100)  # a fixed schedule, cut short by the run
    assert long(50) == 0.1
    full = S.join([S.warmup(0.25), S.cosine(0.75)]).bind(100)
    assert full(25) == 1.0 and full(100) == pytest.approx(0.0, abs=1e-12)
