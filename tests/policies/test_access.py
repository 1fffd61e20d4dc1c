"""The read decision: each denial can happen and can be avoided, and masking follows clearance."""

from __future__ import annotations

import dataclasses

import pytest

from policies.access import (
    CLEARANCE_DENIED,
    PURPOSE_DENIED,
    REGION_DENIED,
    REVERSIBLE_HASH,
    UNDECLARED_DATASET,
    UNKNOWN_COLUMN,
    UNKNOWN_DATASET,
    Spread,
    decide,
    guard_keyed_hashes,
)
from policies.catalog import AssetFacts, Catalog, ColumnFacts
from policies.engine import evaluate
from policies.rules import Consumer, load_rules
from tests.policies.approved import approving

TICKETS = AssetFacts(
    key="support/tickets", owner="support", retention="2y", region="regional",
    columns={"ticket_id": ColumnFacts("ticket_id", "none"),
             "customer_id": ColumnFacts("customer_id", "pseudonymous"),
             "email": ColumnFacts("email", "personal"),
             "body": ColumnFacts("body", "personal", mask="redaction"),
             "gender": ColumnFacts("gender", "sensitive")},
)
SHIPPED = load_rules()
RULES = approving(dataclasses.replace(SHIPPED, purposes={
    name: dataclasses.replace(purpose, datasets=(*purpose.datasets, TICKETS.key))
    for name, purpose in SHIPPED.purposes.items() if name != "billing"
} | {"billing": SHIPPED.purposes["billing"]}), "router")
EFFECTIVE = evaluate(RULES, Catalog({TICKETS.key: TICKETS})).effective


def _consumer(**overrides) -> Consumer:
    fields = {"name": "router", "team": "support", "owner": "support-lead",
              "purpose": "fairness_audit", "regions": ("eu",), "clearance": "sensitive",
              "datasets": (TICKETS.key,), "legal_basis": "audit"}
    return Consumer(**{**fields, **overrides})


def _decide(consumer: Consumer, dataset: str = TICKETS.key, **kwargs):
    return decide(RULES, consumer, dataset, EFFECTIVE.get(dataset), **kwargs)


DENIALS = [
    (UNKNOWN_DATASET, {}, {"dataset": "support/nope"}),
    (UNDECLARED_DATASET, {}, {"consumer": {"datasets": ("marts/other",)}}),
    (PURPOSE_DENIED, {}, {"consumer": {"purpose": "billing"}}),
    (REGION_DENIED, {}, {"consumer": {"regions": ("us",)}, "regions": ("eu",)}),
    (REGION_DENIED, {"regions": ("eu",)}, {"regions": ("us",)}),
    (UNKNOWN_COLUMN, {"columns": ("email",)}, {"columns": ("emial",)}),
    (CLEARANCE_DENIED, {"consumer": {"clearance": "none"}, "columns": ("ticket_id",)},
     {"consumer": {"clearance": "none"}}),
    (CLEARANCE_DENIED, {"consumer": {"purpose": "analytics"}, "columns": ("ticket_id",)},
     {"consumer": {"purpose": "analytics"}, "columns": ("ticket_id", "customer_id")}),
]


def _apply(case: dict):
    case = dict(case)
    consumer = _consumer(**case.pop("consumer", {}))
    return _decide(consumer, **case)


@pytest.mark.parametrize(("rule", "allowed", "denied"), DENIALS,
                         ids=[f"{d[0]}-{i}" for i, d in enumerate(DENIALS)])
def test_each_denial_happens_and_can_be_avoided(rule, allowed, denied):
    assert _apply(allowed).allowed, _apply(allowed).reason
    decision = _apply(denied)
    assert not decision.allowed and decision.rule == rule
    assert decision.reason and decision.fix and not decision.columns


def test_columns_above_the_ceiling_are_masked_free_text_redacted():
    decision = _decide(_consumer(purpose="lead_scoring", clearance="personal", legal_basis=None))
    assert decision.allowed and decision.regions == ("eu",)
    # lead_scoring may see at most pseudonymous, whatever the clearance.
    assert decision.masked == {"email": "keyed_hash", "body": "redaction",
                               "gender": "keyed_hash"}
    cleared = _decide(_consumer())
    assert cleared.allowed and cleared.masked == {}


def test_a_regional_dataset_is_read_only_from_the_consumers_regions():
    both = _consumer(regions=("eu", "us"))
    assert _decide(both).regions == ("eu", "us")
    assert _decide(both, regions=("us",)).regions == ("us",)


def test_a_free_text_column_stays_redacted_downstream_through_lineage():
    copy = AssetFacts(key="staging/tickets", owner="support", upstream=(TICKETS.key,),
                      columns={"body": ColumnFacts("body", derived_from=((TICKETS.key, "body"),))})
    rules = dataclasses.replace(RULES, consumers={}, purposes={
        "lead_scoring": dataclasses.replace(RULES.purposes["lead_scoring"], datasets=(copy.key,))})
    effective = evaluate(rules, Catalog({TICKETS.key: TICKETS, copy.key: copy})).effective
    consumer = _consumer(purpose="lead_scoring", datasets=(copy.key,), legal_basis=None)
    decision = decide(rules, consumer, copy.key, effective[copy.key])
    assert decision.masked == {"body": "redaction"}


def test_a_keyed_hash_that_counting_would_reverse_is_left_out_or_denied():
    minimum = RULES.transforms["keyed_hash"].min_distinct_values
    assert minimum == 20
    masked = _decide(_consumer(purpose="lead_scoring", clearance="personal", legal_basis=None))
    spreads = {"gender": Spread(rows=1_000, distinct=3), "email": Spread(rows=1_000, distinct=990)}
    everything = guard_keyed_hashes(masked, spreads, minimum, named=False)
    assert everything.allowed and everything.suppressed == ("gender",)
    assert "gender" not in [c.name for c in everything.columns]
    assert everything.masked == {"email": "keyed_hash", "body": "redaction"}
    named = guard_keyed_hashes(masked, spreads, minimum, named=True)
    assert not named.allowed and named.rule == REVERSIBLE_HASH
    assert "3 distinct value(s) in 1,000 rows" in named.reason and "suppression" in named.fix
    # Many values, or few that do not repeat (a table of four rows), stay hashed.
    for harmless in (Spread(rows=1_000, distinct=20), Spread(rows=4, distinct=3)):
        kept = guard_keyed_hashes(masked, {"gender": harmless}, minimum, named=True)
        assert kept == masked
