"""The dbt project is portable: on a real PostgreSQL server it builds the same tables as on
DuckDB, its redaction masks the same text, and both gates stop a model there too.

These tests hold dbt alone to account: each copies the inputs a dbt build reads (raw tables
and Steward's `_steward` facts) from the built DuckDB estate over ADBC, so any difference is
the models'. `test_postgres_pipeline.py` runs Steward's own ingest and build there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg2
import pytest

from tests.dbt_cli import run_dbt
from tests.postgres_cluster import (
    PLATFORM,
    copy_inputs,
    dbt_build,
    model_differences,
    model_tables,
)


@pytest.mark.parametrize("region", ["eu", "global"])
def test_every_model_builds_on_postgres_with_the_rows_duckdb_built(built_estate, postgres,
                                                                  tmp_path, region):
    data, success, _ = built_estate
    assert success
    store = data / "store" / f"{region}.duckdb"
    assert model_tables(store), f"the built estate has no models in {region}"
    database = f"steward_{region}"
    dsn = copy_inputs(store, postgres, database)
    selection = ("--select", PLATFORM) if region == "global" else ("--exclude", PLATFORM)
    built = dbt_build(postgres, database, region, tmp_path, *selection)
    assert built.returncode == 0, built.stdout[-3000:]
    assert model_differences(store, dsn) == {}


REDACTION_SAMPLES = [
    "Call Björn Lindqvist on +46 70 123 45 67 or mail bjorn.l@example.se",
    "Chloé de la Fontaine paid with 4111 1111 1111 1111 from 192.168.10.4",
    "IBAN DE89 3704 0044 0532 0130 00, Anna's ticket; José García-López wrote",
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334 is not Sofia",
    "nothing personal here, order 12345",
]


def _redacted(target: str, env: dict, tmp_path: Path) -> list[str]:
    values = " union all ".join(
        f"select {i} as n, {{{{ steward_redact(\"'{text.replace(chr(39), chr(39) * 2)}'\") }}}} "
        "as redacted" for i, text in enumerate(REDACTION_SAMPLES))
    shown = run_dbt("show", tmp_path / target, "--inline",
                    f"select redacted from ({values}) samples order by n", "--output", "json",
                    "--limit", "-1", "--log-format", "json", "--quiet", target=target, env=env)
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    events = [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]
    [preview] = [e["data"]["preview"] for e in events if e["info"]["name"] == "ShowNode"]
    return [row["redacted"] for row in json.loads(preview)]


def test_redaction_masks_the_same_text_on_postgres_as_on_duckdb(postgres, tmp_path):
    admin = psycopg2.connect(postgres.dsn())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE steward_redaction")
    admin.close()
    env = {**os.environ, "STEWARD_STORE_DIR": str(tmp_path), "STEWARD_PG_HOST": "127.0.0.1",
           "STEWARD_PG_PORT": str(postgres.port), "STEWARD_PG_USER": "postgres",
           "STEWARD_PG_DBNAME": "steward_redaction"}
    on_duckdb = _redacted("local", env, tmp_path)
    assert "[NAME]" in on_duckdb[0] and "[EMAIL]" in on_duckdb[0] and "Björn" not in on_duckdb[0]
    assert on_duckdb[4] == REDACTION_SAMPLES[4]
    assert _redacted("postgres", env, tmp_path) == on_duckdb


def test_both_gates_stop_a_model_on_postgres_and_keep_its_last_good_table(built_estate,
                                                                         postgres, tmp_path):
    data, _, _ = built_estate
    database = "steward_gates"
    dsn = copy_inputs(data / "store" / "eu.duckdb", postgres, database)
    customers = ("--exclude", PLATFORM)
    first = dbt_build(postgres, database, "eu", tmp_path, *customers)
    assert first.returncode == 0, first.stdout[-3000:]
    pg = psycopg2.connect(dsn)
    pg.autocommit = True
    with pg.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marts.customer_features")
        [(good_rows,)] = cursor.fetchall()
        cursor.execute("UPDATE raw_crm.customers SET country = 'US' WHERE customer_id = "
                       "(SELECT min(customer_id) FROM raw_crm.customers)")
    outside = dbt_build(postgres, database, "eu", tmp_path, "--select", "customer_features")
    assert outside.returncode != 0
    assert "blocked by policy: region.rows_outside_region: 1 row(s) with a country_code " \
           "outside eu, e.g. US" in outside.stdout
    with pg.cursor() as cursor:
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE country_code = 'US') "
                       "FROM marts.customer_features")
        assert cursor.fetchall() == [(good_rows, 0)]
        cursor.execute("INSERT INTO _steward.policy_verdicts VALUES "
                       "('model.steward.customer_features', 'customer_features', 'a test rule')")
    blocked = dbt_build(postgres, database, "eu", tmp_path, "--select", "customer_features")
    assert blocked.returncode != 0
    assert "blocked by policy: a test rule" in blocked.stdout
    pg.close()


def _views(dsn: str) -> set[str]:
    pg = psycopg2.connect(dsn)
    with pg.cursor() as cursor:
        cursor.execute("SELECT table_schema || '.' || table_name FROM information_schema.views "
                       "WHERE table_schema IN ('staging', 'intermediate')")
        views = {name for (name,) in cursor.fetchall()}
    pg.close()
    return views


def test_a_view_rebuilt_alone_keeps_the_views_built_on_it(built_estate, postgres, tmp_path):
    """Automation rebuilds a subset: a staging view without the intermediate view over it. dbt's
    own view materialization dropped the old view with CASCADE, and the intermediate view with
    it; replaced in place, both stand, and a view whose columns changed is still rebuilt."""
    data, _, _ = built_estate
    store = data / "store" / "eu.duckdb"
    database = "steward_subset"
    dsn = copy_inputs(store, postgres, database)
    assert dbt_build(postgres, database, "eu", tmp_path, "--exclude", PLATFORM).returncode == 0
    every_view = _views(dsn)
    assert "intermediate.int_payments_aggregated_to_invoices" in every_view

    alone = dbt_build(postgres, database, "eu", tmp_path, "--select", "stg_billing__payments")
    assert alone.returncode == 0, alone.stdout[-3000:]
    assert _views(dsn) == every_view
    assert model_differences(store, dsn) == {}

    pg = psycopg2.connect(dsn)
    pg.autocommit = True
    with pg.cursor() as cursor:
        cursor.execute("DROP VIEW staging.stg_billing__payments CASCADE")
        cursor.execute("CREATE VIEW staging.stg_billing__payments AS SELECT 1 AS other_shape")
    pg.close()
    reshaped = dbt_build(postgres, database, "eu", tmp_path,
                         "--select", "stg_billing__payments+")
    assert reshaped.returncode == 0, reshaped.stdout[-3000:]
    assert _views(dsn) == every_view
    assert model_differences(store, dsn) == {}
