"""Platform metrics: telemetry collected into the global store, then the dbt models over it.

`platform/...` models are built by `platform_models` (defs/transform); here the telemetry they
read, collected after every `steward run` and hourly, so daemon-launched runs count too.
"""

import dagster as dg

from orchestration.defs.transform.assets import platform_models
from orchestration.lib.deployment.queue import GLOBAL_POOL, lane_tags
from orchestration.lib.governance.policy_adapter import is_telemetry, project_manifest
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.operations.cpu import CpuClock
from orchestration.lib.operations.telemetry import collect
from orchestration.lib.sources import node_meta

GROUP = "platform"


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


@dg.multi_asset(specs=_telemetry_specs(), name="collect_telemetry", pool=GLOBAL_POOL)
def telemetry(context: dg.AssetExecutionContext):
    """Dagster's history, quality results, audit log and alerts → the global store."""
    clock = CpuClock()
    # The whole code location's graph, not this run's subset: every asset and check counts.
    from orchestration.definitions import defs

    counts = collect(context.instance, defs.resolve_asset_graph())
    cpu_seconds = clock.seconds()
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata={
            "dagster/row_count": counts[key.path[-1]],
            CPU_SECONDS: round(cpu_seconds / len(context.selected_asset_keys), 3)})


platform_schedule = dg.ScheduleDefinition(
    name="platform_metrics_hourly", target=[*telemetry.keys, *platform_models.keys],
    cron_schedule="30 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
    tags=lane_tags(),
    description="Collect telemetry and rebuild the platform metrics, so runs launched by the "
                "daemon count too.")
