"""`dbt build` of the estate's models vs the same compiled SQL run directly in DuckDB.

Both run on identical copies of one region's store after a governed ingest of the sample
estate. The difference is dbt's overhead: process start, parse, adapter, per-node bookkeeping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import duckdb

from orchestration.lib.dbt_manifest import (
    PLATFORM_MODELS,
    dbt_executable,
    dependency_order,
    is_platform,
)
from orchestration.lib.settings import get_settings

REGION = "eu"


def _dbt(args: list[str], store_dir: Path, target_path: Path) -> float:
    project_dir = get_settings().dbt_project_dir
    env = {**os.environ, "STEWARD_STORE_DIR": str(store_dir)}
    started = time.perf_counter()
    subprocess.run([dbt_executable(), *args, "--vars", json.dumps({"region": REGION}),
                    "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
                    "--target-path", str(target_path), "--quiet"],
                   env=env, check=True, cwd=project_dir)
    return time.perf_counter() - started


def _run_directly(manifest: dict, database: Path) -> float:
    with duckdb.connect(str(database)) as con:
        started = time.perf_counter()
        nodes = {uid: n for uid, n in manifest["nodes"].items()
                 if n["resource_type"] in ("model", "test") and not is_platform(n)}
        for node in (nodes[uid] for uid in dependency_order(nodes)):
            sql = node["compiled_code"]
            if node["resource_type"] == "test":
                con.execute(f"SELECT count(*) FROM ({sql})").fetchall()
                continue
            kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {node['schema']}")
            con.execute(f"CREATE OR REPLACE {kind} {node['schema']}.{node['alias']} AS {sql}")
        return time.perf_counter() - started


def compare(store_dir: Path, scratch: Path) -> dict[str, float]:
    """Seconds for `dbt build` and for the same SQL run directly, on copies of one store."""
    dbt_dir, direct_dir = scratch / "dbt-store", scratch / "direct-store"
    for folder in (dbt_dir, direct_dir):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(store_dir / f"{REGION}.duckdb", folder / f"{REGION}.duckdb")
    target = scratch / "dbt-target"
    _dbt(["compile"], dbt_dir, target)
    manifest = json.loads((target / "manifest.json").read_text())
    dbt_seconds = _dbt(["build", "--exclude", f"path:{PLATFORM_MODELS}"], dbt_dir, target)
    direct_seconds = _run_directly(manifest, direct_dir / f"{REGION}.duckdb")
    return {"dbt_build_s": dbt_seconds, "direct_sql_s": direct_seconds}
