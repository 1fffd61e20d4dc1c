"""End to end on PostgreSQL: the whole governed pipeline into a throwaway cluster against the
same SQL run directly there (no target: reported beside the DuckDB figures).

Governed: `steward run`'s pipeline with `STEWARD_WAREHOUSE=postgres` over the e2e estate.
Direct: per region, one new database; each raw table straight from the landing files (read by
DuckDB, rows filtered to the region's countries, streamed over ADBC), then every estate model's
SQL, compiled by dbt for PostgreSQL beforehand (not timed), as a view or table. Each side runs
once, in a fresh process (`python -m bench.postgres_e2e direct`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest.mock import patch

import duckdb

from bench.e2e import LEFT_OUT, estate_models, in_fresh_process, raw_select
from orchestration.lib.dbt_manifest import dbt_executable
from orchestration.lib.settings import get_settings, postgres_dsn
from orchestration.lib.sources import load_source_tables
from orchestration.lib.warehouse import postgres, qualified, quote_ident
from policies.regions import region_names
from tests.postgres_cluster import bench_cluster

DIRECT = "direct_{store}"


def bench_postgres_e2e(data_dir: Path, estate_rows: int) -> None:
    """The e2e estate in `data_dir` (its landing files, already generated) on PostgreSQL."""
    print(f"\nend to end on PostgreSQL, a {estate_rows:,}-row estate, one fresh process each")
    with bench_cluster() as cluster:
        if cluster is None:
            return
        with patch.dict(os.environ, STEWARD_WAREHOUSE="postgres",
                        STEWARD_PG_DSN=cluster.dsn("e2e_{store}")):
            governed = in_fresh_process(data_dir, "governed")
            os.environ["STEWARD_PG_DSN"] = cluster.dsn(DIRECT)
            direct = in_fresh_process(data_dir, "direct", module="bench.postgres_e2e")
    ratio = governed["seconds"] / direct["seconds"]
    print(f"  governed {governed['seconds']:.1f}s ({'ok' if governed['success'] else 'FAILED'})"
          f", the same SQL run directly {direct['seconds']:.1f}s → {ratio:.1f}x")
    print(f"  the direct run leaves out {LEFT_OUT}")


def _compiled_models(region: str) -> list[dict]:
    """The estate models compiled by dbt for PostgreSQL in the region's (empty) database,
    their relations unqualified by database (the direct run's are not dbt's)."""
    with postgres.write_connection(postgres_dsn(region)):
        pass  # dbt connects to it: made now, empty
    target, connection, database = postgres.dbt_connection(postgres_dsn(region))
    project_dir = get_settings().dbt_project_dir
    with tempfile.TemporaryDirectory(prefix="steward-compile-") as target_path:
        done = subprocess.run(
            [dbt_executable(), "compile", "--quiet", "--target", target, "--vars",
             json.dumps({"region": region}), "--project-dir", str(project_dir),
             "--profiles-dir", str(project_dir), "--target-path", target_path],
            env={**os.environ, **connection}, cwd=project_dir, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"dbt compile for PostgreSQL failed: {done.stdout[-3000:]}")
        models = estate_models(Path(target_path) / "manifest.json")
    prefix = re.escape(quote_ident(database) + ".")
    return [{**node, "compiled_code": re.sub(prefix, "", node["compiled_code"])}
            for node in models]


def _load_raw_tables(con: postgres.Connection, engine: duckdb.DuckDBPyConnection,
                     region: str) -> None:
    for spec in load_source_tables():
        select = raw_select(spec, get_settings().landing_dir, region)
        if select is None:
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(spec.schema)}")
        con.cursor.adbc_ingest(spec.table, engine.sql(select).to_arrow_reader(),
                               mode="create", db_schema_name=spec.schema)


def direct_run() -> dict:
    models = {region: _compiled_models(region) for region in region_names()}
    started = time.perf_counter()
    for region in region_names():
        with postgres.write_connection(postgres_dsn(region)) as con, \
                duckdb.connect() as engine:
            _load_raw_tables(con, engine, region)
            for node in models[region]:
                kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(node['schema'])}")
                con.execute(f"CREATE {kind} {qualified(node['schema'], node['alias'])} AS "
                            f"{node['compiled_code']}")
    return {"seconds": time.perf_counter() - started, "success": True, "stages": {}}


if __name__ == "__main__":
    if sys.argv[1] != "direct":
        raise SystemExit("usage: python -m bench.postgres_e2e direct")
    print(json.dumps({**direct_run(), "peak_rss_mib": 0.0}))
