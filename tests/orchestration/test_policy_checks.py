"""The ingest policy check scans stored rows: PII in a column declared clean fails it."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.governance.policy_checks import POLICY_CHECK, evaluate_policy
from tests.orchestration.ingest_helpers import customer_row, load, write_customers

KEY = dg.AssetKey(["crm", "customers"])


def test_clean_customers_pass(landing, dbt_manifest):
    write_customers(landing, "batch.csv", [customer_row(1), customer_row(2, "DE")])
    load()
    result = evaluate_policy(KEY, ("raw_crm", "customers"), ["eu", "us"])
    assert result.passed and result.check_name == POLICY_CHECK


def test_pii_hidden_in_a_column_declared_clean_fails(landing, dbt_manifest):
    leaky = customer_row(3).replace(",smb,", ",call me on +1 415 555 0132,")
    write_customers(landing, "batch.csv", [customer_row(1), leaky])
    load()
    result = evaluate_policy(KEY, ("raw_crm", "customers"), ["eu", "us"])
    assert not result.passed
    assert "pii.undeclared_detected crm/customers.segment" in result.description
    assert "415 555 0132" not in str(result.metadata["violations"].value)
