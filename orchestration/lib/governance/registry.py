"""What this project holds, read once per process: the compiled dbt manifest, each asset's
relation in a store, each dbt node's unique id, and the dbt sources nobody declared.

Every module that needs to find an asset's table asks here; the policy's view of the same assets
is `policy_adapter.py`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.dbt_manifest import asset_key, existing_manifest
from orchestration.lib.sources import TELEMETRY_ORIGIN, load_source_tables

# The dbt resources Dagster makes assets of (ephemeral models are governed for their lineage).
GOVERNED_NODES = ("model", "seed", "snapshot")


def is_telemetry(source: dict) -> bool:
    return ((source.get("source_meta") or {}).get("steward") or {}).get("origin") == (
        TELEMETRY_ORIGIN)


@cache
def project_manifest() -> dict[str, Any]:
    """The compiled dbt manifest, read once per process."""
    return json.loads(existing_manifest().read_text())


@cache
def relations() -> dict[str, tuple[str, str]]:
    """Each asset key (as a string) → its (schema, table) in a region store."""
    manifest = project_manifest()
    found = {f"{s['source_name']}/{s['name']}": (s["schema"], s["name"])
             for s in manifest["sources"].values()}
    found |= {f"{spec.source}/{spec.table}": (spec.schema, spec.table)
              for spec in load_source_tables()}
    found |= {key: (manifest["nodes"][uid]["schema"], manifest["nodes"][uid]["alias"])
              for key, uid in dbt_unique_ids().items()}
    found |= {model.key: model.relation for model in CONSUMER_MODELS}
    return found


@cache
def dbt_unique_ids() -> dict[str, str]:
    """Each dbt model's, seed's and snapshot's asset key (as a string) → its dbt unique_id."""
    return {asset_key(node): unique_id for unique_id, node in project_manifest()["nodes"].items()
            if node["resource_type"] in GOVERNED_NODES}


def undeclared_sources() -> list[str]:
    """dbt sources nobody declared for Steward (not ingested, not telemetry): still assets."""
    ingested = {f"{spec.source}/{spec.table}" for spec in load_source_tables()}
    return sorted(key for source in project_manifest()["sources"].values()
                  if not is_telemetry(source)
                  and (key := f"{source['source_name']}/{source['name']}") not in ingested)
