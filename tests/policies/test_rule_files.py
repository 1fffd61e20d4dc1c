"""The rule files load, and each kind of mistake is refused with file, line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.rules import PolicyFileError, load_rules, retention_days


def test_the_shipped_rules_load():
    rules = load_rules()
    assert rules.levels == ("none", "pseudonymous", "personal", "sensitive")
    assert set(rules.consumers) == {"lead_scoring", "support_routing", "finance_automation",
                                    "fairness_audit"}
    assert rules.consumers["finance_automation"].legal_basis
    assert rules.fairness["lead_scores"].min_disparate_impact == 0.8


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "line", "message"),
    [
        ("consumers.yaml", "clearance: pseudonymous", "clearance: secretish", 10,
         "unknown level 'secretish'"),
        ("consumers.yaml", "regions: [us]", "regions: [mars]", 9, "unknown region 'mars'"),
        ("consumers.yaml", "purpose: lead_scoring", "purpose: upselling", 8,
         "unknown purpose 'upselling'"),
        ("consumers.yaml", "  support_routing:\n", "  lead_scoring:\n", 12,
         "'lead_scoring' is declared twice"),
        ("consumers.yaml", "datasets: [marts/customer_features]", "datasets: [../etc]", 11,
         "is not an asset key"),
        ("purposes.yaml", "max_level: none", "max_level: public", 24, "unknown level 'public'"),
        ("fairness.yaml", "min_disparate_impact: 0.8", "min_disparate_impact: 80", 14,
         "not a fraction"),
        ("fairness.yaml", "consumer: fairness_audit", "consumer: auditor", 9,
         "unknown consumer 'auditor'"),
        ("fairness.yaml", "[18, 30, 45, 60]", "[30, 18]", 4, "increasing whole ages"),
        ("fairness.yaml", "confidence: 0.95", "confidence: 1", 24, "a confidence is below 1"),
        ("slos.yaml", "success_rate: 0.95", "success_rate: 95", 8, "not a fraction"),
        ("retention.yaml", "[30d, 90d", "[30d, forever", 3, "not a duration"),
        ("regions.yaml", "from: eu", "from: moon", 14, "unknown region 'moon'"),
        ("consumers.yaml", "    legal_basis: contract (GDPR Art. 6(1)(b))\n", "", 19,
         "requires a recorded legal_basis"),
        ("classifications.yaml", "yields: pseudonymous", "yields: anonymous", 8,
         "unknown level 'anonymous'"),
        ("regions.yaml", "countries: [US]", "countries: [US, DE]", 9,
         "country DE is in both 'eu' and 'us'"),
        ("classifications.yaml", "min_distinct_values: 20", "min_distinct_values: 1", 12,
         "min_distinct_values must be an integer of at least 2"),
        ("approvals.yaml", "lead_scoring: {approved_by: governance-lead",
         "lead_scoring: {approved_by: intern", 17, "'intern' is not a member of the committee"),
        ("approvals.yaml", "support_routing: {approved_by: privacy-officer",
         "support_routing: {approved_by: security-lead", 18,
         "security-lead has no right to approve a consumer"),
        ("approvals.yaml", "ticket: GOV-103", "ticket: ' '", 19, "name the ticket"),
        ("approvals.yaml", "  fairness_audit: {", "  fairness_auditor: {", 20,
         "no consumer 'fairness_auditor' is declared"),
        ("approvals.yaml", "    version: lead-logreg-v1\n", "", 22,
         "name the model version approved"),
        ("approvals.yaml", "min_held_out: {macro_f1: 0.6}",
         "min_held_out: {macro_f1: 0.6}\n      fairness_audited: true", 35,
         "consumers/ticket_routes must be fairness-audited"),
        ("approvals.yaml", "{roc_auc: 0.5}", "{roc_auc: high}", 45,
         "requires.min_held_out maps a held-out measure to its minimum"),
        ("drift.yaml", "    block_psi: 0.25\n  consumers/ticket_routes",
         "    block_psi: 0.05\n  consumers/ticket_routes", 17,
         "block_psi 0.05 must be above warn_psi 0.1"),
        ("drift.yaml", "bins: 10", "bins: 1", 7, "bins must be a whole number from 2 to 100"),
        ("review.yaml", "from: 0.45, to: 0.55", "from: 0.55, to: 0.45", 17,
         "the band from 0.55 to 0.45 is not a range of scores"),
        ("review.yaml", "    fallback: {predicted_queue: manual}\n", "", 20,
         "declare the conservative decision"),
    ],
    ids=["level", "region", "purpose", "duplicate", "dataset-key", "purpose-level",
         "fairness-threshold", "fairness-consumer", "age-bands", "fairness-confidence",
         "slo-rate", "retention", "flow",
         "legal-basis", "transform", "country-twice", "hash-distinct", "approver-unknown",
         "approver-without-right", "approval-ticket", "approval-undeclared", "model-version",
         "fairness-audit-required", "held-out-floor", "drift-thresholds", "drift-bins",
         "review-band", "review-fallback"],
)
def test_a_bad_rule_file_names_file_line_and_fix(rules_dir, file, old, new, line, message):
    _edit(rules_dir, file, old, new)
    with pytest.raises(PolicyFileError) as raised:
        load_rules(rules_dir)
    assert raised.value.path.name == file
    assert raised.value.line == line, str(raised.value)
    assert message in str(raised.value)


def test_yaml_bombs_are_refused(rules_dir):
    (rules_dir / "purposes.yaml").write_text(
        'a: &a ["x", "x"]\nb: &b [*a, *a]\nc: &c [*b, *b]\npurposes: [*c, *c]\n')
    with pytest.raises(PolicyFileError, match="anchors and aliases are not allowed"):
        load_rules(rules_dir)


@pytest.mark.parametrize(("value", "days"), [("30d", 30), ("12w", 84), ("6m", 180), ("7y", 2555)])
def test_retention_durations(value, days):
    assert retention_days(value) == days
