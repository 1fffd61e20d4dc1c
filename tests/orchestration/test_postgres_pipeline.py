"""`steward run` on PostgreSQL: the landing files of the built DuckDB estate are ingested into
each region's database, the policy gate and dbt build the models there, every check runs, the
consumers score, the telemetry and platform metrics are collected and the report is written;
the models hold exactly the rows the DuckDB run built, and the audit log (in its own database)
verifies. Every build gives the database back the grants the policy implies, so a consumer
reads its masked views after each rebuild, and a grant made by hand is taken back and alerted.
"""

from __future__ import annotations

import shutil

import duckdb
import psycopg2
import pytest
from psycopg2 import errors

from orchestration.lib.alerts import ops_store
from orchestration.lib.audit_log import entries
from orchestration.lib.consumers.specs import CONSUMER_MODELS
from orchestration.lib.settings import postgres_dsn
from orchestration.lib.warehouse import qualified, rows_if_present, store_path
from orchestration.lib.warehouse.grants import role_name
from tests.conftest import run_steward
from tests.postgres_cluster import model_differences

REGIONS = ["eu", "us"]


def _clock_of(store) -> str:
    with duckdb.connect(str(store), read_only=True) as con:
        [(now,)] = con.execute("SELECT now FROM _steward.clock").fetchall()
    return now.isoformat()


def test_steward_run_on_postgres_builds_what_it_builds_on_duckdb(built_estate, on_postgres,
                                                                 data_dir, monkeypatch):
    built, success, _ = built_estate
    assert success
    shutil.copytree(built / "landing", data_dir / "landing")
    # The DuckDB run's clock, so retention and the models' as_of() see the same moment.
    monkeypatch.setenv("STEWARD_NOW", _clock_of(built / "store" / "eu.duckdb"))
    ran = run_steward(["run"], data_dir)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "OK in" in ran.stdout and (data_dir / "reports" / "index.html").exists()
    for region in REGIONS:
        assert model_differences(built / "store" / f"{region}.duckdb",
                                 postgres_dsn(region)) == {}
    scored = {model.name: rows_if_present(store_path(region), model.relation[1],
                                          f"SELECT count(*) FROM {qualified(*model.relation)}",
                                          schema=model.relation[0])
              for model in CONSUMER_MODELS for region in model.regions}
    assert all(found and found[0][0] > 0 for found in scored.values()), scored
    # Every store lives in the server: no DuckDB file was written for any of them.
    assert not any((data_dir / "store").glob("*.duckdb"))
    assert _lead_scoring_reads() > 0  # the run granted it its masked view

    # A grant by hand, then a run that rebuilds every model (dropping their grants and views).
    leak = f"GRANT SELECT ON raw_crm.customers TO {role_name('lead_scoring')}"
    _as_owner(leak)
    again = run_steward(["run"], data_dir)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _lead_scoring_reads() > 0
    with (_connect(role_name("lead_scoring")) as con, con.cursor() as cursor,
          pytest.raises(errors.InsufficientPrivilege)):
        cursor.execute("SELECT full_name FROM raw_crm.customers")
    [applied] = [e for e in entries() if e.kind == "grants.applied" and e.details["drift"]]
    assert applied.details["region"] == "us" and any(
        "REVOKE SELECT ON \"raw_crm\".\"customers\"" in change
        for change in applied.details["drift"])
    assert rows_if_present(ops_store(), "incidents",
                           "SELECT kind FROM incidents WHERE key = 'grants:us'") == [
        ("grants_drift",)]
    verified = run_steward(["audit", "verify"], data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _connect(user: str):
    """A connection to the us database as `user` (loopback connections are trusted here)."""
    return psycopg2.connect(postgres_dsn("us").replace("postgres@", f"{user}@", 1))


def _as_owner(statement: str) -> None:
    with _connect("postgres") as con, con.cursor() as cursor:
        cursor.execute(statement)


def _lead_scoring_reads() -> int:
    with _connect(role_name("lead_scoring")) as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM consumer_lead_scoring.marts__customer_features")
        return cursor.fetchone()[0]
