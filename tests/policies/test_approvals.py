"""Decision rights: each approval rule passes for what the committee approved and fails, with
the reason and the fix, for what it did not."""

from __future__ import annotations

from policies.access import decide
from policies.approvals import (
    CONSUMER_UNAPPROVED,
    MODEL_UNAPPROVED,
    MODEL_UNVALIDATED,
    model_refusal,
    too_few_to_judge,
    validation_refusal,
)
from policies.catalog import Catalog
from policies.engine import evaluate
from policies.rules import load_rules
from tests.policies.approved import withdrawing

SHIPPED = load_rules()
RIGHTS = SHIPPED.decision_rights


def test_the_committee_and_its_rights_are_read_from_approvals_yaml():
    assert RIGHTS.committee == "AI governance committee"
    assert set(RIGHTS.consumers) == set(SHIPPED.consumers)  # every shipped consumer approved
    assert RIGHTS.rights["model"] == ("responsible-ai-lead", "governance-lead")
    assert RIGHTS.models["consumers/lead_scores"].fairness_audited


def test_an_unapproved_consumer_is_denied_before_anything_else_is_decided():
    rules = withdrawing(SHIPPED, "lead_scoring")
    consumer = rules.consumers["lead_scoring"]
    approved = decide(SHIPPED, consumer, "marts/customer_features", None)
    assert approved.rule != CONSUMER_UNAPPROVED  # denied for the unknown dataset instead
    denied = decide(rules, consumer, "marts/customer_features", None)
    assert denied.rule == CONSUMER_UNAPPROVED and not denied.allowed
    assert "not been approved by the AI governance committee" in denied.reason
    assert "governance-lead, privacy-officer" in denied.fix


def test_the_policy_check_names_an_unapproved_consumer_once():
    violations = evaluate(withdrawing(SHIPPED, "support_routing"), Catalog({})).violations
    [unapproved] = [v for v in violations if v.rule == CONSUMER_UNAPPROVED]
    assert unapproved.asset == "consumer:support_routing"
    assert unapproved.declared_in == "policies/approvals.yaml"
    assert not [v for v in evaluate(SHIPPED, Catalog({})).violations
                if v.rule == CONSUMER_UNAPPROVED]


def test_a_model_scores_only_with_the_version_the_committee_approved():
    assert model_refusal(RIGHTS, "consumers/lead_scores", "lead-logreg-v1") is None
    newer = model_refusal(RIGHTS, "consumers/lead_scores", "lead-logreg-v2")
    assert newer.rule == MODEL_UNAPPROVED and "(approved: lead-logreg-v1)" in newer.reason
    unknown = model_refusal(RIGHTS, "consumers/churn", "churn-v1")
    assert unknown.rule == MODEL_UNAPPROVED and "approved:" not in unknown.reason


def test_a_fitted_model_below_its_held_out_floor_is_refused():
    model, enough = "consumers/invoice_risk", {"rows_held_out": RIGHTS.min_held_out_rows}
    assert validation_refusal(RIGHTS, model, {**enough, "roc_auc": 0.71}) is None
    low = validation_refusal(RIGHTS, model, {**enough, "roc_auc": 0.45})
    assert low.rule == MODEL_UNVALIDATED and "roc_auc 0.45 < 0.5" in low.reason
    unmeasured = validation_refusal(RIGHTS, model, {**enough, "accuracy": 0.9})
    assert "roc_auc not measured (needs ≥ 0.5)" in unmeasured.reason
    # A model whose approval sets no floor is judged by what else the approval requires.
    assert validation_refusal(RIGHTS, "consumers/lead_scores", {**enough, "roc_auc": 0.3}) is None


def test_floors_are_not_judged_on_a_held_out_set_too_small_to_mean_anything():
    model, few = "consumers/invoice_risk", {"rows_held_out": RIGHTS.min_held_out_rows - 1}
    assert validation_refusal(RIGHTS, model, {**few, "roc_auc": 0.3}) is None
    assert too_few_to_judge(RIGHTS, model, {**few, "roc_auc": 0.3}) == (
        f"floors not judged: {few['rows_held_out']} held-out rows, fewer than the "
        f"{RIGHTS.min_held_out_rows} they need")
    assert too_few_to_judge(RIGHTS, "consumers/lead_scores", few) is None  # it has no floors
