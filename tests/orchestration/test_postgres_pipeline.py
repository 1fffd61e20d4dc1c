"""`steward run` on PostgreSQL: the landing files of the built DuckDB estate are ingested into
each region's database, the policy gate and dbt build the models there, every check runs, the
consumers score, the telemetry and platform metrics are collected and the report is written;
the models hold exactly the rows the DuckDB run built, and the audit log (in its own database)
verifies. Every build gives the database back the grants the policy implies, so a consumer
reads its masked views after each rebuild, and a grant made by hand is taken back and alerted.
The governed read logs in as the consumer's role, an erasure leaves nothing of its subject,
the retention purge deletes exactly the expired rows, and key rotation, lineage export and the
platform metrics work there. Steward owns it all through a role without superuser rights.

The module's tests share one run and go in order (`--dist loadfile` keeps them on one worker).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import errors

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.governance.audit_log import entries
from orchestration.lib.governance.erasure import ERASED
from orchestration.lib.settings import get_settings, postgres_dsn
from orchestration.lib.warehouse import qualified, rows_if_present, store_path, write_connection
from orchestration.lib.warehouse.grants import role_name
from tests.clock import moment
from tests.conftest import run_steward, use_data_dir
from tests.orchestration.ingest_helpers import store_rows
from tests.postgres_cluster import clock_of, model_differences

REGIONS = ["eu", "us"]


@pytest.fixture(scope="module")
def on_postgres_run(built_estate, postgres, tmp_path_factory):
    """`steward run` over the built estate's landing files, into PostgreSQL databases:
    (DuckDB data folder, PostgreSQL data folder, the run)."""
    built, success, _ = built_estate
    assert success
    with pytest.MonkeyPatch.context() as monkeypatch:
        data = use_data_dir(tmp_path_factory.mktemp("on_postgres"), monkeypatch)
        monkeypatch.setenv("STEWARD_WAREHOUSE", "postgres")
        # Steward owns it all through a role without superuser rights.
        monkeypatch.setenv("STEWARD_PG_DSN", postgres.dsn("pipeline_{store}",
                                                          user=postgres.owner()))
        shutil.copytree(built / "landing", data / "landing")
        # The DuckDB run's clock, so retention and the models' as_of() see the same moment.
        monkeypatch.setenv("STEWARD_NOW", clock_of(built / "store" / "eu.duckdb"))
        yield built, data, run_steward(["run"], data)


def test_steward_run_on_postgres_builds_what_it_builds_on_duckdb(on_postgres_run, postgres):
    built, data, ran = on_postgres_run
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "OK in" in ran.stdout and (data / "reports" / "index.html").exists()
    # Where the stores are is said as they are: databases on a server, with no password.
    assert (f"stores in the databases pipeline_eu, pipeline_us on postgres://127.0.0.1:"
            f"{postgres.port})") in ran.stdout
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


def _as_lead_scoring(postgres):
    """The us database, logged in as lead_scoring's role with its password."""
    return psycopg2.connect(postgres.login("pipeline_us", role_name("lead_scoring")))


def _lead_scoring_reads(postgres) -> int:
    with _as_lead_scoring(postgres) as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM consumer_lead_scoring.marts__customer_features")
        return cursor.fetchone()[0]


def test_a_manual_grant_fails_the_blocking_check_and_is_taken_back(on_postgres_run,
                                                                   postgres):
    _, data, _ = on_postgres_run
    assert _lead_scoring_reads(postgres) > 0  # the run granted it its masked view
    with psycopg2.connect(postgres_dsn("us")) as con, con.cursor() as cursor:
        cursor.execute(f"GRANT SELECT ON raw_crm.customers TO {role_name('lead_scoring')}")
    drifted = run_steward(["run"], data)
    # The source's blocking policy check takes the grant back and fails: what reads the
    # customers downstream waits for the next run.
    assert drifted.returncode == 1, drifted.stdout[-3000:] + drifted.stderr[-3000:]
    assert "crm/customers: 1 blocking check(s) failed" in drifted.stdout + drifted.stderr
    with (_as_lead_scoring(postgres) as con, con.cursor() as cursor,
          pytest.raises(errors.InsufficientPrivilege)):
        cursor.execute("SELECT full_name FROM raw_crm.customers")
    [applied] = [e for e in entries() if e.kind == "grants.applied" and e.details["drift"]]
    assert applied.details["region"] == "us" and [
        change.split(" FROM ")[0] for change in applied.details["drift"]] == [
        '- REVOKE SELECT ON "raw_crm"."customers"']
    assert rows_if_present(get_settings().ops_store, "alerts_sent",
                           "SELECT kind FROM alerts_sent WHERE key = 'grants:us'") == [
        ("grants_drift",)]
    again = run_steward(["run"], data)  # every model rebuilt, the grants given back
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _lead_scoring_reads(postgres) > 0


def _database_reads(role: str) -> set[tuple[str, str]]:
    """(consumer, relation) of each read the server audited for `role`, as collected."""
    return {(e.details["consumer"], e.details["relation"]) for e in entries()
            if e.kind == "access.database" and e.details["role"] == role}


def test_steward_read_on_postgres_is_the_consumer_s_role_reading_its_view(
        on_postgres_run, postgres, read_service, monkeypatch):
    """Through the read service, as an automation team reads: the token proves the consumer;
    the service becomes its role, or logs in as it where it holds the consumer's password,
    and the server's audit log names the consumer either way."""
    from orchestration.lib.governance.credentials import issue

    _, data, _ = on_postgres_run
    read = ["read", "marts/customer_features", "--region", "us", "--limit", "1"]
    service = {"STEWARD_READ_SERVICE": read_service,
               "STEWARD_TOKEN": issue("lead_scoring").token}
    rows = f"lead_scoring reads marts/customer_features from us: " \
           f"{_lead_scoring_reads(postgres):,} rows"
    view = ("lead_scoring", "consumer_lead_scoring.marts__customer_features")
    assert run_steward(["audit", "collect"], data).returncode == 0  # the reads so far
    acted = run_steward(read, data, **service)
    assert acted.returncode == 0, acted.stderr
    assert rows in acted.stdout
    assert run_steward(["audit", "collect"], data).returncode == 0
    assert view in _database_reads(postgres.owner())  # Steward's session, become the role

    password = "STEWARD_CONSUMER_PASSWORD_LEAD_SCORING"
    monkeypatch.setenv(password, "not-its-password")
    refused = run_steward(read, data, **service)
    assert refused.returncode == 1
    assert "warehouse refused the read" in refused.stderr
    assert "steward_consumer_lead_scoring" in refused.stderr
    [failed] = [e for e in entries() if e.kind == "access.failed"]
    assert failed.details["consumer"] == "lead_scoring"

    monkeypatch.setenv(password, postgres.password(role_name("lead_scoring")))
    logged_in = run_steward(read, data, **service)
    assert logged_in.returncode == 0, logged_in.stderr
    assert rows in logged_in.stdout
    assert run_steward(["audit", "collect"], data).returncode == 0
    assert view in _database_reads(role_name("lead_scoring"))


def _erased_everywhere(subject_id: int) -> dict[str, int]:
    """The subject's rows left in each source table of eu, by its customer_id."""
    return {table: store_rows("eu", f"SELECT count(*) FROM {table} WHERE customer_id = "
                                    f"{subject_id}")[0][0]
            for table in ("raw_crm.customers", "raw_support.tickets", "raw_billing.invoices")}


def test_steward_erase_on_postgres_leaves_nothing_of_the_subject(on_postgres_run):
    _, data, _ = on_postgres_run
    [(subject_id, email, phone), (other_id, _, _)] = store_rows(
        "eu", "SELECT customer_id, email, phone FROM raw_crm.customers WHERE customer_id IN "
              "(SELECT customer_id FROM raw_support.tickets) ORDER BY 1 LIMIT 2")
    [(other_ticket,)] = store_rows("eu", f"SELECT min(ticket_id) FROM raw_support.tickets "
                                         f"WHERE customer_id = {other_id}")
    before = _erased_everywhere(subject_id)
    with write_connection(store_path("eu")) as con:  # a mention nobody declared
        con.execute("UPDATE raw_support.tickets SET subject = ? WHERE ticket_id = ?",
                    [f"call {phone} or write {email}", other_ticket])
    with write_connection(get_settings().quarantine_store) as con:
        con.execute("CREATE TABLE IF NOT EXISTS quarantine (source_table VARCHAR, file VARCHAR, "
                    "line BIGINT, reason VARCHAR, record VARCHAR, run_id VARCHAR, "
                    "quarantined_at TIMESTAMP)")
        for record in (f"{subject_id},Someone,{email},broken",
                       f'{{"customer_id": {subject_id}, "note": "x"}}',
                       f"{other_id},Someone Else,wrote to {email}"):
            con.execute("INSERT INTO quarantine VALUES ('crm.customers', 'f.csv', 2, 'bad', ?, "
                        "'run', now())", [record])
    dry = run_steward(["erase", "--subject", str(subject_id), "--dry-run"], data)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "quarantine: 2 record(s), mentions replaced in 1" in dry.stdout
    assert _erased_everywhere(subject_id) == before
    erased = run_steward(["erase", "--subject", str(subject_id)], data)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert "remaining after erasure: 0" in erased.stdout
    assert before["raw_crm.customers"] == 1 and before["raw_support.tickets"] > 0
    assert _erased_everywhere(subject_id) == dict.fromkeys(before, 0)
    assert store_rows("eu", f"SELECT subject FROM raw_support.tickets WHERE ticket_id = "
                            f"{other_ticket}") == [(f"call {ERASED} or write {ERASED}",)]
    assert rows_if_present(get_settings().quarantine_store, "quarantine",
                           "SELECT record FROM quarantine") == [
        (f"{other_id},Someone Else,wrote to {ERASED}",)]
    assert run_steward(["audit", "verify"], data).returncode == 0


def _expired(region: str, cutoff: datetime) -> tuple[int, int]:
    [(expired, kept)] = store_rows(
        region, "SELECT count(*) FILTER (WHERE occurred_at < TIMESTAMP "
                f"'{cutoff:%Y-%m-%d %H:%M:%S}'), count(*) FILTER (WHERE occurred_at >= "
                f"TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}') FROM raw_web.events")
    return expired, kept


def test_the_purge_deletes_exactly_the_expired_rows_on_postgres(on_postgres_run, monkeypatch):
    from orchestration.lib.governance.retention import purge

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


def _consumer_keys() -> dict[str, bytes]:
    with psycopg2.connect(postgres_dsn("eu")) as con, con.cursor() as cursor:
        cursor.execute("SELECT consumer, key FROM _steward_grants.consumer_keys")
        return {consumer: bytes(key) for consumer, key in cursor.fetchall()}


def test_keys_lineage_and_metrics_on_postgres(on_postgres_run):
    from orchestration.lib.governance.pseudonyms import consumer_key

    _, data, _ = on_postgres_run
    before = _consumer_keys()
    rotated = run_steward(["keys", "rotate", "pseudonym"], data)
    assert rotated.returncode == 0, rotated.stderr
    after = _consumer_keys()  # the masking views hash with the new keys at once
    assert after.keys() == before.keys() and all(after[c] != before[c] for c in after)
    assert after == {consumer: consumer_key(consumer) for consumer in after}
    exported = run_steward(["lineage", "export", str(data / "lineage.jsonl")], data)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in (data / "lineage.jsonl").read_text().splitlines()]
    [features] = [e for e in events if e["job"]["name"] == "marts/customer_features[us]"]
    [output] = features["outputs"]  # named as OpenLineage names PostgreSQL datasets
    assert output["namespace"] == f"postgres://127.0.0.1:{urlsplit(postgres_dsn('us')).port}"
    assert output["name"] == "pipeline_us.marts.customer_features"
    shown = run_steward(["metrics", "show"], data)
    assert shown.returncode == 0 and "steward run" in shown.stdout, shown.stdout + shown.stderr
    assert run_steward(["audit", "verify"], data).returncode == 0
