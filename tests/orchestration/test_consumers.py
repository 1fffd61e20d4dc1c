"""The automation teams' models in real runs: they score from the governed read path, keep
their scores in their regions, are audited, and a consumer declared wrongly is blocked."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from orchestration.lib.audit_log import entries
from orchestration.lib.consumers.fairness import GroupRate, judge, measure
from policies.rules import POLICIES_DIR, load_rules
from tests.conftest import run_steward
from tests.orchestration.ingest_helpers import store_rows


@pytest.fixture(scope="module")
def built(pipeline_run, built_estate):
    success, outcomes = pipeline_run
    return success, {o.asset: o for o in outcomes if o.asset.startswith("consumers/")}


def _tables(region: str) -> set[str]:
    return {name for (name,) in store_rows(
        region, "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "'consumers'")}


def test_the_three_consumers_score_only_in_their_regions(built):
    success, consumers = built
    assert success
    assert {name: o.status for name, o in consumers.items()} == {
        "consumers/lead_scores": "ok", "consumers/ticket_routes": "ok",
        "consumers/invoice_risk": "ok"}
    assert _tables("us") == {"lead_scores", "invoice_risk"}
    assert _tables("eu") == {"ticket_routes", "invoice_risk"}
    [(scored, customers)] = store_rows("us", "SELECT (SELECT count(*) FROM consumers.lead_scores),"
                                             " (SELECT count(*) FROM marts.customer_features)")
    assert scored == customers > 0
    [(bad,)] = store_rows("us", "SELECT count(*) FROM consumers.lead_scores "
                                "WHERE lead_score NOT BETWEEN 0 AND 1")
    assert bad == 0


def test_each_consumer_run_and_read_is_in_the_audit_log(built):
    kinds = [(e.kind, e.subject, e.details.get("consumer")) for e in entries()]
    for subject, consumer in [("consumers/lead_scores", "lead_scoring"),
                              ("consumers/ticket_routes", "support_routing"),
                              ("consumers/invoice_risk", "finance_automation")]:
        assert ("consumer.run", subject, consumer) in kinds
    assert ("access.allowed", "marts/customer_features", "lead_scoring") in kinds
    # The fairness audit read the protected attributes under its own purpose.
    assert ("access.allowed", "crm/customers", "fairness_audit") in kinds
    run = next(e for e in entries() if e.kind == "consumer.run" and e.details["metrics"])
    assert all("rows_trained" in metrics for metrics in run.details["metrics"].values())


def test_the_fairness_audit_measures_real_scores_and_can_fail(built):
    shipped = load_rules().fairness["lead_scores"]
    lenient = shipped.__class__(**{**shipped.__dict__, "min_group_size": 1,
                                   "min_disparate_impact": 0.0, "max_positive_rate_gap": 1.0})
    result = measure(lenient, load_rules().age_bands)
    assert result.passed and {g.attribute for g in result.groups} == {"gender", "age_band"}
    assert sum(g.size for g in result.groups if g.attribute == "gender") == store_rows(
        "us", "SELECT count(*) FROM consumers.lead_scores")[0][0]
    strict = lenient.__class__(**{**lenient.__dict__, "min_disparate_impact": 1.0,
                                  "max_positive_rate_gap": 0.0})
    failed = measure(strict, load_rules().age_bands)
    assert not failed.passed and any("four-fifths" in p for p in failed.problems)


def test_the_four_fifths_rule_and_the_gap_judge_only_large_groups():
    audit = load_rules().fairness["lead_scores"]
    fair = [GroupRate("gender", "a", 100, 0.40, True), GroupRate("gender", "b", 100, 0.36, True),
            GroupRate("gender", "c", 5, 0.0, False)]
    assert judge(audit, fair).passed
    assert judge(audit, fair).disparate_impact["gender"] == 0.9
    unfair = [GroupRate("gender", "a", 100, 0.50, True), GroupRate("gender", "b", 100, 0.30, True)]
    problems = judge(audit, unfair).problems
    assert len(problems) == 2 and "0.60" in problems[0] and "0.20" in problems[1]


def _redeclared(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = folder / "consumers.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize(("old", "new", "rule"), [
    ("    purpose: lead_scoring\n", "    purpose: support_routing\n", "consumer.purpose_denied"),
    # The lead-scoring model runs on US customers; a team cleared for the EU only may not.
    ("    regions: [us]\n    clearance: pseudonymous\n    datasets: [marts/customer_features]",
     "    regions: [eu]\n    clearance: pseudonymous\n    datasets: [marts/customer_features]",
     "consumer.region_denied"),
], ids=["wrong-purpose", "wrong-region"])
def test_a_wrongly_declared_consumer_is_blocked_in_a_run_and_denied_a_read(
        built, built_estate, tmp_path, old, new, rule):
    policies = _redeclared(tmp_path, old, new)
    before = store_rows("us", "SELECT max(scored_at), count(*) FROM consumers.lead_scores")
    run = run_steward([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                       "orchestration.definitions", "--select", "consumers/lead_scores"],
                      built_estate[0], STEWARD_POLICIES_DIR=str(policies))
    log = run.stdout + run.stderr
    assert "blocked by policy" in log and rule in log, log[-3000:]
    assert "ASSET_MATERIALIZATION" not in log and "RUN_FAILURE" in log
    # Nothing was read or written: the last good scores are still there.
    assert store_rows("us", "SELECT max(scored_at), count(*) FROM consumers.lead_scores") == before
    blocked = [e for e in entries() if e.kind == "consumer.blocked"]
    assert blocked and blocked[-1].details["denied"][0]["rule"] == rule

    read = run_steward(["read", "marts/customer_features", "--consumer", "lead_scoring",
                        "--region", "us"], built_estate[0], STEWARD_POLICIES_DIR=str(policies))
    assert read.returncode == 2, read.stdout + read.stderr
    assert "denied: lead_scoring may not read marts/customer_features" in read.stderr
    assert rule in read.stderr and "Fix:" in read.stderr
    assert entries()[-1].kind == "access.denied" and entries()[-1].details["rule"] == rule
