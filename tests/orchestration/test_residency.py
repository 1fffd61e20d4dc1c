"""A real run with two models that break residency. One attaches the EU store itself: the
policy sees the direct read and blocks it before it reads, in every region. The other writes
EU countries into the US store: the residency gate rolls its table back inside the build, dbt
skips what depends on it, and the run says why; its EU build is fine."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_steward, sandbox_project

ATTACHING_SQL = """{{ config(pre_hook=["ATTACH IF NOT EXISTS '" ~ env_var('STEWARD_STORE_DIR')
                             ~ "/eu.duckdb' AS eu_store (READ_ONLY)"]) }}
select customer_id, country as country_code from eu_store.raw_crm.customers
"""
# In the US run every row claims an EU country: rows of another region in the US store.
RELABELLING_SQL = """select customer_id,
    case when '{{ var("region") }}' = 'us' then 'DE' else country_code end as country_code
from {{ ref('stg_crm__customers') }}
"""
DOWNSTREAM_SQL = "select count(*)::bigint as customers from {{ ref('relabelled_customers') }}\n"
COLUMNS = """    columns:
      - name: customer_id
        data_type: BIGINT
        config: {meta: {classification: pseudonymous}}
      - name: country_code
        data_type: VARCHAR
"""
MODELS_YAML = f"""version: 2

models:
  - name: attached_customers
    config: {{meta: {{steward: {{owner: growth-ml}}}}}}
{COLUMNS}  - name: relabelled_customers
    config: {{meta: {{steward: {{owner: growth-ml}}}}}}
{COLUMNS}  - name: relabelled_customers_count
    config: {{meta: {{steward: {{owner: growth-ml}}}}}}
    columns:
      - name: customers
        data_type: BIGINT
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("residency")
    project = sandbox_project(folder, {"attached_customers.sql": ATTACHING_SQL,
                                       "relabelled_customers.sql": RELABELLING_SQL,
                                       "relabelled_customers_count.sql": DOWNSTREAM_SQL,
                                       "_sandbox__models.yml": MODELS_YAML})
    data = folder / "data"
    return run_steward(["run", "--customers", "60"], data,
                       STEWARD_DBT_PROJECT_DIR=str(project)), data


def _marts(store: Path) -> set[str]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()}


def _status(stdout: str, asset: str, region: str) -> str:
    match = re.search(rf"^{re.escape(asset)}\s+{region}\s+(\S+)", stdout, re.M)
    return match.group(1) if match else "missing"


def test_a_model_that_attaches_another_store_is_blocked_before_it_reads(run):
    result, data = run
    for region in ("eu", "us"):
        assert _status(result.stdout, "marts/attached_customers", region) == "BLOCKED"
    assert "region.direct_read" in result.stdout and "attach" in result.stdout
    assert not any("attached_customers" in _marts(data / "store" / f"{r}.duckdb")
                   for r in ("eu", "us"))


def test_a_model_writing_eu_rows_into_the_us_store_is_rolled_back(run):
    result, data = run
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert _status(result.stdout, "marts/relabelled_customers", "us") == "BLOCKED"
    assert _status(result.stdout, "marts/relabelled_customers_count", "us") == "BLOCKED"
    assert _status(result.stdout, "marts/relabelled_customers", "eu") == "ok"
    assert "region.rows_outside_region" in result.stdout and "outside us" in result.stdout
    assert not _marts(data / "store" / "us.duckdb") & {"relabelled_customers",
                                                      "relabelled_customers_count"}
    assert {"relabelled_customers", "relabelled_customers_count"} <= _marts(
        data / "store" / "eu.duckdb")
