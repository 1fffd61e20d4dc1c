"""A real run with a model that violates policy: it is blocked before it reads, and so is
everything downstream of it, while the compliant models still build."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_steward, sandbox_project

LEAKY_SQL = "select customer_id, email from {{ ref('stg_crm__customers') }}\n"
SUMMARY_SQL = "select count(*)::bigint as contacts from {{ ref('leaky_contacts') }}\n"
LEAKY_YAML = """version: 2

models:
  - name: leaky_contacts
    description: A mart that forgot to hash the email.
    config: {meta: {steward: {owner: growth-ml, pii: none}}}
    columns:
      - name: customer_id
        data_type: BIGINT
        config: {meta: {classification: pseudonymous}}
      - name: email
        data_type: VARCHAR
  - name: leaky_contacts_summary
    config: {meta: {steward: {owner: growth-ml}}}
    columns:
      - name: contacts
        data_type: BIGINT
"""


@pytest.fixture(scope="module")
def leaky_project(tmp_path_factory) -> Path:
    return sandbox_project(tmp_path_factory.mktemp("dbt"),
                           {"leaky_contacts.sql": LEAKY_SQL,
                            "leaky_contacts_summary.sql": SUMMARY_SQL,
                            "_sandbox__models.yml": LEAKY_YAML})


def _steward(args: list[str], project: Path, data: Path):
    return run_steward(args, data, STEWARD_DBT_PROJECT_DIR=str(project))


def test_policy_check_reports_the_leak_with_its_lineage(leaky_project, tmp_path):
    result = _steward(["policy", "check"], leaky_project, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pii.weaker_than_lineage  marts/leaky_contacts.email" in result.stdout
    assert ("marts/leaky_contacts.email ← staging/stg_crm__customers.email ← "
            "crm/customers.email") in result.stdout
    assert "declared pii: none" in result.stdout


def test_a_run_blocks_the_violating_model_and_its_downstream(leaky_project, tmp_path):
    result = _steward(["run", "--customers", "40"], leaky_project, tmp_path)
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    blocked = [line for line in result.stdout.splitlines() if "BLOCKED" in line]
    assert sorted(line.split()[0] for line in blocked) == [
        "marts/leaky_contacts", "marts/leaky_contacts", "marts/leaky_contacts_summary",
        "marts/leaky_contacts_summary"]
    assert ("marts/leaky_contacts [eu] blocked by policy: pii.unclassified_column "
            "marts/leaky_contacts.email") in result.stdout
    assert "declared pii: none but column email is personal" in result.stdout
    assert "upstream model was blocked by policy" in result.stdout
    assert re.search(r"^marts/customer_features\s+eu\s+ok\s", result.stdout, re.M)
    with duckdb.connect(str(tmp_path / "store" / "eu.duckdb"), read_only=True) as con:
        tables = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()}
    assert {"customer_features", "ticket_features", "invoice_features"} <= tables
    assert not tables & {"leaky_contacts", "leaky_contacts_summary"}
