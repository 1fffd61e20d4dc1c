"""The dbt project's manifest, compiled and read without Dagster or dagster-dbt.

The policy, the registry of relations and every command that reads the project but runs
nothing (`steward policy check`, `audit`, `erase`, `lineage export`, …) need only the manifest
and each node's asset key; importing dagster-dbt for them would cost each about two seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestration.lib import file_state
from orchestration.lib.dbt_parsed import (
    compile_folder,
    compile_invocation,
    compiling,
    project_state,
)
from orchestration.lib.settings import get_settings

MANIFEST = Path("target") / "manifest.json"  # under dbt_project.yml's `target-path`
# The platform metrics read Steward's telemetry in the global store, not a region's estate.
PLATFORM_MODELS = "models/platform"


def is_platform(node: Mapping[str, Any]) -> bool:
    """Whether a manifest node (a model or its test) belongs to the platform metrics."""
    return node["original_file_path"].startswith(f"{PLATFORM_MODELS}/")


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a venv works without being activated."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def manifest_path() -> Path:
    return Path(get_settings().dbt_project_dir) / MANIFEST


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


def compile_manifest() -> Path:
    """`dbt compile` so the manifest matches the models on disk and carries compiled SQL,
    which column lineage is read from; the manifest's path. It runs against an empty scratch
    store, never a real one, and only when the project changed since the manifest was compiled.

    Compiles are serialized across processes and the new manifest replaces the old one in one
    rename, so a run or test reading the manifest never sees it half written.
    """
    project_dir = Path(get_settings().dbt_project_dir)
    manifest = manifest_path()
    compiled_from = manifest.with_name("manifest.state")
    options, environment = compile_invocation(project_dir)
    with compiling(project_dir):
        state = _compile_state(project_dir, options)
        if compiled_from.exists() and compiled_from.read_text(encoding="utf-8") == (
                _stamp(state, manifest)):
            return manifest
        done = subprocess.run(
            [dbt_executable(), "compile", "--quiet", *options],
            env={**os.environ, **environment}, cwd=project_dir, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dbt compile failed:\n{done.stdout[-4000:]}"
                               f"{done.stderr[-2000:]}")
        os.replace(compile_folder(project_dir) / "manifest.json", manifest)
        compiled_from.write_text(_stamp(state, manifest), encoding="utf-8")
    return manifest


def existing_manifest() -> Path:
    """The manifest, compiled first when there is none yet (a fresh clone)."""
    manifest = manifest_path()
    return manifest if manifest.exists() else compile_manifest()


def asset_key_path(node: Mapping[str, Any]) -> list[str]:
    """The Dagster asset key of a manifest node, as dagster-dbt's translator keys it by
    default: the key its `meta.dagster.asset_key` sets; a source's name and table; a versioned
    model's alias; otherwise the schema configured on the node (if any) and its name."""
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    if configured := (meta.get("dagster") or {}).get("asset_key"):
        return list(configured)
    if node["resource_type"] == "source":
        return [node["source_name"], node["name"]]
    if node.get("version"):
        return [node["alias"]]
    schema = node["config"].get("schema")
    return [schema, node["name"]] if schema is not None else [node["name"]]


def asset_key(node: Mapping[str, Any]) -> str:
    """A manifest node's asset key as Dagster prints it (`marts/customer_features`)."""
    return "/".join(asset_key_path(node))


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
