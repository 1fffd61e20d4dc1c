"""Policy engine at scale, and Dagster definitions load time with many declared sources.

1. evaluation + column propagation over a synthetic graph of ASSETS assets x COLUMNS columns
   (target ≤ 1 s);
2. `orchestration.definitions` loaded in a fresh process with SOURCES extra declared source
   tables (target ≤ 10 s).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from orchestration.lib.dbt_manifest import compile_manifest
from orchestration.lib.settings import get_settings
from policies.catalog import AssetFacts, Catalog, ColumnFacts
from policies.engine import evaluate
from policies.rules import load_rules

LEVELS = ["none", "none", "none", "pseudonymous", "personal"]


def synthetic_catalog(assets: int, columns: int, sources: int, seed: int = 1) -> Catalog:
    """Layered DAG: `sources` roots, then models reading 1 to 3 earlier assets."""
    rng = random.Random(seed)
    graph: dict[str, AssetFacts] = {}
    keys: list[str] = []
    for i in range(assets):
        key = f"layer{i // 1000}/asset_{i}"
        if i < sources:
            cols = {f"c{j}": ColumnFacts(f"c{j}", rng.choice(LEVELS)) for j in range(columns)}
            facts = AssetFacts(key, owner="team", retention=rng.choice(["90d", "2y", "7y"]),
                               region="regional", columns=cols)
        else:
            upstream = tuple(rng.sample(keys[max(0, len(keys) - 2000):], rng.randint(1, 3)))
            cols = {}
            for j in range(columns):
                derived = tuple((rng.choice(upstream), f"c{rng.randrange(columns)}")
                                for _ in range(rng.randint(1, 2)))
                transform = "keyed_hash" if rng.random() < 0.05 else None
                cols[f"c{j}"] = ColumnFacts(f"c{j}", None, transform, derived)
            facts = AssetFacts(key, owner="team", upstream=upstream, columns=cols)
        graph[key] = facts
        keys.append(key)
    return Catalog(graph)


def bench_evaluation(assets: int = 10_000, columns: int = 50) -> None:
    catalog = synthetic_catalog(assets, columns, sources=assets // 10)
    rules = load_rules()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        evaluation = evaluate(rules, catalog)
        best = min(best, time.perf_counter() - started)
    print(f"policy evaluation + propagation, {assets:,} assets x {columns} columns: "
          f"{best:.2f}s best of 3 (target ≤ 1 s); {len(evaluation.violations):,} violations")


def project_with_sources(root: Path, count: int) -> Path:
    project = root / "dbt_project"
    shutil.copytree(get_settings().dbt_project_dir, project,
                    ignore=shutil.ignore_patterns("target", "logs"))
    folder = project / "models" / "staging" / "bulk"
    folder.mkdir(parents=True)
    tables = [{
        "name": f"table_{i}",
        "config": {"meta": {"steward": {"format": "parquet", "primary_key": "id",
                                        "route_by": "country", "retention": "2y",
                                        "event_time": "updated_at"}}},
        "columns": [{"name": "id", "data_type": "BIGINT"},
                    {"name": "country", "data_type": "VARCHAR"},
                    {"name": "updated_at", "data_type": "TIMESTAMP"},
                    {"name": "email", "data_type": "VARCHAR",
                     "config": {"meta": {"classification": "personal"}}}],
    } for i in range(count)]
    document = {"version": 2, "sources": [{
        "name": "bulk", "schema": "raw_bulk",
        "config": {"meta": {"steward": {"owner": "bulk-team"}}}, "tables": tables}]}
    (folder / "_bulk__sources.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    return project


def bench_definitions_load(root: Path, sources: int = 1000) -> None:
    project = project_with_sources(root, sources)
    env = {**os.environ, "STEWARD_DBT_PROJECT_DIR": str(project)}
    os.environ["STEWARD_DBT_PROJECT_DIR"] = str(project)
    compile_manifest()
    del os.environ["STEWARD_DBT_PROJECT_DIR"]
    code = ("import time; started = time.perf_counter(); "
            "from orchestration.definitions import defs; "
            "n = len(defs.resolve_asset_graph().get_all_asset_keys()); "
            "print(f'{time.perf_counter() - started:.2f} {n}')")
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True).stdout.split()
    print(f"Dagster definitions load with {sources:,} extra declared sources "
          f"({output[1]} assets): {float(output[0]):.2f}s (target ≤ 10 s)")
