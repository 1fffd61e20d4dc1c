"""Red team on PostgreSQL: once `steward grants apply` has compiled the policy into the region
databases, each consumer connecting with its own role (here with psycopg, as psql would) sees
exactly what `steward read` serves it and nothing more; a manual grant and a dbt rebuild both
show as drift, and apply puts the database back."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg2
import pytest
from psycopg2 import errors

from orchestration.lib.warehouse.grants import apply, plan, role_name, view_schema
from tests.conftest import run_steward, use_data_dir
from tests.postgres_cluster import PLATFORM, copy_inputs, dbt_build

REGIONS = ("eu", "us")


@pytest.fixture(scope="module")
def granted(built_estate, postgres, tmp_path_factory):
    """The built estate's region stores rebuilt by dbt in PostgreSQL and the grants applied:
    (data folder, cluster, environment for steward commands)."""
    data, success, _ = built_estate
    assert success
    for region in REGIONS:
        copy_inputs(data / "store" / f"{region}.duckdb", postgres, f"steward_{region}")
        built = dbt_build(postgres, f"steward_{region}", region,
                          tmp_path_factory.mktemp(f"dbt_{region}"), "--exclude", PLATFORM)
        assert built.returncode == 0, built.stdout[-3000:]
    env = {"STEWARD_PG_DSN": postgres.dsn("steward_{store}")}
    applied = run_steward(["grants", "apply", "--region", "eu", "--region", "us"], data, **env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "change(s) applied" in applied.stdout
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_data_dir(data, monkeypatch)
        yield data, postgres, env


def _as(postgres, consumer: str, region: str):
    """Logged in as the consumer's role, with its password, as psql would."""
    return psycopg2.connect(postgres.login(f"steward_{region}", role_name(consumer)))


def _grants(granted, act) -> list[str]:
    """`act` (plan or apply) on both region databases, in this process."""
    from orchestration.lib.governance.database_grants import database_grants
    from orchestration.lib.warehouse import postgres as backend

    _, postgres, _ = granted
    changes = []
    for region in REGIONS:
        with backend.write_connection(postgres.dsn(f"steward_{region}")) as con:
            changes += act(con, f"steward_{region}", database_grants(con, region))
    return changes


def _plain(value):
    return round(float(value), 9) if isinstance(value, Decimal | float) else value


EXPOSED = [("lead_scoring", "marts/customer_features", "us"),
           ("support_routing", "marts/ticket_features", "eu"),
           ("support_routing", "support/tickets", "eu"),
           ("finance_automation", "crm/customers", "us"),
           ("finance_automation", "marts/invoice_features", "eu"),
           ("fairness_audit", "consumers/lead_scores", "us")]


def _comparable(rows: list[dict], key: str) -> list[dict]:
    return sorted(({k: _plain(v) for k, v in row.items()} for row in rows),
                  key=lambda row: str(row[key]))


@pytest.mark.parametrize(("consumer", "dataset", "region"), EXPOSED)
def test_a_consumer_with_psql_sees_exactly_what_steward_read_serves(granted, consumer, dataset,
                                                                    region, monkeypatch):
    """The same rows three ways: Steward's read masking the DuckDB store, the consumer's role
    reading its view with psql, and Steward's read on PostgreSQL, which logs in as that role."""
    from orchestration.lib.governance.governed_read import read_dataset

    _, postgres, env = granted
    masked_by_steward = read_dataset(dataset, consumer, regions=[region]).to_pylist()
    with _as(postgres, consumer, region) as con, con.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{view_schema(consumer)}"."{dataset.replace("/", "__")}"')
        names = [column.name for column in cursor.description]
        seen = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    _on_postgres(monkeypatch, env, postgres, consumer)
    read_as_role = read_dataset(dataset, consumer, regions=[region]).to_pylist()
    assert masked_by_steward, f"{dataset} serves no rows in {region}: nothing to compare"
    assert names == list(masked_by_steward[0]) == list(read_as_role[0])
    assert (_comparable(seen, names[0]) == _comparable(masked_by_steward, names[0])
            == _comparable(read_as_role, names[0]))


def _on_postgres(monkeypatch, env: dict, postgres, consumer: str | None = None) -> None:
    """Steward's stores in the granted databases, with `consumer`'s password given to it."""
    monkeypatch.setenv("STEWARD_WAREHOUSE", "postgres")
    monkeypatch.setenv("STEWARD_PG_DSN", env["STEWARD_PG_DSN"])
    if consumer:
        monkeypatch.setenv(f"STEWARD_CONSUMER_PASSWORD_{consumer.upper()}",
                           postgres.password(role_name(consumer)))


def test_steward_reads_nothing_on_postgres_with_a_wrong_password(granted, monkeypatch):
    from orchestration.lib.governance.governed_read import read_dataset
    from orchestration.lib.warehouse import LoginRefused

    _, postgres, env = granted
    _on_postgres(monkeypatch, env, postgres)
    monkeypatch.setenv("STEWARD_CONSUMER_PASSWORD_LEAD_SCORING", "not-its-password")
    with pytest.raises(LoginRefused, match=r"steward_consumer_lead_scoring.*password"):
        read_dataset("marts/customer_features", "lead_scoring", regions=["us"])


def test_steward_acting_as_a_consumer_is_held_to_the_consumer_s_grants(granted):
    """Without the consumer's password Steward becomes its role (SET ROLE), and the server
    refuses that session whatever the consumer's role would be refused."""
    from orchestration.lib.warehouse import Error
    from orchestration.lib.warehouse.grants import acting_as

    _, postgres, _ = granted
    with acting_as(postgres.dsn("steward_eu"), "support_routing") as con:
        [(bodies,)] = con.execute("SELECT count(*) FROM consumer_support_routing."
                                  "support__tickets WHERE body LIKE '%[EMAIL]%'").fetchall()
        assert bodies > 0
        for forbidden in ("SELECT body FROM raw_support.tickets",
                          "SELECT * FROM _steward_grants.consumer_keys",
                          "SELECT * FROM _steward.quarantine"):
            with pytest.raises(Error, match="permission denied"):
                con.execute(forbidden)


def test_a_raw_column_the_policy_masks_is_denied_and_the_rest_reads(granted):
    _, postgres, _ = granted
    with _as(postgres, "support_routing", "eu") as con, con.cursor() as cursor:
        with pytest.raises(errors.InsufficientPrivilege, match="tickets"):
            cursor.execute("SELECT body FROM raw_support.tickets")
        con.rollback()
        with pytest.raises(errors.InsufficientPrivilege, match="tickets"):
            cursor.execute("SELECT * FROM raw_support.tickets")
        con.rollback()
        cursor.execute("SELECT count(*) FROM raw_support.tickets WHERE ticket_id IS NOT NULL")
        assert cursor.fetchone()[0] > 0
        cursor.execute("SELECT body FROM consumer_support_routing.support__tickets WHERE body LIKE "
                       "'%[EMAIL]%' LIMIT 1")
        assert cursor.fetchall(), "no redacted e-mail address in the view"


def test_a_reversible_keyed_hash_is_withheld_as_the_read_path_suppresses_it(granted):
    _, postgres, _ = granted
    with _as(postgres, "finance_automation", "us") as con, con.cursor() as cursor:
        cursor.execute("SELECT * FROM consumer_finance_automation.crm__customers LIMIT 1")
        assert "gender" not in [column.name for column in cursor.description]
        with pytest.raises(errors.InsufficientPrivilege):
            cursor.execute("SELECT gender FROM raw_crm.customers")


def test_a_keyed_hash_reads_as_the_read_paths_pseudonym(postgres):
    from orchestration.lib.governance.pseudonyms import pseudonym
    from orchestration.lib.warehouse import postgres as backend
    from orchestration.lib.warehouse.grants import DatabaseGrants, ExposedTable

    admin = psycopg2.connect(postgres.dsn())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE steward_hashing")
    admin.close()
    emails = [f"person{i}@example.com" for i in range(30)] + [None]
    key = b"k" * 32
    table = ExposedTable("crm/people", "crm", "people",
                         (("person_id", "pass"), ("email", "keyed_hash")))
    with backend.write_connection(postgres.dsn("steward_hashing")) as con:
        con.execute("CREATE SCHEMA crm")
        con.execute("CREATE TABLE crm.people (person_id integer, email varchar)")
        con.executemany("INSERT INTO crm.people VALUES (?, ?)", list(enumerate(emails)))
        apply(con, "steward_hashing", DatabaseGrants({"hasher": (table,)}, {"hasher": key},
                                                     "$1"))
    with psycopg2.connect(postgres.login("steward_hashing", role_name("hasher"))) as con, \
            con.cursor() as cursor:
        cursor.execute("SELECT person_id, email FROM consumer_hasher.crm__people ORDER BY 1")
        assert cursor.fetchall() == [
            (i, None if email is None else pseudonym(key, email))
            for i, email in enumerate(emails)]
        with pytest.raises(errors.InsufficientPrivilege):
            cursor.execute("SELECT email FROM crm.people")


def test_another_regions_database_is_refused(granted):
    _, postgres, _ = granted
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        _as(postgres, "lead_scoring", "eu")


@pytest.mark.parametrize("statement", [
    "CREATE TABLE public.mine (a int)",
    'CREATE TABLE "consumer_lead_scoring".mine (a int)',
    "CREATE TEMP TABLE mine (a int)",
    "CREATE SCHEMA mine",
])
def test_a_consumer_creates_nothing(granted, statement):
    _, postgres, _ = granted
    with _as(postgres, "lead_scoring", "us") as con, con.cursor() as cursor, \
            pytest.raises(errors.InsufficientPrivilege):
        cursor.execute(statement)


@pytest.mark.parametrize("relation", [
    "_steward.quarantine", "_steward.consumer_models", "_steward.policy_verdicts",
    "_steward_grants.consumer_keys", "raw_crm.customers", "consumers.lead_scores",
])
def test_steward_s_own_tables_and_the_keys_are_out_of_reach(granted, relation):
    _, postgres, _ = granted
    with _as(postgres, "lead_scoring", "us") as con, con.cursor() as cursor, \
            pytest.raises(errors.InsufficientPrivilege):
        cursor.execute(f"SELECT * FROM {relation}")


def test_a_manual_grant_is_drift_until_apply_takes_it_back(granted):
    data, postgres, env = granted
    assert _grants(granted, plan) == []
    admin = psycopg2.connect(postgres.dsn("steward_eu"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"GRANT SELECT ON raw_support.tickets TO {role_name('support_routing')}")
    admin.close()
    with _as(postgres, "support_routing", "eu") as con, con.cursor() as cursor:
        cursor.execute("SELECT body FROM raw_support.tickets LIMIT 1")  # the leak drift opens
    drift = run_steward(["grants", "plan", "--check", "--region", "eu", "--region", "us"],
                        data, **env)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert (f'- REVOKE SELECT ON "raw_support"."tickets" FROM '
            f'"{role_name("support_routing")}"') in drift.stdout
    assert "us (steward_us): as the policy implies" in drift.stdout
    assert run_steward(["grants", "apply", "--region", "eu"], data, **env).returncode == 0
    assert _grants(granted, plan) == []
    with _as(postgres, "support_routing", "eu") as con, con.cursor() as cursor:
        with pytest.raises(errors.InsufficientPrivilege):
            cursor.execute("SELECT body FROM raw_support.tickets")
        con.rollback()
        cursor.execute("SELECT count(ticket_id) FROM raw_support.tickets")
        assert cursor.fetchone()[0] > 0


def test_a_dbt_rebuild_drops_the_grants_and_apply_restores_them(granted, tmp_path,
                                                                 monkeypatch):
    from orchestration.lib.governance.governed_read import read_dataset
    from orchestration.lib.warehouse import NotGranted

    _, postgres, env = granted
    _on_postgres(monkeypatch, env, postgres, "lead_scoring")
    for attempt in range(2):  # rebuilt twice: each rebuild drops them again
        rebuilt = dbt_build(postgres, "steward_us", "us", tmp_path / str(attempt),
                            "--select", "customer_features")
        assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
        with pytest.raises(NotGranted, match="steward grants apply"):  # its view went too
            read_dataset("marts/customer_features", "lead_scoring", regions=["us"])
        assert "+ CREATE VIEW consumer_lead_scoring.marts__customer_features" in _grants(granted,
                                                                                   plan)
        assert _grants(granted, apply)
        assert _grants(granted, plan) == []
        with _as(postgres, "lead_scoring", "us") as con, con.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM consumer_lead_scoring.marts__customer_features")
            assert cursor.fetchone()[0] > 0


def test_a_read_during_a_rebuild_waits_for_its_view_to_come_back(granted, tmp_path,
                                                                 monkeypatch):
    """A consumer run reading while another worker rebuilds the table under its view reads
    the rebuilt rows once the grants are back, rather than failing to find the view."""
    from orchestration.lib.governance.database_grants import rebuilding, restore
    from orchestration.lib.governance.governed_read import read_dataset

    _, postgres, env = granted
    _on_postgres(monkeypatch, env, postgres, "lead_scoring")
    read: list = []
    with ThreadPoolExecutor(1) as pool, rebuilding("us"):
        rebuilt = dbt_build(postgres, "steward_us", "us", tmp_path, "--select",
                            "customer_features")
        assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
        reading = pool.submit(lambda: read.append(
            read_dataset("marts/customer_features", "lead_scoring", regions=["us"])))
        time.sleep(2)
        assert not read, "the read went ahead while the view was gone"
        restore("us")
    reading.result(timeout=60)
    assert read[0].num_rows > 0


def test_new_scores_replace_a_table_a_consumer_s_view_is_built_on(granted, monkeypatch):
    """Rescoring drops the old scores with the fairness auditor's masking view over them (a
    plain drop is refused: 2BP01) and gives the view back; the auditor reads the new scores."""
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers import kept
    from orchestration.lib.consumers.run import _write
    from orchestration.lib.warehouse import qualified, replace_table, write_connection

    _, postgres, env = granted
    _on_postgres(monkeypatch, env, postgres)
    [model] = [m for m in CONSUMER_MODELS if m.relation == ("consumers", "lead_scores")]
    view = "consumer_fairness_audit.consumers__lead_scores"
    with _as(postgres, "fairness_audit", "us") as con, con.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {view}")
        before = cursor.fetchall()
    assert before
    with write_connection(postgres.dsn("steward_us")) as con, \
            pytest.raises(Exception, match="other objects depend on it"):
        replace_table(con, qualified(*model.relation), "(x INTEGER)")
    with write_connection(postgres.dsn("steward_us")) as con:
        scored = con.execute(f"SELECT * FROM {qualified(*model.relation)}").fetch_arrow_table()
        # copy_inputs copied the kept models without their key; the pipeline's table has one.
        con.execute(f"ALTER TABLE {kept.SCHEMA}.{kept.TABLE} ADD PRIMARY KEY (name)")
    rescored = scored.slice(0, scored.num_rows // 2)
    _write(model, "us", rescored, kept.load(model.name, "us"))
    with _as(postgres, "fairness_audit", "us") as con, con.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {view}")
        assert cursor.fetchone()[0] == rescored.num_rows < len(before)
    assert _grants(granted, plan) == []


def test_every_read_made_with_psql_lands_in_the_verified_audit_chain(granted):
    from orchestration.lib.governance import audit_log

    data, postgres, env = granted
    collect = ["audit", "collect", "--region", "eu", "--region", "us"]
    assert run_steward(collect, data, **env).returncode == 0  # what earlier tests read
    before = len(audit_log.entries())
    with _as(postgres, "support_routing", "eu") as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM consumer_support_routing.support__tickets")
        cursor.execute("SELECT ticket_id FROM raw_support.tickets LIMIT 1")
    collected = run_steward(collect, data, **env)
    assert collected.returncode == 0, collected.stderr
    new = [e for e in audit_log.entries()[before:] if e.kind == "access.database"]
    assert {(e.subject, e.details["relation"]) for e in new} >= {
        ("support/tickets", "consumer_support_routing.support__tickets"),
        ("support/tickets", "raw_support.tickets")}
    assert {(e.details["consumer"], e.details["database"], e.details["statement_class"])
            for e in new} == {("support_routing", "steward_eu", "READ")}
    again = run_steward(collect, data, **env)
    assert "0 audited read(s) collected" in again.stdout
    verified = run_steward(["audit", "verify"], data)
    assert verified.returncode == 0 and "intact" in verified.stdout
