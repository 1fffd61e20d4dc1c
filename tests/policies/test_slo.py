"""Each service-level objective is met by good numbers and breached by bad ones."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policies.rules import load_rules
from policies.slo import evaluate_slo
from tests.clock import moment

SLO = load_rules().slos["marts/customer_features"]
NOW = moment()
GOOD = {"runs": [(True, 30.0)] * 40, "last_materialized": NOW - timedelta(hours=2),
        "checks": [True] * 50}


@pytest.mark.parametrize(("change", "breach"), [
    ({"last_materialized": NOW - timedelta(hours=30)}, "freshness: 30.0h old"),
    ({"last_materialized": None}, "freshness: never built"),
    ({"runs": [(True, 30.0)] * 9 + [(False, 5.0)]}, "success rate 90% < 95%"),
    ({"runs": [(True, 30.0)] * 10 + [(True, 1200.0)]}, "latency p95 1200s > 900s"),
    ({"checks": [True] * 9 + [False]}, "check pass rate 90% < 95%"),
], ids=["stale", "never-built", "failures", "slow", "checks"])
def test_each_objective_can_be_breached(change, breach):
    assert evaluate_slo(SLO, now=NOW, **GOOD).breaches == []
    [found] = evaluate_slo(SLO, now=NOW, **{**GOOD, **change}).breaches
    assert found.startswith(breach)


def test_indicators_are_computed_from_the_history():
    reading = evaluate_slo(SLO, [(True, 10.0), (True, 20.0), (False, 1.0), (True, 40.0)],
                           NOW - timedelta(minutes=30), [True, False, True, True], NOW)
    assert (reading.runs, reading.success_rate) == (4, 0.75)
    assert (reading.latency_p50_seconds, reading.latency_p95_seconds) == (20.0, 40.0)
    assert reading.freshness_lag_hours == 0.5 and reading.check_pass_rate == 0.75
