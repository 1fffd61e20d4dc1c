"""dbt wiring: the project, its manifest, and a translator that reads governance `meta`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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

from orchestration.lib import dbt_in_process, file_state
from orchestration.lib.dbt_in_process import InProcessBuild
from orchestration.lib.dbt_parsed import (
    compile_folder,
    compile_invocation,
    compiling,
    project_state,
)
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import node_meta

LAYERS = ("staging", "intermediate", "marts", "platform")
# The platform metrics read Steward's telemetry in the global store, not a region's estate.
PLATFORM_MODELS = "models/platform"


def is_platform(node: Mapping[str, Any]) -> bool:
    """Whether a manifest node (a model or its test) belongs to the platform metrics."""
    return node["original_file_path"].startswith(f"{PLATFORM_MODELS}/")


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a venv works without being activated."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def _compile_state(project_dir: Path, options: list[str]) -> str:
    """What a compile reads: the project's files, dbt's own settings, its `options` and the
    installed packages (the STEWARD_ settings its profile reads are fixed to the scratch
    store)."""
    return project_state(project_dir, [*options, *file_state.installed()])


def _stamp(state: str, manifest: Path) -> str:
    """The project's state with the manifest compiled from it: another tool writing a manifest
    there (sqlfluff's dbt templater does) makes the next run compile again."""
    found = manifest.stat() if manifest.exists() else None
    return f"{state} {found.st_size}:{found.st_mtime_ns}" if found else "no manifest"


def parse_dbt_project() -> DbtProject:
    """`dbt compile` so the manifest matches the models on disk and carries compiled SQL,
    which column lineage is read from. It runs against an empty scratch store, never a real one,
    and only when the project changed since the manifest was compiled.

    Compiles are serialized across processes and the new manifest replaces the old one in one
    rename, so a run or test reading the manifest never sees it half written.
    """
    project_dir = Path(get_settings().dbt_project_dir)
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    compiled_from = project.manifest_path.parent / "manifest.state"
    options, environment = compile_invocation(project_dir)
    with compiling(project_dir):
        state = _compile_state(project_dir, options)
        if compiled_from.exists() and compiled_from.read_text(encoding="utf-8") == (
                _stamp(state, project.manifest_path)):
            return project
        done = subprocess.run(
            [dbt_executable(), "compile", "--quiet", *options],
            env={**os.environ, **environment}, cwd=project_dir, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dbt compile failed:\n{done.stdout[-4000:]}"
                               f"{done.stderr[-2000:]}")
        os.replace(compile_folder(project_dir) / "manifest.json", project.manifest_path)
        compiled_from.write_text(_stamp(state, project.manifest_path), encoding="utf-8")
    return project


def dbt_project() -> DbtProject:
    """The project, parsed first when no manifest exists yet (a fresh clone)."""
    project_dir = get_settings().dbt_project_dir
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    return project if project.manifest_path.exists() else parse_dbt_project()


def parents(node: Mapping[str, Any]) -> list[str]:
    """The unique_ids a manifest node depends on (a seed depends on none and says so by
    omission)."""
    return (node.get("depends_on") or {}).get("nodes") or []


def dependency_order(nodes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """unique_ids of manifest nodes, every node after the nodes it depends on."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(unique_id: str) -> None:
        if unique_id in seen or unique_id not in nodes:
            return
        seen.add(unique_id)
        for parent in parents(nodes[unique_id]):
            visit(parent)
        order.append(unique_id)

    for unique_id in sorted(nodes):
        visit(unique_id)
    return order


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
