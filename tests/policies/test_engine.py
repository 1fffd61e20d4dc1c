"""One table-driven case per rule: a graph that passes it and one that fails it."""

from __future__ import annotations

import dataclasses

import pytest

from policies.access import (
    CLEARANCE_DENIED,
    PURPOSE_DENIED,
    REGION_DENIED,
    UNKNOWN_DATASET,
)
from policies.catalog import AssetFacts, Catalog, ColumnFacts
from policies.detection import scan
from policies.engine import detected_violations, evaluate
from policies.propagation import lineage_path
from policies.rules import Consumer, load_rules
from policies.violations import (
    PII_DETECTED,
    PII_UNCLASSIFIED,
    PII_WEAKER_THAN_LINEAGE,
    REGION_DIRECT_READ,
    REGION_FLOW,
    RETENTION_EXCEEDS_INPUTS,
    RETENTION_NO_EVENT_TIME,
    RETENTION_UNKNOWN,
    TAGS_MISSING,
)
from tests.policies.approved import approving

SHIPPED = load_rules()
# Every purpose but billing may use the test model "marts/features".
RULES = approving(dataclasses.replace(SHIPPED, consumers={}, purposes={
    name: purpose if name == "billing" else dataclasses.replace(
        purpose, datasets=(*purpose.datasets, "marts/features"))
    for name, purpose in SHIPPED.purposes.items()}), "scoring")
SOURCE = AssetFacts(
    key="crm/customers", owner="crm", retention="2y", region="regional", event_time="updated_at",
    columns={"id": ColumnFacts("id", "pseudonymous"), "email": ColumnFacts("email", "personal"),
             "country": ColumnFacts("country", "none")},
)


def _model(**overrides) -> AssetFacts:
    columns = overrides.pop("columns", {
        "id": ColumnFacts("id", derived_from=(("crm/customers", "id"),)),
        "country": ColumnFacts("country", derived_from=(("crm/customers", "country"),)),
    })
    fields = {"key": "marts/features", "owner": "ml", "upstream": ("crm/customers",)}
    return AssetFacts(**{**fields, **overrides}, columns=columns)


def _rules(found: list) -> set[str]:
    return {v.rule for v in found}


def _check(model: AssetFacts, rules=RULES) -> set[str]:
    return _rules(evaluate(rules, Catalog({"crm/customers": SOURCE, model.key: model})).violations)


EMAIL_COPY = {"email": ColumnFacts("email", "none", derived_from=(("crm/customers", "email"),))}
EMAIL_HASHED = {"email": ColumnFacts("email", "pseudonymous", "keyed_hash",
                                     (("crm/customers", "email"),))}

CASES = [
    (TAGS_MISSING, _model(), _model(owner=None)),
    (RETENTION_UNKNOWN, _model(retention="1y"), _model(retention="5y")),
    (RETENTION_EXCEEDS_INPUTS, _model(retention="2y"), _model(retention="7y")),
    (RETENTION_NO_EVENT_TIME, _model(upstream=(), retention="2y", event_time="at"),
     _model(upstream=(), retention="2y")),
    (PII_WEAKER_THAN_LINEAGE, _model(columns=EMAIL_HASHED), _model(columns=EMAIL_COPY)),
    (PII_WEAKER_THAN_LINEAGE, _model(pii="pseudonymous"), _model(pii="none")),
    (PII_UNCLASSIFIED, _model(contract=True, columns={
        "id": ColumnFacts("id", "pseudonymous", derived_from=(("crm/customers", "id"),))}),
     _model(contract=True)),
    (REGION_DIRECT_READ, _model(), _model(direct_reads=("attach",))),
    (REGION_FLOW, _model(region="global", columns={
        "n": ColumnFacts("n", derived_from=(("crm/customers", "country"),))}),
     _model(region="global")),
]


@pytest.mark.parametrize(("rule", "passing", "failing"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_asset_rule_passes_and_fails(rule, passing, failing):
    assert rule not in _check(passing)
    assert rule in _check(failing)


def _consumer(**overrides) -> Consumer:
    fields = {"name": "scoring", "team": "ml", "owner": "ml-lead", "purpose": "lead_scoring",
              "regions": ("us",),
              "clearance": "pseudonymous", "datasets": ("marts/features",), "legal_basis": None}
    return Consumer(**{**fields, **overrides})


CONSUMER_CASES = [
    (UNKNOWN_DATASET, _consumer(), _consumer(datasets=("marts/nope",)), _model()),
    (PURPOSE_DENIED, _consumer(), _consumer(purpose="billing", legal_basis="contract"),
     _model()),
    (CLEARANCE_DENIED, _consumer(), _consumer(clearance="none"), _model()),
    (CLEARANCE_DENIED, _consumer(), _consumer(purpose="analytics"), _model()),
    (REGION_DENIED, _consumer(regions=("eu",)), _consumer(regions=("us",)),
     _model(region="eu")),
]


@pytest.mark.parametrize(("rule", "passing", "failing", "model"), CONSUMER_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONSUMER_CASES)])
def test_each_consumer_rule_passes_and_fails(rule, passing, failing, model):
    def with_consumer(consumer):
        return dataclasses.replace(RULES, consumers={consumer.name: consumer})

    assert rule not in _check(model, with_consumer(passing))
    assert rule in _check(model, with_consumer(failing))


def test_undeclared_pii_found_in_sampled_values_is_a_violation():
    effective = evaluate(RULES, Catalog({"crm/customers": SOURCE})).effective["crm/customers"]
    clean = {"country": scan(["DE", "US", "FR"])}
    leaky = {"country": scan(["DE", "call +49 30 1234567 or mail a@b.de"])}
    assert detected_violations(RULES, effective, clean) == []
    [violation] = detected_violations(RULES, effective, leaky)
    assert violation.rule == PII_DETECTED and violation.column == "country"
    assert "email" in violation.message and "a@b.de" not in violation.message


def test_propagation_keeps_the_lineage_path_and_transforms_break_the_chain():
    copy = _model(columns={"contact": ColumnFacts("contact",
                                                  derived_from=(("crm/customers", "email"),))})
    downstream = AssetFacts("marts/next", owner="ml", upstream=("marts/features",),
                            columns={"c": ColumnFacts("c", derived_from=(("marts/features",
                                                                           "contact"),))})
    effective = evaluate(RULES, Catalog({"crm/customers": SOURCE, copy.key: copy,
                                         downstream.key: downstream})).effective
    assert effective["marts/next"].columns["c"].level == "personal"
    assert lineage_path(effective, "marts/next", "c") == ("marts/features.contact",
                                                          "crm/customers.email")
    assert effective["marts/next"].retention == "2y"
    hashed = evaluate(RULES, Catalog({"crm/customers": SOURCE,
                                      "marts/features": _model(columns=EMAIL_HASHED)}))
    assert hashed.effective["marts/features"].pii == "pseudonymous"
