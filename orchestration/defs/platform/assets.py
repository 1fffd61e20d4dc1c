"""Platform metrics: telemetry collected into the global store, then the dbt models over it.

`platform/...` models are built by `platform_models` (defs/transform); here the telemetry they
read, collected after every `steward run` and hourly (schedules.py), so daemon-launched runs
count too.
"""

import dagster as dg

from orchestration.lib.deployment.queue import GLOBAL_POOL
from orchestration.lib.governance.registry import is_telemetry, project_manifest
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.operations.cpu import CpuClock
from orchestration.lib.operations.telemetry import collect
from orchestration.lib.sources import node_meta

GROUP = "platform"
ASSET_GRAPH = "asset_graph"  # the resource holding the code location's whole asset graph


def _telemetry_specs() -> list[dg.AssetSpec]:
    """One asset per telemetry table declared in models/platform/_platform__sources.yml."""
    return [
        dg.AssetSpec(
            dg.AssetKey([source["source_name"], source["name"]]),
            group_name=GROUP,
            description=source.get("description"),
            owners=owners(source["source_meta"]["steward"]["owner"]),
            kinds={"duckdb", "dagster"},
            metadata={"dagster/column_schema": column_schema(
                (name, column.get("data_type") or "", column.get("description") or "",
                 node_meta(column).get("classification", "none"))
                for name, column in source["columns"].items())},
        )
        for source in sorted(project_manifest()["sources"].values(), key=lambda s: s["name"])
        if is_telemetry(source)
    ]


@dg.multi_asset(specs=_telemetry_specs(), name="collect_telemetry", pool=GLOBAL_POOL,
                required_resource_keys={ASSET_GRAPH})
def telemetry(context: dg.AssetExecutionContext):
    """Dagster's history, quality results, audit log and alerts → the global store."""
    clock = CpuClock()
    # The whole code location's graph, not this run's subset: every asset and check counts.
    counts = collect(context.instance, getattr(context.resources, ASSET_GRAPH))
    cpu_seconds = clock.seconds()
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata={
            "dagster/row_count": counts[key.path[-1]],
            CPU_SECONDS: round(cpu_seconds / len(context.selected_asset_keys), 3)})
