"""A real run with a model that copies the EU store's customers into the US store: the
residency gate rolls its table back before commit, dbt skips what depends on it, and the run
says why; the EU build of the same model is fine."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_steward, sandbox_project

# In the US run this model reads the EU store's raw customers: exactly what residency forbids.
SMUGGLER_SQL = """{{ config(pre_hook=["{% if var('region') == 'us' %}ATTACH IF NOT EXISTS '"
                             ~ env_var('STEWARD_STORE_DIR') ~ "/eu.duckdb' AS eu_store "
                             ~ "(READ_ONLY){% endif %}"]) }}
{% if var('region') == 'us' %}
select customer_id, country as country_code from eu_store.raw_crm.customers
{% else %}
select customer_id, country_code from {{ ref('stg_crm__customers') }}
{% endif %}
"""
DOWNSTREAM_SQL = "select count(*)::bigint as customers from {{ ref('smuggled_customers') }}\n"
MODELS_YAML = """version: 2

models:
  - name: smuggled_customers
    description: A mart that reads another region's store.
    config: {meta: {steward: {owner: growth-ml}}}
    columns:
      - name: customer_id
        data_type: BIGINT
        config: {meta: {classification: pseudonymous}}
      - name: country_code
        data_type: VARCHAR
  - name: smuggled_customers_count
    config: {meta: {steward: {owner: growth-ml}}}
    columns:
      - name: customers
        data_type: BIGINT
"""


@pytest.fixture(scope="module")
def smuggling_project(tmp_path_factory) -> Path:
    return sandbox_project(tmp_path_factory.mktemp("dbt"),
                           {"smuggled_customers.sql": SMUGGLER_SQL,
                            "smuggled_customers_count.sql": DOWNSTREAM_SQL,
                            "_sandbox__models.yml": MODELS_YAML})


def _marts(store: Path) -> set[str]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()}


def test_a_model_moving_eu_rows_into_the_us_store_is_blocked(smuggling_project, tmp_path):
    result = run_steward(["run", "--customers", "60"], tmp_path,
                         STEWARD_DBT_PROJECT_DIR=str(smuggling_project))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^marts/smuggled_customers\s+us\s+BLOCKED", result.stdout, re.M)
    assert re.search(r"^marts/smuggled_customers_count\s+us\s+BLOCKED", result.stdout, re.M)
    assert re.search(r"^marts/smuggled_customers\s+eu\s+ok", result.stdout, re.M)
    assert "region.rows_outside_region" in result.stdout
    assert "outside us" in result.stdout
    # Rolled back: no EU row stays in the US store; the EU store has its own model.
    assert not _marts(tmp_path / "store" / "us.duckdb") & {"smuggled_customers",
                                                          "smuggled_customers_count"}
    assert "smuggled_customers" in _marts(tmp_path / "store" / "eu.duckdb")
