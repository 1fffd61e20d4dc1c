"""`steward run` on PostgreSQL: the landing files of the built DuckDB estate are ingested into
each region's database, the policy gate and dbt build the models there, every check runs, the
consumers score, the telemetry and platform metrics are collected and the report is written;
the models hold exactly the rows the DuckDB run built, and the audit log (in its own database)
verifies. Every build gives the database back the grants the policy implies, so a consumer
reads its masked views after each rebuild, and a grant made by hand is taken back and alerted.
The retention purge deletes exactly the expired rows there.

The module's tests share one run and go in order (`--dist loadfile` keeps them on one worker).
"""

from __future__ import annotations

import shutil
from datetime import datetime

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
from tests.clock import moment
from tests.conftest import run_steward, use_data_dir
from tests.orchestration.ingest_helpers import store_rows
from tests.postgres_cluster import model_differences

REGIONS = ["eu", "us"]


def _clock_of(store) -> str:
    with duckdb.connect(str(store), read_only=True) as con:
        [(now,)] = con.execute("SELECT now FROM _steward.clock").fetchall()
    return now.isoformat()


@pytest.fixture(scope="module")
def on_postgres_run(built_estate, postgres, tmp_path_factory):
    """`steward run` over the built estate's landing files, into PostgreSQL databases:
    (DuckDB data folder, PostgreSQL data folder, the run)."""
    built, success, _ = built_estate
    assert success
    with pytest.MonkeyPatch.context() as monkeypatch:
        data = use_data_dir(tmp_path_factory.mktemp("on_postgres"), monkeypatch)
        monkeypatch.setenv("STEWARD_WAREHOUSE", "postgres")
        monkeypatch.setenv("STEWARD_PG_DSN", postgres.dsn("pipeline_{store}"))
        shutil.copytree(built / "landing", data / "landing")
        # The DuckDB run's clock, so retention and the models' as_of() see the same moment.
        monkeypatch.setenv("STEWARD_NOW", _clock_of(built / "store" / "eu.duckdb"))
        yield built, data, run_steward(["run"], data)


def test_steward_run_on_postgres_builds_what_it_builds_on_duckdb(on_postgres_run):
    built, data, ran = on_postgres_run
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "OK in" in ran.stdout and (data / "reports" / "index.html").exists()
    for region in REGIONS:
        assert model_differences(built / "store" / f"{region}.duckdb",
                                 postgres_dsn(region)) == {}
    scored = {model.name: rows_if_present(store_path(region), model.relation[1],
                                          f"SELECT count(*) FROM {qualified(*model.relation)}",
                                          schema=model.relation[0])
              for model in CONSUMER_MODELS for region in model.regions}
    assert all(found and found[0][0] > 0 for found in scored.values()), scored
    # Every store lives in the server: no DuckDB file was written for any of them.
    assert not any((data / "store").glob("*.duckdb"))
    verified = run_steward(["audit", "verify"], data)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _connect(user: str):
    """A connection to the us database as `user` (loopback connections are trusted here)."""
    return psycopg2.connect(postgres_dsn("us").replace("postgres@", f"{user}@", 1))


def _lead_scoring_reads() -> int:
    with _connect(role_name("lead_scoring")) as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM consumer_lead_scoring.marts__customer_features")
        return cursor.fetchone()[0]


def test_each_build_restores_the_grants_and_takes_back_a_manual_one(on_postgres_run):
    _, data, _ = on_postgres_run
    assert _lead_scoring_reads() > 0  # the run granted it its masked view
    with _connect("postgres") as con, con.cursor() as cursor:
        cursor.execute(f"GRANT SELECT ON raw_crm.customers TO {role_name('lead_scoring')}")
    again = run_steward(["run"], data)  # rebuilds every model, dropping grants and views
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _lead_scoring_reads() > 0
    with (_connect(role_name("lead_scoring")) as con, con.cursor() as cursor,
          pytest.raises(errors.InsufficientPrivilege)):
        cursor.execute("SELECT full_name FROM raw_crm.customers")
    [applied] = [e for e in entries() if e.kind == "grants.applied" and e.details["drift"]]
    assert applied.details["region"] == "us" and any(
        'REVOKE SELECT ON "raw_crm"."customers"' in change for change in applied.details["drift"])
    assert rows_if_present(ops_store(), "incidents",
                           "SELECT kind FROM incidents WHERE key = 'grants:us'") == [
        ("grants_drift",)]


def _expired(region: str, cutoff: datetime) -> tuple[int, int]:
    [(expired, kept)] = store_rows(
        region, "SELECT count(*) FILTER (WHERE occurred_at < TIMESTAMP "
                f"'{cutoff:%Y-%m-%d %H:%M:%S}'), count(*) FILTER (WHERE occurred_at >= "
                f"TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}') FROM raw_web.events")
    return expired, kept


def test_the_purge_deletes_exactly_the_expired_rows_on_postgres(on_postgres_run, monkeypatch):
    from orchestration.lib.retention import purge

    monkeypatch.setenv("STEWARD_NOW", moment(45).isoformat())  # half of the 90 days of events
    plan = purge(dry_run=True)
    [target] = [t for t in plan.plan.targets if t.asset == "web/events"]
    before = {region: _expired(region, target.cutoff) for region in REGIONS}
    assert sum(expired for expired, _ in before.values()) > 0
    [item] = [i for i in plan.assets if i.asset == "web/events"]
    assert {r: item.rows[r] for r in REGIONS} == {r: before[r][0] for r in REGIONS}
    purge()
    assert {region: _expired(region, target.cutoff) for region in REGIONS} == {
        region: (0, kept) for region, (_, kept) in before.items()}
