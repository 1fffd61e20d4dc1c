"""Builds the policy engine's catalog from Steward's declarations: sources and the dbt manifest.

This is the only place that knows where governance metadata sits (dbt `meta`, source blocks);
the engine in `policies/` sees plain facts and lineage.
"""

from __future__ import annotations

import csv
import itertools
import re
from functools import cache
from pathlib import Path
from typing import Any

from orchestration.lib import consumer_models
from orchestration.lib.consumer_models import CONSUMER_MODELS, ConsumerModel
from orchestration.lib.dbt_manifest import (
    asset_key,
    dependency_order,
    existing_manifest,
    parents,
)
from orchestration.lib.governance.registry import GOVERNED_NODES, project_manifest
from orchestration.lib.lineage import KeptLineage, column_lineage
from orchestration.lib.settings import PROJECT_ROOT, get_settings
from orchestration.lib.sources import (
    SourceTable,
    load_source_tables,
    node_meta,
)
from policies.catalog import AssetFacts, Catalog, ColumnFacts
from policies.detection import scan
from policies.engine import DETECTED_LEVEL, Evaluation, evaluate
from policies.rules import load_rules

REGIONAL = "regional"
SEED_SAMPLE_ROWS = 500
LINEAGE_FILE = "column_lineage.json"  # beside the project's manifest


def _relative(path: Path) -> str:
    """A path as a person finds it in the repository (absolute when it lives elsewhere)."""
    for root in (PROJECT_ROOT, get_settings().dbt_project_dir.parent):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def source_facts(spec: SourceTable) -> AssetFacts:
    return AssetFacts(
        key=f"{spec.source}/{spec.table}",
        owner=spec.owner,
        retention=spec.retention,
        region=REGIONAL,  # every row is routed to its own region's store at ingest
        columns={c.name: ColumnFacts(c.name, c.classification, mask=c.mask, subject=c.subject)
                 for c in spec.columns},
        event_time=spec.event_time,
        declared_in=_relative(spec.declared_in),
    )


def dbt_source_facts(key: str, source: dict) -> AssetFacts:
    """A dbt source Steward does not load: its own telemetry (governed by its YAML block like
    any source, kept where its region says), or a source nobody declared for Steward (the
    policy then names what is missing instead of the asset going unseen)."""
    steward = {**(source.get("source_meta") or {}).get("steward", {}),
               **(node_meta(source).get("steward") or {})}
    return AssetFacts(
        key=key, owner=steward.get("owner"), retention=steward.get("retention"),
        region=steward.get("region"), pii=steward.get("pii"),
        columns={name: ColumnFacts(name, node_meta(column).get("classification"))
                 for name, column in (source.get("columns") or {}).items()},
        event_time=steward.get("event_time"),
        declared_in=_declared_in(source))


# What lets a model open storage past ref() and source(): attaching a database file, or reading
# files with DuckDB's table functions.
_DIRECT_READ = re.compile(r"\battach\b|\bread_(?:csv|parquet|json|ndjson|text|blob)\w*\s*\(|"
                          r"\.duckdb\b", re.IGNORECASE)


def _direct_reads(props: dict) -> tuple[str, ...]:
    """Direct storage access in a model's SQL or its hooks, as written."""
    config = props.get("config") or {}
    hooks = [hook.get("sql", "") if isinstance(hook, dict) else str(hook)
             for hook in (*(config.get("pre-hook") or []), *(config.get("post-hook") or []))]
    found = {match.group().strip().rstrip("(").strip().lower()
             for text in (props.get("raw_code", ""), *hooks)
             for match in _DIRECT_READ.finditer(text)}
    return tuple(sorted(found))


def _declared_in(props: dict) -> str:
    """Where a person declares a node's governance: its properties YAML when it has one (a
    seed's CSV holds data, not declarations), else its own file."""
    patch = (props.get("patch_path") or "").split("://", 1)[-1]
    return str(Path("dbt_project") / (patch or props.get("original_file_path", "")))


def _node_facts(key: str, props: dict, lineage: dict[str, set[tuple[str, str]]],
                asset_of_relation: dict[str, str], upstream: tuple[str, ...],
                detected: dict[str, str] | None = None, problem: str | None = None
                ) -> AssetFacts:
    """A model, snapshot or seed: its `meta.steward` (or the folder's), its columns with their
    lineage and declared classifications, and what a scan of its values found."""
    steward = node_meta(props).get("steward") or {}
    declared_columns = props.get("columns") or {}
    columns = {}
    for name, sources in lineage.items():
        meta = node_meta(declared_columns.get(name) or {})
        columns[name] = ColumnFacts(
            name=name,
            declared=meta.get("classification"),
            transform=meta.get("transform"),
            mask=meta.get("mask"),
            derived_from=tuple(sorted((asset_of_relation[rel], col) for rel, col in sources
                                      if rel in asset_of_relation)),
            detected=(detected or {}).get(name),
        )
    return AssetFacts(
        key=key,
        owner=steward.get("owner"),
        retention=steward.get("retention"),
        region=steward.get("region"),
        pii=steward.get("pii"),
        columns=columns,
        upstream=upstream,
        declared_in=_declared_in(props),
        contract=bool(((props.get("config") or {}).get("contract") or {}).get("enforced")),
        event_time=steward.get("event_time"),
        direct_reads=_direct_reads(props),
        stored=(props.get("config") or {}).get("materialized") not in ("view", "ephemeral"),
        problem=problem,
    )


def _seed_sample(props: dict, rows: int = SEED_SAMPLE_ROWS) -> dict[str, list[str]]:
    """The first rows of a seed's CSV, by column."""
    path = Path(props["root_path"]) / props["original_file_path"]
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        values: list[list[str]] = [[] for _ in header]
        for row in itertools.islice(reader, rows):
            for column, value in zip(values, row, strict=False):
                column.append(value)
    return dict(zip(header, values, strict=True))


def _seed_lineage(props: dict) -> tuple[dict[str, set], dict[str, str]]:
    """A seed derives from nothing; what its values hold is found by the PII detectors."""
    sample = _seed_sample(props)
    detected = {column: DETECTED_LEVEL for column, values in sample.items()
                if scan(values).detected}
    return {column: set() for column in sample}, detected


def _compiled_sql(props: dict) -> str:
    sql = props.get("compiled_code")
    if not sql:
        raise ValueError("the manifest holds no compiled SQL for it (made by `dbt parse`?); "
                         "`steward policy check` compiles the project")
    return sql


def consumer_model_facts(model: ConsumerModel) -> AssetFacts:
    """A consumer model's scores: owned by its team, stored per region like its inputs, each
    column classified through what it is derived from."""
    consumer = load_rules().consumers.get(model.consumer)
    return AssetFacts(
        key=model.key,
        owner=consumer.team if consumer else None,
        region=REGIONAL,
        columns={o.name: ColumnFacts(o.name, derived_from=o.derived_from) for o in model.outputs},
        upstream=tuple(model.inputs),
        declared_in=_relative(Path(consumer_models.__file__)),
    )


def build_catalog(manifest: dict[str, Any], sources: list[SourceTable],
                  consumer_models: tuple[ConsumerModel, ...] = (),
                  kept: KeptLineage | None = None) -> Catalog:
    """Every source table, dbt model and consumer model as engine facts, with column lineage
    between them (read from `kept` where it holds it)."""
    lineage_of = kept.column_lineage if kept else column_lineage
    assets: dict[str, AssetFacts] = {}
    asset_of_relation: dict[str, str] = {}
    schema: dict[str, dict[str, dict[str, str]]] = {}
    asset_of_unique_id: dict[str, str] = {}
    declared: set[str] = set()
    for spec in sources:
        facts = source_facts(spec)
        assets[facts.key] = facts
        asset_of_relation[f"{spec.schema}.{spec.table}"] = facts.key
        schema.setdefault(spec.schema, {})[spec.table] = {c.name: c.data_type
                                                          for c in spec.columns}
        unique_id = (f"source.{manifest['metadata'].get('project_name', 'steward')}."
                     f"{spec.source}.{spec.table}")
        asset_of_unique_id[unique_id] = facts.key
        declared.add(unique_id)
    for unique_id, source in manifest["sources"].items():
        key = asset_of_unique_id.setdefault(
            unique_id, f"{source['source_name']}/{source['name']}")
        if unique_id in declared:
            continue
        # Steward's telemetry, or a source nobody declared: governed by its YAML as it stands.
        assets[key] = dbt_source_facts(key, source)
        asset_of_relation[f"{source['schema']}.{source['name']}".lower()] = key
        if source.get("columns"):
            schema.setdefault(source["schema"], {})[source["name"]] = {
                name: column.get("data_type") or "VARCHAR"
                for name, column in source["columns"].items()}
    nodes = {uid: n for uid, n in manifest["nodes"].items()
             if n["resource_type"] in GOVERNED_NODES}
    for unique_id in dependency_order(nodes):
        props = nodes[unique_id]
        key = asset_key(props)
        asset_of_unique_id[unique_id] = key
        upstream = tuple(asset_of_unique_id[d] for d in parents(props)
                         if d in asset_of_unique_id)
        lineage, detected, problem = {}, {}, None
        # One node that cannot be read (no compiled SQL, SQL sqlglot cannot parse, an unreadable
        # seed) is blocked with the reason, whatever the cause; the other assets still load.
        try:
            if props["resource_type"] == "seed":
                lineage, detected = _seed_lineage(props)
            else:
                lineage = lineage_of(_compiled_sql(props), {"eu": schema} if schema else {})
        except Exception as error:
            problem = f"{type(error).__name__}: {error}".strip()[:500]
        assets[key] = _node_facts(key, props, lineage, asset_of_relation, upstream, detected,
                                  problem)
        asset_of_relation[f"{props['schema']}.{props['alias']}".lower()] = key
        if lineage:  # a table of unknown columns is left for sqlglot to treat as unknown
            schema.setdefault(props["schema"], {})[props["alias"]] = dict.fromkeys(lineage,
                                                                                   "VARCHAR")
    for model in consumer_models:
        assets[model.key] = consumer_model_facts(model)
    return Catalog(assets)


@cache
def project_catalog() -> Catalog:
    """The catalog of this project, from the compiled manifest and the source declarations;
    its column lineage kept beside the manifest for the next process."""
    kept = KeptLineage(existing_manifest().with_name(LINEAGE_FILE))
    catalog = build_catalog(project_manifest(), load_source_tables(), CONSUMER_MODELS, kept)
    kept.save()
    return catalog


@cache
def project_evaluation() -> Evaluation:
    return evaluate(load_rules(), project_catalog())


@cache
def country_columns() -> dict[str, str]:
    """Each asset's column holding the country its rows were routed by: a source's route_by
    column, or a model column derived from one."""
    found = {f"{s.source}/{s.table}": s.route_by for s in load_source_tables()}
    for asset in project_catalog().topological():
        routed = next((c.name for c in asset.columns.values()
                       if any(found.get(up) == col for up, col in c.derived_from)), None)
        if asset.key not in found and routed:
            found[asset.key] = routed
    return found
