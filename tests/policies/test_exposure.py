"""The exposures a database enforces are the read decisions, column by column."""

from __future__ import annotations

import dataclasses

import pytest

from policies.access import CLEARANCE_DENIED, PASS, decide
from policies.exposure import exposures
from tests.policies.approved import withdrawing
from tests.policies.test_access import EFFECTIVE, RULES, TICKETS, _consumer


def _rules_with(*consumers):
    return dataclasses.replace(RULES, consumers={c.name: c for c in consumers})


@pytest.mark.parametrize("clearance", ["none", "pseudonymous", "personal"])
def test_each_column_is_exposed_as_a_read_of_it_alone_would_serve_it(clearance):
    consumer = _consumer(clearance=clearance)
    [exposure] = exposures(_rules_with(consumer), EFFECTIVE)
    served = {c.name: c.action for c in exposure.columns}
    for column in TICKETS.columns:
        decision = decide(RULES, consumer, TICKETS.key, EFFECTIVE[TICKETS.key], (column,))
        if decision.allowed:
            assert served[column] == decision.columns[0].action
        else:
            assert decision.rule == CLEARANCE_DENIED and column in exposure.withheld
    assert served["ticket_id"] == PASS
    assert exposure.regions == ("eu",)


def test_masks_and_withholding_follow_clearance():
    def served(clearance):
        [exposure] = exposures(_rules_with(_consumer(clearance=clearance)), EFFECTIVE)
        return {c.name: c.action for c in exposure.columns}, exposure.withheld

    assert served("pseudonymous") == ({"ticket_id": PASS, "customer_id": PASS,
                                       "email": "keyed_hash", "body": "redaction",
                                       "gender": "keyed_hash"}, ())
    assert served("none") == ({"ticket_id": PASS}, ("customer_id", "email", "body", "gender"))


def test_a_dataset_outside_the_purpose_or_the_regions_is_not_exposed():
    outside_purpose = _consumer(name="biller", purpose="billing")
    outside_regions = _consumer(name="far", regions=("antarctica",))
    assert exposures(_rules_with(outside_purpose, outside_regions), EFFECTIVE) == []


def test_a_consumer_cleared_for_nothing_it_reads_is_not_exposed():
    assert exposures(_rules_with(_consumer(clearance="none", purpose="billing")), EFFECTIVE) \
        == []


def test_a_consumer_the_committee_has_not_approved_is_granted_nothing():
    consumer = _consumer()
    assert exposures(_rules_with(consumer), EFFECTIVE) != []
    assert exposures(withdrawing(_rules_with(consumer), consumer.name), EFFECTIVE) == []
