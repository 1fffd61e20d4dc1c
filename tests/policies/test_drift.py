"""The drift rule: the population stability index, and the level each index reaches."""

from __future__ import annotations

import pytest

from policies.drift import BLOCK, NOT_JUDGED, STABLE, WARN, psi, verdict
from policies.rules import load_rules

RULES = load_rules()
WATCH = RULES.drift["consumers/invoice_risk"]
ENOUGH = RULES.drift_min_rows


def test_an_unchanged_population_has_no_drift_and_a_moved_one_has():
    shares = [0.1] * 10
    assert psi(shares, shares) == 0
    moved = [0.0] * 9 + [1.0]  # everything now falls in the top decile
    assert psi(shares, moved) > WATCH.block_psi


def test_an_empty_bin_on_either_side_gives_a_finite_index():
    assert 0 < psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]) < float("inf")


@pytest.mark.parametrize(("index", "level"), [(0.02, STABLE), (0.1, WARN), (0.2, WARN),
                                               (0.25, BLOCK), (3.0, BLOCK)])
def test_the_worst_column_sets_the_level(index, level):
    judged = verdict(WATCH, {"invoice_amount": 0.01, "risk_score": index}, ENOUGH, ENOUGH)
    assert judged.level == level
    assert judged.worst == ("risk_score" if index > 0.01 else "invoice_amount")


def test_nothing_measured_is_stable():
    assert verdict(WATCH, {}, ENOUGH, ENOUGH).level == STABLE


def test_too_few_rows_are_measured_but_not_judged():
    judged = verdict(WATCH, {"risk_score": 3.0}, ENOUGH - 1, ENOUGH)
    assert (judged.level, judged.psi) == (NOT_JUDGED, 3.0)
