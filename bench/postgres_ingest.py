"""Governed ingest into PostgreSQL against a bare ADBC ingest of the same files (target ≤ 1.3x).

The bare yardstick is what a hand-written loader would do: DuckDB reads the files and their
Arrow stream goes into one new table over ADBC. The governed load is `load_table` with
`STEWARD_WAREHOUSE=postgres`: typed read, triage, quarantine, routing into each region's
database, reconciliation and one transaction per region with its load log. Both run in this
process on a throwaway cluster, best of REPEATS; skipped, saying why, without the server.
"""

from __future__ import annotations

import os
import time
import uuid
from functools import partial
from pathlib import Path
from unittest.mock import patch

import adbc_driver_postgresql.dbapi as adbc
import duckdb

from orchestration.lib import warehouse
from orchestration.lib.ingest.loader import load_table
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import load_source_tables
from policies.regions import region_names
from tests.postgres_cluster import bench_cluster

REPEATS = 2
TARGET = 1.3


def _new_bare_database(server: str) -> str:
    dsn = f"{server}/bare_{uuid.uuid4().hex[:10]}"
    with warehouse.write_connection(dsn):  # made before the clock starts, as for Steward's
        return dsn


def _bare(server: str, fmt: str, files: list[str]) -> float:
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    dsn = _new_bare_database(server)
    started = time.perf_counter()
    with duckdb.connect() as engine, adbc.connect(dsn) as con, con.cursor() as cursor:
        rows = engine.sql(f"SELECT * FROM {reader}(?)", params=[files]).to_arrow_reader()
        cursor.adbc_ingest("t", rows, mode="create")
        con.commit()
    return time.perf_counter() - started


def _governed(source_table: str, server: str, store: Path) -> float:
    """Seconds of one governed load into new, empty databases (made before the clock starts:
    a warehouse's databases exist before its first load)."""
    os.environ["STEWARD_PG_DSN"] = f"{server}/t{uuid.uuid4().hex[:10]}_{{store}}"
    os.environ["STEWARD_STORE_DIR"] = str(store)
    settings = get_settings()
    for path in (settings.quarantine_store, *map(settings.region_store, region_names())):
        with warehouse.write_connection(path):
            pass
    spec = next(s for s in load_source_tables() if s.name == source_table)
    started = time.perf_counter()
    report = load_table(spec, region_names(), run_id="bench")
    seconds = time.perf_counter() - started
    if not report.reconciled or report.rows_quarantined:
        raise SystemExit(f"benchmark load was not clean: {report}")
    return seconds


def _best(measure) -> float:
    return min(measure() for _ in range(REPEATS))


def bench_postgres_ingest(root: Path, files: dict[str, list[str]], cases: list[tuple[str, str]]
                          ) -> None:
    print(f"\ningest into PostgreSQL, governed vs a bare ADBC ingest, best of {REPEATS} "
          f"(target <= {TARGET}x)")
    with bench_cluster() as cluster, patch.dict(os.environ, STEWARD_WAREHOUSE="postgres",
                                                 STEWARD_DATA_DIR=str(root),
                                                 STEWARD_LANDING_DIR=str(root / "landing")):
        if cluster is None:
            return
        server = cluster.dsn().rsplit("/", 1)[0]
        print(f"  {'table':<18}{'format':<9}{'bare s':>8}{'steward s':>11}{'ratio':>8}")
        for source_table, fmt in cases:
            bare = _best(partial(_bare, server, fmt, files[source_table]))
            ours = _best(partial(_governed, source_table, server, root / "pg-store"))
            print(f"  {source_table:<18}{fmt:<9}{bare:>8.2f}{ours:>11.2f}{ours / bare:>7.2f}x")
