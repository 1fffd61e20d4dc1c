"""Steward's lineage as OpenLineage run events (JSON lines), for any OpenLineage consumer.

One COMPLETE run event per asset and region: the job is the asset, its output the asset's table
in that region's store, its inputs the tables it reads. Output datasets carry the schema, the
column lineage, the ownership and the effective classification of every column as tags; each
input carries its latest data-quality results (the assertions facet is an input facet in the
spec). Built from the policy catalog and the stores; it needs no Dagster run to exist.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from pathlib import Path

from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.registry import relations
from orchestration.lib.quality.history import HISTORY_TABLE
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    exists,
    lineage_address,
    reader,
    rows_if_present,
    store_path,
)
from policies.regions import every_store

PRODUCER = "https://github.com/steward-data/steward"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
FACETS = "https://openlineage.io/spec/facets"
JOB_NAMESPACE = "steward"
_FACET_VERSIONS = {"SchemaDatasetFacet": "1-2-0", "ColumnLineageDatasetFacet": "1-2-0",
                   "TagsDatasetFacet": "1-0-0", "OwnershipDatasetFacet": "1-0-1",
                   "DataQualityAssertionsDatasetFacet": "1-1-0"}


def _facet(name: str, **body) -> dict:
    return {"_producer": PRODUCER,
            "_schemaURL": f"{FACETS}/{_FACET_VERSIONS[name]}/{name}.json#/$defs/{name}",
            **body}


def _dataset(region: str, asset: str) -> dict[str, str]:
    """An asset's dataset in the region's store, named as OpenLineage names the engine's."""
    namespace, prefix = lineage_address(store_path(region))
    return {"namespace": namespace, "name": prefix + _dataset_name(asset)}


def _dataset_name(asset: str) -> str:
    return ".".join(relations()[asset])


def _column_types(region: str) -> dict[str, dict[str, str]]:
    """Stored column types per (schema.table) in one region's store."""
    path = store_path(region)
    if not exists(path):
        return {}
    types: dict[str, dict[str, str]] = {}
    with reader(path) as con:
        for schema, table, column, kind in con.execute(
                "SELECT table_schema, table_name, column_name, data_type FROM "
                "information_schema.columns WHERE table_catalog = current_database() "
                "ORDER BY ordinal_position").fetchall():
            types.setdefault(f"{schema}.{table}", {})[column] = kind
    return types


def _quality(region: str) -> dict[str, list[dict]]:
    """The latest result of every expectation per asset in one region."""
    schema, table = HISTORY_TABLE.split(".")
    rows = rows_if_present(
        store_path(region), table,
        "SELECT asset, expectation, success, severity FROM (SELECT *, row_number() OVER "
        "(PARTITION BY asset, expectation ORDER BY validated_at DESC) AS latest FROM "
        f"{HISTORY_TABLE}) AS ranked WHERE latest = 1 ORDER BY asset, expectation",
        schema=schema)
    found: dict[str, list[dict]] = {}
    for asset, expectation, success, severity in rows:
        found.setdefault(asset, []).append(
            {"assertion": expectation, "success": bool(success), "severity": severity})
    return found


def _output_facets(asset: str, types: dict[str, str], region: str) -> dict:
    facts = project_catalog().assets[asset]
    tags = project_evaluation().effective[asset]
    facets = {
        "schema": _facet("SchemaDatasetFacet", fields=[
            {"name": name, "type": types.get(name, "unknown"), "ordinal_position": i}
            for i, name in enumerate(tags.columns, start=1)]),
        "tags": _facet("TagsDatasetFacet", tags=[
            {"key": "classification", "value": column.level, "field": name, "source": "STEWARD"}
            for name, column in tags.columns.items()] + [
            {"key": key, "value": str(value), "source": "STEWARD"}
            for key, value in (("retention", tags.retention), ("region", tags.region),
                               ("pii", tags.pii)) if value]),
    }
    if tags.owner:
        facets["ownership"] = _facet("OwnershipDatasetFacet",
                                     owners=[{"name": f"team:{tags.owner}", "type": "OWNER"}])
    lineage = {name: column.derived_from for name, column in facts.columns.items()
               if column.derived_from}
    if lineage:  # a model reads its own region's store, so its inputs are in that namespace
        facets["columnLineage"] = _facet("ColumnLineageDatasetFacet", fields={
            name: {"inputFields": [{**_dataset(region, up), "field": field}
                                   for up, field in sources if up in relations()]}
            for name, sources in lineage.items()})
    return facets


def lineage_events() -> list[dict]:
    """Run events for every stored asset built in a region's store or the global one."""
    now = current_time().replace(tzinfo=UTC).isoformat()
    catalog = project_catalog()
    events = []
    for region in every_store():
        types = _column_types(region)
        quality = _quality(region)
        for asset in catalog.topological():
            name = _dataset_name(asset.key) if asset.key in relations() else None
            if name is None or name not in types:
                continue
            facets = _output_facets(asset.key, types[name], region)
            inputs = []
            for up in asset.upstream:
                if up not in relations():
                    continue
                dataset = _dataset(region, up)
                if quality.get(up):
                    dataset["inputFacets"] = {"dataQualityAssertions": _facet(
                        "DataQualityAssertionsDatasetFacet", assertions=quality[up])}
                inputs.append(dataset)
            events.append({
                "eventType": "COMPLETE", "eventTime": now, "producer": PRODUCER,
                "schemaURL": f"{SPEC}#/$defs/RunEvent",
                "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                f"{asset.key}/{region}/{now}"))},
                "job": {"namespace": JOB_NAMESPACE, "name": f"{asset.key}[{region}]"},
                "inputs": inputs,
                "outputs": [{**_dataset(region, asset.key), "facets": facets}],
            })
    return events


def export_events(target: Path) -> int:
    events = lineage_events()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, sort_keys=True) + "\n")
    return len(events)
