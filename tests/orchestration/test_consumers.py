"""The automation teams' models in real runs: they score from the governed read path, keep
their scores in their regions, are audited, and a consumer declared wrongly is blocked."""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.consumers import kept, models, review
from orchestration.lib.consumers.fairness import GroupRate, judge, measure
from orchestration.lib.consumers.run import KEPT_SCORES, NOT_DUE, run_consumer
from orchestration.lib.governance.audit_log import entries, record_policy_files
from orchestration.lib.governance.credentials import issue
from orchestration.lib.governance.erasure import erase
from orchestration.lib.quality.suites import load_suites
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import store_path, write_connection
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


def test_every_declared_consumer_model_has_a_trainer_and_every_trainer_a_declaration():
    assert set(models.TRAINERS) == {model.name for model in CONSUMER_MODELS}


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


def test_a_breach_beyond_sampling_error_is_told_from_one_chance_can_make():
    audit = load_rules().fairness["lead_scores"]
    assert audit.confidence == 0.95

    def rates(size: int) -> list[GroupRate]:
        return [GroupRate("gender", "a", size, 0.50, True),
                GroupRate("gender", "b", size, 0.30, True)]

    # Groups of 30 and of 100 at 0.5 and 0.3: chance alone makes gaps like these.
    for size in (30, 100):
        judged = judge(audit, rates(size))
        assert len(judged.problems) == 2 and judged.beyond_doubt == [], size
    large = judge(audit, rates(1000))  # a thousand a group: no longer chance
    assert large.beyond_doubt == [f"{p}, beyond sampling error at 95%" for p in large.problems]
    exact = dataclasses.replace(audit, confidence=0.0)  # no benefit of the doubt
    assert len(judge(exact, rates(30)).beyond_doubt) == 2


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
        built, built_copy, tmp_path, old, new, rule, read_service, monkeypatch):
    # On a copy: the read records the changed rules, which makes every kept model due.
    policies = _redeclared(tmp_path / "rules", old, new)
    before = store_rows("us", "SELECT max(scored_at), count(*) FROM consumers.lead_scores")
    run = run_steward([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                       "orchestration.definitions", "--select", "consumers/lead_scores"],
                      built_copy, STEWARD_POLICIES_DIR=str(policies))
    log = run.stdout + run.stderr
    assert "blocked by policy" in log and rule in log, log[-3000:]
    assert "ASSET_MATERIALIZATION" not in log and "RUN_FAILURE" in log
    # Nothing was read or written: the last good scores are still there.
    assert store_rows("us", "SELECT max(scored_at), count(*) FROM consumers.lead_scores") == before
    blocked = [e for e in entries() if e.kind == "consumer.blocked"]
    assert blocked and blocked[-1].details["denied"][0]["rule"] == rule

    monkeypatch.setenv("STEWARD_POLICIES_DIR", str(policies))  # the service's rules
    read = run_steward(["read", "marts/customer_features", "--region", "us"], built_copy,
                       STEWARD_READ_SERVICE=read_service,
                       STEWARD_TOKEN=issue("lead_scoring").token)
    assert read.returncode == 2, read.stdout + read.stderr
    assert "denied: lead_scoring may not read marts/customer_features" in read.stderr
    assert rule in read.stderr and "Fix:" in read.stderr
    assert entries()[-1].kind == "access.denied" and entries()[-1].details["rule"] == rule


def test_a_large_estate_trains_on_a_capped_stratified_sample(monkeypatch):
    import pandas as pd

    from orchestration.lib.consumers import models

    labels = pd.Series([True] * 300 + [False] * 700)
    features = pd.DataFrame({"x": range(len(labels))})
    small = models._split(features.head(40), labels.iloc[::25].reset_index(drop=True),
                          "small")
    assert [len(part) for part in small] == [30, 10, 30, 10]  # a quarter held out
    monkeypatch.setattr(models, "MAX_TRAINING_ROWS", 200)
    train_x, test_x, train_y, test_y = models._split(features, labels, "capped")
    assert (len(train_x), len(test_x)) == (200, 67)
    # The classes keep their shares in both parts.
    assert train_y.mean() == pytest.approx(0.3, abs=0.01) == test_y.mean()
    assert set(train_x["x"]).isdisjoint(test_x["x"])


def _risk_scores(region: str) -> list[tuple]:
    return store_rows(region, "SELECT invoice_id, risk_score, model_version "
                              "FROM consumers.invoice_risk ORDER BY invoice_id")


def test_a_kept_model_scores_until_an_erasure_makes_retraining_due(built_copy):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    trained = kept.load("invoice_risk", "eu")
    assert trained.version == invoice_risk.version and trained.training["rows_trained"] > 0
    assert kept.load("lead_scores", "eu") is None  # trained on us rows, kept in us only
    before, reads = _risk_scores("eu"), len(entries())
    again = run_consumer(invoice_risk)  # nothing changed since the pipeline scored
    assert again.metrics["eu"]["trained_because"] == NOT_DUE
    assert again.metrics["eu"]["scores"] == KEPT_SCORES and again.rows["eu"] == len(before)
    assert "eu" not in again.scored
    assert _risk_scores("eu") == before
    assert [e.kind for e in entries()[reads:]] == ["consumer.run"]  # nothing read
    with write_connection(store_path("eu")) as con:
        con.execute("UPDATE marts.invoice_features SET invoice_amount = invoice_amount * 100 "
                    "WHERE invoice_id = (SELECT min(invoice_id) FROM marts.invoice_features)")
    rescored = run_consumer(invoice_risk)
    assert rescored.metrics["eu"]["trained_because"] == NOT_DUE
    assert "scores" not in rescored.metrics["eu"]  # scored again, by the kept model
    assert rescored.scored["eu"] == len(before)
    stored = kept.load("invoice_risk", "eu")
    assert stored.trained_at == trained.trained_at
    # Its record now names the inputs it scored; its file is the one stored, not written again
    # (a file written again differs: skops stamps the time into it).
    assert stored.scored_inputs != trained.scored_inputs and stored.artifact == trained.artifact
    changed = [(a, b) for a, b in zip(before, _risk_scores("eu"), strict=True) if a != b]
    assert [a[0] for a, _ in changed] == [before[0][0]]  # only the changed invoice's score
    [(customer,)] = store_rows("eu", "SELECT min(customer_id) FROM raw_crm.customers")
    erase(str(customer))
    after = run_consumer(invoice_risk)
    # The erasure dropped the models trained on the subject's region; the other region's is
    # kept, and due like every kept model after an erasure.
    assert after.metrics["eu"]["trained_because"] == "no trained model kept"
    assert after.metrics["us"]["trained_because"] == (
        "an erasure, a retention purge or a rule change since training")
    for region in ("eu", "us"):
        retrained = kept.load("invoice_risk", region)
        assert retrained.invalidations == kept.invalidations_so_far() > trained.invalidations


def _rules_edited(rules_dir: Path, name: str, old: str, new: str, monkeypatch) -> None:
    path = rules_dir / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    monkeypatch.setenv("STEWARD_POLICIES_DIR", str(rules_dir))
    record_policy_files(rules_dir)  # a rule change: the next run retrains and rescores


def test_without_the_committee_s_approval_a_consumer_reads_nothing(built_copy, rules_dir,
                                                                   monkeypatch):
    from orchestration.lib.governance.governed_read import AccessDenied, read_dataset

    _rules_edited(rules_dir, "approvals.yaml", "  finance_automation: {",
                  "  # finance_automation: {", monkeypatch)
    before, reads = _risk_scores("eu"), len(entries())
    run = run_consumer(next(m for m in CONSUMER_MODELS if m.name == "invoice_risk"))
    assert run.blocked and "[consumer.unapproved]" in run.blocked and not run.rows
    assert _risk_scores("eu") == before
    with pytest.raises(AccessDenied) as denied:
        read_dataset("marts/invoice_features", "finance_automation")
    assert denied.value.decision.rule == "consumer.unapproved"
    kinds = [e.kind for e in entries()[reads:]]
    assert "consumer.blocked" in kinds and "access.denied" in kinds
    assert "consumer.run" not in kinds  # nothing was read for the run


def test_a_model_version_the_committee_has_not_approved_scores_nothing(built_copy, rules_dir,
                                                                       monkeypatch):
    _rules_edited(rules_dir, "approvals.yaml", "version: invoice-logreg-v1",
                  "version: invoice-logreg-v0", monkeypatch)
    before = _risk_scores("us")
    run = run_consumer(next(m for m in CONSUMER_MODELS if m.name == "invoice_risk"))
    assert "invoice-logreg-v1 has not been approved" in run.blocked
    assert "(approved: invoice-logreg-v0) [model.unapproved]" in run.blocked
    assert _risk_scores("us") == before
    blocked = [e for e in entries() if e.kind == "consumer.blocked"][-1]
    assert blocked.details["denied"][0]["rule"] == "model.unapproved"


def test_a_retrained_model_below_its_floor_keeps_the_last_scores_and_model(built_copy,
                                                                           rules_dir,
                                                                           monkeypatch):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    trained = kept.load("invoice_risk", "eu")
    _rules_edited(rules_dir, "approvals.yaml", "min_held_out: {roc_auc: 0.5}",
                  "min_held_out: {roc_auc: 1.0}", monkeypatch)
    # The tiny estate holds out a few dozen invoices per region: judge floors on those.
    _rules_edited(rules_dir, "approvals.yaml", "min_held_out_rows: 100",
                  "min_held_out_rows: 10", monkeypatch)
    before = _risk_scores("eu")
    run = run_consumer(invoice_risk)
    assert set(run.held_back) == {"eu", "us"} and not run.blocked
    assert "fails its validation: roc_auc" in run.held_back["eu"]
    assert "< 1.0 [model.unvalidated]" in run.held_back["eu"]
    assert _risk_scores("eu") == before
    assert kept.load("invoice_risk", "eu").trained_at == trained.trained_at
    assert entries()[-1].details["held_back"] == run.held_back
    # The rows it scored wait for a person (besides those already waiting for other reasons).
    held = [i for i in review.items(invoice_risk, "eu", review.OPEN) if i.reason == "model_held"]
    assert len(held) == len(before) and "[model.unvalidated]" in held[0].detail


def _lead_scores() -> list[tuple]:
    return store_rows("us", "SELECT customer_id, lead_score, is_priority "
                            "FROM consumers.lead_scores ORDER BY customer_id")


def test_scores_failing_the_fairness_audit_their_approval_requires_never_go_live(
        built_copy, rules_dir, monkeypatch):
    lead_scores = next(m for m in CONSUMER_MODELS if m.name == "lead_scores")
    trained, before = kept.load("lead_scores", "us"), _lead_scores()
    # Every group judged, and any difference in positive rates is a breach.
    for old, new in [("min_disparate_impact: 0.8", "min_disparate_impact: 1.0"),
                     ("max_positive_rate_gap: 0.1", "max_positive_rate_gap: 0.0"),
                     ("min_group_size: 30", "min_group_size: 1"),
                     ("confidence: 0.95", "confidence: 0")]:  # as measured, no doubt given
        _rules_edited(rules_dir, "fairness.yaml", old, new, monkeypatch)
    run = run_consumer(lead_scores)
    assert "consumers/lead_scores fails its fairness audit lead_scores: " in run.held_back["us"]
    assert run.held_back["us"].endswith("[model.unvalidated]")
    assert _lead_scores() == before and kept.load("lead_scores", "us").trained_at == (
        trained.trained_at)
    held = [i for i in review.items(lead_scores, "us", review.OPEN) if i.reason == "model_held"]
    assert len(held) == len(before) and "fails its fairness audit" in held[0].detail
    kinds = [(e.kind, e.subject, e.details.get("consumer")) for e in entries()]
    assert ("access.allowed", "crm/customers", "fairness_audit") in kinds  # audited as itself

    # The same audit only monitors a model whose approval does not require it.
    _rules_edited(rules_dir, "approvals.yaml", "fairness_audited: true",
                  "fairness_audited: false", monkeypatch)
    monitored = run_consumer(lead_scores)
    assert not monitored.held_back and monitored.scored["us"] == len(before)
    assert "fairness" not in monitored.metrics["us"]


def _mark_stale(dataset: str, region: str, hours: float | None) -> None:
    """As a run marks `dataset` when a failure upstream keeps its last good version, `hours`
    ago; None clears the mark, as a healthy run does."""
    from orchestration.lib.operations.health import STATUS_TABLE
    from orchestration.lib.settings import get_settings

    with write_connection(get_settings().ops_store) as con:
        con.execute(f"DELETE FROM {STATUS_TABLE} WHERE asset = ? AND region = ?",
                    [dataset, region])
        if hours is not None:
            con.execute(f"INSERT INTO {STATUS_TABLE} VALUES (?, ?, ?, ?)",
                        [dataset, region, "2 blocking check(s) failed",
                         current_time() - timedelta(hours=hours)])


def test_rows_whose_inputs_are_stale_past_their_slo_get_the_fallback_and_wait(built_copy):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    band = "SELECT risk_band, count(*) FROM consumers.invoice_risk GROUP BY 1 ORDER BY 1"
    decided, unsure = store_rows("eu", band), review.items(invoice_risk, "eu", review.OPEN)
    assert len(decided) > 1  # the model decides more than one band
    _mark_stale("marts/invoice_features", "eu", hours=2)  # within its 26h objective
    assert run_consumer(invoice_risk).metrics["eu"]["scores"] == KEPT_SCORES

    _mark_stale("marts/invoice_features", "eu", hours=27)
    run = run_consumer(invoice_risk)
    rows = sum(count for _, count in decided)
    assert store_rows("eu", band) == [("high", rows)]  # the conservative decision, every row
    assert run.metrics["eu"]["deferred_to_review"] == rows
    assert "past its 26h freshness objective" in run.metrics["eu"]["inputs_stale"]
    stale = [i for i in review.items(invoice_risk, "eu", review.OPEN)
             if i.reason == "stale_inputs"]
    assert len(stale) == rows and run.metrics["eu"]["superseded_reviews"] == 0
    assert run.metrics["us"]["scores"] == KEPT_SCORES  # the other region is fresh
    by_hand = run_steward(["review", "resolve", f"invoice_risk:{stale[0].name}", "--decision",
                           "risk_band=low", "--note", "checked by hand"], built_copy)
    assert by_hand.returncode == 0, by_hand.stderr  # a person may decide meanwhile

    _mark_stale("marts/invoice_features", "eu", hours=None)  # a healthy run since
    fresh = run_consumer(invoice_risk)  # the same inputs, decided again by the model
    assert "inputs_stale" not in fresh.metrics["eu"] and fresh.scored["eu"] == rows
    assert store_rows("eu", band) == decided
    # What the model decides again waits for nobody; what it is still unsure of still waits.
    assert fresh.metrics["eu"]["superseded_reviews"] == rows - 1
    assert review.items(invoice_risk, "eu", review.OPEN) == unsure
    closed = {i.status for i in review.items(invoice_risk, "eu") if i.reason == "stale_inputs"}
    assert closed == {"resolved", "superseded"}
    assert entries()[-2].kind == "review.superseded"
    assert entries()[-2].details["items"] == {"stale_inputs": rows - 1}
    late = run_steward(["review", "resolve", f"invoice_risk:{stale[1].name}", "--decision",
                        "risk_band=low", "--note", "late"], built_copy)
    assert late.returncode == 1 and "no longer waits: scored at " in late.stderr
def test_every_consumer_model_is_watched_on_columns_it_reads_and_writes():
    watches = load_rules().drift
    for model in CONSUMER_MODELS:
        watch = watches[model.key]
        read = {column for columns in model.inputs.values() for column in columns}
        written = {output.name for output in model.outputs}
        assert set(watch.watch) <= read and {watch.score, watch.bands} <= written


def test_a_population_drifted_past_block_keeps_the_last_scores_until_retrained(built_copy,
                                                                               rules_dir,
                                                                               monkeypatch):
    from orchestration.lib.consumers.drift import history
    from orchestration.lib.operations import incidents

    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    trained = kept.load("invoice_risk", "eu")
    assert set(trained.reference) == {"invoice_amount", "customer_invoice_count",
                                      "customer_late_payment_rate", "risk_score"}
    before = _risk_scores("eu")
    with write_connection(store_path("eu")) as con:  # half a source switched to cents, say
        con.execute("UPDATE marts.invoice_features SET invoice_amount = invoice_amount * 100 "
                    "WHERE invoice_id % 2 = 0")
    drifted = run_consumer(invoice_risk)
    held = [i for i in review.items(invoice_risk, "eu", review.OPEN) if i.reason == "model_held"]
    assert len(held) == len(before)  # every row scored waits for a person
    assert "invoice_amount drifted from the training population" in drifted.drift_held["eu"]
    assert drifted.drift_held["eu"].endswith("[model.drifted]") and "us" not in drifted.drift_held
    assert not drifted.held_back  # nothing is broken: the data moved
    assert _risk_scores("eu") == before and drifted.metrics["us"]["scores"] == KEPT_SCORES
    opened = {i.key: i.severity for i in incidents.listed()}
    assert opened == {"drift:consumers/invoice_risk:eu:warn": "warning",
                      "drift:consumers/invoice_risk:eu:block": "error"}
    measured = {(region, measure) for _, region, measure, _ in history("consumers/invoice_risk")}
    assert {("eu", "psi:invoice_amount"), ("us", "psi:risk_score")} <= measured
    assert {measure for region, measure in measured if region == "us"} & {
        "share:low", "share:medium", "share:high"}

    listed = run_steward(["drift"], built_copy).stdout
    assert re.search(r"consumers/invoice_risk +eu .* block +invoice_amount", listed)
    assert re.search(r"consumers/invoice_risk +us .* stable", listed)
    refused = run_steward(["drift", "accept", "consumers/invoice_risk", "--region", "us",
                           "--note", "fine"], built_copy)
    assert refused.returncode == 1 and "is not held back in us" in refused.stderr
    accepted = run_steward(["drift", "accept", "consumers/invoice_risk", "--region", "eu",
                            "--by", "ana", "--note", "billing now sends cents"], built_copy)
    assert accepted.returncode == 0, accepted.stderr
    assert "until retrained" in accepted.stdout
    assert entries()[-1].kind == "drift.accepted" and entries()[-1].details["by"] == "ana"
    scoring = run_consumer(invoice_risk)  # the kept model scores the moved population again
    assert not scoring.drift_held and scoring.metrics["eu"]["drift"] == "warn"
    assert scoring.metrics["eu"]["drift_accepted_by"] == "ana"
    assert _risk_scores("eu") != before
    assert {i.key for i in incidents.listed()} == {"drift:consumers/invoice_risk:eu:warn"}
    with write_connection(store_path("eu")) as con:  # moving further than was accepted
        con.execute("UPDATE marts.invoice_features SET invoice_amount = invoice_amount * 100 "
                    "WHERE invoice_id % 2 = 1")
    assert "eu" in run_consumer(invoice_risk).drift_held

    monkeypatch.setenv("STEWARD_POLICIES_DIR", str(rules_dir))
    (rules_dir / "drift.yaml").write_text((rules_dir / "drift.yaml").read_text() + "# seen\n")
    record_policy_files(rules_dir)  # a rule change: the model retrains on what it now sees
    retrained = run_consumer(invoice_risk)
    assert not retrained.drift_held and retrained.metrics["eu"]["drift"] == "stable"
    assert retrained.metrics["eu"]["trained_because"].endswith("a rule change since training")
    assert retrained.scored["eu"] == len(before)
    assert incidents.listed() == []


def test_a_kept_model_without_a_drift_reference_is_retrained_to_have_one(built_copy):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    unwatched = dataclasses.replace(kept.load("invoice_risk", "us"), reference=None)
    with write_connection(store_path("us")) as con:  # as a model kept before drift was watched
        kept.save(con, "invoice_risk", unwatched)
    with write_connection(store_path("us")) as con:  # new rows to score, none to retrain for
        con.execute("UPDATE marts.invoice_features SET invoice_amount = invoice_amount + 1 "
                    "WHERE invoice_id = (SELECT min(invoice_id) FROM marts.invoice_features)")
    run = run_consumer(invoice_risk)
    assert run.metrics["us"]["trained_because"] == "no drift reference kept with it"
    assert kept.load("invoice_risk", "us").reference is not None


def test_an_input_built_before_a_column_it_needs_skips_the_region_saying_why(built_copy):
    with write_connection(store_path("eu")) as con:
        con.execute("ALTER TABLE marts.invoice_features DROP COLUMN days_to_pay")
    run = run_consumer(next(m for m in CONSUMER_MODELS if m.name == "invoice_risk"))
    assert run.skipped == {"eu": "marts/invoice_features in eu has no days_to_pay yet: its "
                                 "last good build predates the column(s)"}
    assert run.scored.keys() | run.metrics.keys() == {"us"}


def _replace_artifact(name: str, region: str, artifact: bytes, signed: bool) -> None:
    signature = kept._signature(artifact) if signed else "0" * 64
    with write_connection(store_path(region)) as con:
        con.execute("UPDATE _steward.consumer_models SET artifact = ?, signature = ? "
                    "WHERE name = ?", [artifact, signature, name])


def _rescored_after_refusal(name: str, region: str, reason: str) -> None:
    """The kept model is refused for `reason`, the refusal audited, the model retrained."""
    assert reason in kept.load(name, region).refused
    model = next(m for m in CONSUMER_MODELS if m.name == name)
    assert reason in run_consumer(model).metrics[region]["trained_because"]
    assert any(e.kind == "consumer.model_rejected" and e.details["region"] == region
               and reason in e.details["reason"] for e in entries())
    retrained = kept.load(name, region)
    assert retrained.refused is None and retrained.model is not None


def test_an_altered_model_artifact_is_never_loaded_and_is_retrained(built_copy):
    with write_connection(store_path("us")) as con:
        con.execute("UPDATE _steward.consumer_models SET artifact = artifact || '\\x00'::BLOB "
                    "WHERE name = 'lead_scores'")
    assert kept.load("lead_scores", "us").model is None
    _rescored_after_refusal("lead_scores", "us", "its signature does not hold")


class _RunsCode:
    """What an attacker stores: loading it as a pickle would run `touch <marker>`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_signed_pickle_that_runs_code_is_never_run(built_copy, tmp_path):
    import pickle

    marker = tmp_path / "ran"
    _replace_artifact("lead_scores", "us", pickle.dumps(_RunsCode(marker)), signed=True)
    _rescored_after_refusal("lead_scores", "us", "it is not a model file")
    assert not marker.exists()


def test_a_signed_model_file_naming_untrusted_types_is_refused(built_copy, tmp_path):
    import skops.io

    artifact = skops.io.dumps({"model": _RunsCode(tmp_path / "ran")})
    _replace_artifact("invoice_risk", "eu", artifact, signed=True)
    _rescored_after_refusal("invoice_risk", "eu", "names types that are not trusted")
    assert not (tmp_path / "ran").exists()


def test_a_file_found_trusted_is_read_only_when_its_model_is_used(built_copy, monkeypatch):
    reads, read = [], kept._read
    monkeypatch.setattr(kept, "_read", lambda artifact: reads.append(1) or read(artifact))
    model = next(m for m in CONSUMER_MODELS if m.name == "lead_scores")
    found = kept.load("lead_scores", "us")
    assert found.trusted and found.refused is None and reads == []
    assert run_consumer(model).metrics["us"]["scores"] == KEPT_SCORES and reads == []
    assert found.model is not None and reads == [1]  # read when the model is asked for
    # A mark that is not Steward's, or one made for another file, counts for nothing.
    with write_connection(store_path("us")) as con:
        con.execute("UPDATE _steward.consumer_models SET trusted = ? WHERE name = ?",
                    [kept._trust_mark("0" * 64), "lead_scores"])
    assert kept.load("lead_scores", "us").trusted and reads == [1, 1]
    # A run that had to read it marks it again, so the next one need not.
    assert run_consumer(model).metrics["us"]["scores"] == KEPT_SCORES and reads == [1, 1, 1]
    assert kept.load("lead_scores", "us").trusted and reads == [1, 1, 1]


def test_retraining_is_due_on_new_code_age_growth_and_rule_changes(built_copy, rules_dir):
    trained = kept.load("lead_scores", "us")
    now = trained.trained_at + timedelta(days=1)
    assert kept.retrain_reason(trained, trained.version, trained.rows_seen, now) is None
    assert kept.retrain_reason(None, "v1", 10, now) == "no trained model kept"
    assert "model code changed" in kept.retrain_reason(trained, "v2", trained.rows_seen, now)
    assert "days ago" in kept.retrain_reason(trained, trained.version, trained.rows_seen,
                                             trained.trained_at + timedelta(days=8))
    grown = int(trained.rows_seen * 1.11) + 1
    assert "inputs grew" in kept.retrain_reason(trained, trained.version, grown, now)
    slightly = int(trained.rows_seen * 1.05)
    assert kept.retrain_reason(trained, trained.version, slightly, now) is None
    with open(rules_dir / "consumers.yaml", "a") as rules:
        rules.write("# edited\n")
    assert record_policy_files(rules_dir) is not None
    assert kept.retrain_reason(trained, trained.version, trained.rows_seen, now) == (
        "an erasure, a retention purge or a rule change since training")


def test_a_fairness_audit_with_nothing_scored_warns_that_it_measured_nothing(data_dir,
                                                                             dbt_manifest):
    from orchestration.defs.consumers.assets import _fairness_result

    result = _fairness_result(load_rules().fairness["lead_scores"])
    assert not result.passed and result.severity.value == "WARN"
    assert result.description.startswith("not measured: consumers/lead_scores has no table")


def test_the_review_telemetry_suite_accepts_every_status_an_item_can_have():
    """A superseded item once failed the telemetry suite's blocking check, and every run after
    a scoring that superseded one (the 10M benchmark's run after an append found it)."""
    suite = next(s for s in load_suites() if s.name == "telemetry_reviews")
    [statuses] = [e.kwargs["value_set"] for e in suite.expectations
                  if e.type == "expect_column_values_to_be_in_set"
                  and e.kwargs["column"] == "status"]
    assert set(statuses) == set(review.STATUSES)


def test_every_review_rule_names_columns_the_model_reads_and_writes():
    rules = load_rules()
    for model in CONSUMER_MODELS:
        rule = rules.review[model.key]
        read = {column for columns in model.inputs.values() for column in columns}
        written = {output.name for output in model.outputs}
        assert rule.key in written and rule.key in read and set(rule.show) <= read
        assert set(rule.fallback) <= written
        assert set(rule.outside_training) <= set(rules.drift[model.key].watch)
        assert rule.uncertain is None or rule.uncertain[0] in written


def test_rows_the_model_is_unsure_of_get_the_fallback_and_wait_for_a_person(built_copy,
                                                                            rules_dir,
                                                                            monkeypatch):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    _rules_edited(rules_dir, "review.yaml", "from: 0.45, to: 0.55", "from: 0.0, to: 0.3",
                  monkeypatch)
    run = run_consumer(invoice_risk)
    unsure = store_rows("eu", "SELECT invoice_id, risk_band FROM consumers.invoice_risk "
                              "WHERE risk_score <= 0.3 ORDER BY invoice_id")
    assert unsure and {band for _, band in unsure} == {"high"}  # the conservative decision
    assert store_rows("eu", "SELECT count(*) FROM consumers.invoice_risk WHERE risk_score > 0.3 "
                            "AND risk_band = 'high' AND risk_score < 0.6")[0][0] == 0
    waiting = [i for i in review.items(invoice_risk, "eu", review.OPEN)
               if "within [0.0, 0.3]" in i.detail]  # not those the shipped band queued
    assert sorted(int(i.row_key) for i in waiting) == [key for key, _ in unsure]
    assert {i.reason for i in waiting} == {"uncertain"}
    assert set(waiting[0].inputs) == {"invoice_amount", "customer_invoice_count",
                                      "customer_late_payment_rate"}
    assert run.metrics["eu"]["queued_for_review"] == len(unsure)

    _rules_edited(rules_dir, "review.yaml", "fallback: {risk_band: high}",
                  "fallback: {risk_band: 'high'}", monkeypatch)
    again = run_consumer(invoice_risk)  # rescored: the same rows, not queued twice
    assert again.metrics["eu"]["deferred_to_review"] == len(unsure)
    assert again.metrics["eu"]["queued_for_review"] == 0

    listed = run_steward(["review", "--model", "invoice_risk"], built_copy)
    assert f"invoice_risk:{waiting[0].name}" in listed.stdout and "uncertain" in listed.stdout
    resolved = run_steward(["review", "resolve", f"invoice_risk:{waiting[0].name}", "--decision",
                            "risk_band=low", "--note", "paid early for years", "--by", "ana"],
                           built_copy)
    assert resolved.returncode == 0, resolved.stderr
    assert entries()[-1].kind == "review.resolved"
    assert entries()[-1].details["decision"] == "risk_band=low"
    assert entries()[-1].details["by"] == "ana"
    assert waiting[0].item_id not in {i.item_id for i in review.items(invoice_risk, "eu",
                                                                       review.OPEN)}
    twice = run_steward(["review", "resolve", f"invoice_risk:{waiting[0].name}", "--decision",
                         "x", "--note", "y"], built_copy)
    assert twice.returncode == 1 and "already resolved, by ana" in twice.stderr


def test_an_input_outside_the_training_range_is_not_decided_by_the_model(built_copy):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    [(far,)] = store_rows("eu", "SELECT min(invoice_id) FROM marts.invoice_features")
    with write_connection(store_path("eu")) as con:
        con.execute("UPDATE marts.invoice_features SET invoice_amount = invoice_amount * 1000 "
                    "WHERE invoice_id = ?", [far])
    run_consumer(invoice_risk)
    [(band,)] = store_rows("eu", f"SELECT risk_band FROM consumers.invoice_risk "
                                 f"WHERE invoice_id = {far}")
    assert band == "high"
    [item] = [i for i in review.items(invoice_risk, "eu") if i.reason == "outside_training"]
    assert int(item.row_key) == far and "invoice_amount" in item.detail
    assert "outside the training range" in item.detail


def test_an_erasure_takes_the_subject_s_rows_out_of_the_review_queue(built_copy, rules_dir,
                                                                      monkeypatch):
    invoice_risk = next(m for m in CONSUMER_MODELS if m.name == "invoice_risk")
    _rules_edited(rules_dir, "review.yaml", "from: 0.45, to: 0.55", "from: 0.0, to: 1.0",
                  monkeypatch)
    run_consumer(invoice_risk)  # every invoice is deferred
    waiting = review.items(invoice_risk, "eu", review.OPEN)
    assert waiting
    [(customer,)] = store_rows("eu", "SELECT customer_id FROM marts.invoice_features "
                                     f"WHERE invoice_id = {waiting[0].row_key}")
    receipt = erase(str(customer))
    assert receipt.rows_deleted["review/invoice_risk"]["eu"] >= 1 and receipt.remaining == 0
    assert waiting[0].row_key not in {i.row_key for i in review.items(invoice_risk, "eu")}


@pytest.mark.usefixtures("each_warehouse")
def test_a_kept_model_saved_again_keeps_its_file_and_takes_its_new_record(data_dir):
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    trained = kept.Kept("v1", current_time().replace(microsecond=0), 4, 0, {"accuracy": 1.0},
                        fitted, scored_inputs="first inputs")
    with write_connection(store_path("eu")) as con:
        kept.save(con, "probe", trained)
    loaded = kept.load("probe", "eu")
    with write_connection(store_path("eu")) as con:
        kept.save(con, "probe", dataclasses.replace(loaded, scored_inputs="second inputs"))
    again = kept.load("probe", "eu")
    assert again.scored_inputs == "second inputs" and again.artifact == loaded.artifact
    assert again.refused is None and again.model.predict([[3.0]]).tolist() == [1]
