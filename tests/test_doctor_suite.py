"""The doctor's scenario suite (benchmarks/doctor_scenarios.py) as a test: over its induced failures and healthy
runs, on fit's defaults (an optimizer is named only where it is the failure), the issue's bar holds (cause named first in 90% of failures, 95% of findings true, no warning on a healthy
run, the first fix works in 90% of the scenarios that have one). Every fix is applied and the run repeated."""
import pytest

from benchmarks.doctor_scenarios import FAILURES, HEALTHY, evaluate, table


@pytest.mark.slow
def test_the_bar_holds_over_the_suite_with_every_first_fix_applied():
    outcomes = [evaluate(s) for s in FAILURES + HEALTHY]
    failures = [o for o in outcomes if o.cause]
    named = sum(o.named_first for o in failures) / len(failures)
    findings = sum(o.true_findings + o.false_findings for o in outcomes)
    true = sum(o.true_findings for o in outcomes) / findings
    with_fix = [o for o in failures if o.fix != "none"]
    works = sum(o.fix == "works" for o in with_fix) / len(with_fix)
    assert len(failures) >= 30 and len(outcomes) - len(failures) >= 15
    assert named >= 0.9 and true >= 0.95 and works >= 0.9, table(outcomes)
    assert not [o.name for o in outcomes if not o.cause and o.codes], table(outcomes)
