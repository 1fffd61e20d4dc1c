"""dbt wiring for Dagster: the project as dagster-dbt sees it, its in-process builds, and a
translator that reads governance `meta` (the manifest itself: dbt_manifest.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
)

from orchestration.lib import dbt_in_process
from orchestration.lib.dbt_in_process import InProcessBuild
from orchestration.lib.dbt_manifest import asset_key_path, existing_manifest
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import node_meta

LAYERS = ("staging", "intermediate", "marts", "platform")


def dbt_project() -> DbtProject:
    """The project, its manifest compiled first when there is none yet (a fresh clone)."""
    existing_manifest()
    project_dir = get_settings().dbt_project_dir
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


class StewardDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource, whose `build` runs dbt in this process (dbt_in_process.py),
    where its `cli` starts a dbt process for every command."""

    def build(self, args: Sequence[str], context: dg.AssetExecutionContext,
              target_path: Path, target: str, database: str) -> InProcessBuild:
        """The dbt command `args` for the assets `context` selected, run in this process."""
        return dbt_in_process.build(self.profiles_dir or self.project_dir, args, context,
                                    target_path, target, database)


class StewardDbtTranslator(DagsterDbtTranslator):
    """Owners and column classifications come from each node's `meta`, never from its name."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_code_references=False))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """The key the policy and the registry know the node by, without this translator."""
        return dg.AssetKey(asset_key_path(dbt_resource_props))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str,
                       project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if props.get("resource_type") != "model":
            return spec
        layer = next((part for part in props.get("fqn", []) if part in LAYERS), "models")
        columns = props.get("columns") or {}
        schema = column_schema(
            (name, column.get("data_type") or "", column.get("description") or "",
             node_meta(column).get("classification", "none"))
            for name, column in columns.items()
        )
        team = (node_meta(props).get("steward") or {}).get("owner")
        return spec.replace_attributes(
            group_name=layer,
            owners=owners(team) if team else spec.owners,
        ).merge_attributes(metadata={"dagster/column_schema": schema} if columns else {})
