"""Platform metrics: telemetry collected into the global store, then the dbt models over it.

`platform/...` models are built by `platform_models` (defs/transform); here the telemetry they
read, collected after every `steward run` and hourly (schedules.py), so daemon-launched runs
count too. Each telemetry table's policy check and quality suites run in the step that
collects it, as an ingest asset's do: all nine tables are written at once, so a step per
check (18 of them) would add Dagster's cost of a step each, and a Celery round trip each in a
deployment, and judge nothing more.
"""

from collections.abc import Iterator

import dagster as dg

from orchestration.lib.deployment.queue import GLOBAL_POOL
from orchestration.lib.governance.policy_checks import evaluate_policy, policy_check_spec
from orchestration.lib.governance.registry import is_telemetry, project_manifest, relations
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.operations.cpu import CpuClock, timed_check
from orchestration.lib.operations.telemetry import collect
from orchestration.lib.partitions import stores_keeping
from orchestration.lib.quality.checks import quality_check_specs, run_suite
from orchestration.lib.quality.suites import suites_for
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


def _check_specs() -> list[dg.AssetCheckSpec]:
    return [spec for asset in _telemetry_specs()
            for spec in (policy_check_spec(asset.key), *quality_check_specs(asset.key))]


def _checked(key: dg.AssetKey, run_id: str) -> Iterator[dg.AssetCheckResult]:
    """Every check of one telemetry table, each with the CPU time it took. A run cannot leave
    one out: the multi-asset is not subsettable, so Dagster selects all of them or refuses."""
    name = key.to_user_string()
    relation, stores = relations()[name], stores_keeping(name)
    yield timed_check(lambda: evaluate_policy(key, relation, stores))
    for suite in suites_for(name):
        yield timed_check(lambda suite=suite: run_suite(key, suite, relation, stores, run_id))


@dg.multi_asset(specs=_telemetry_specs(), check_specs=_check_specs(), name="collect_telemetry",
                pool=GLOBAL_POOL, required_resource_keys={ASSET_GRAPH})
def telemetry(context: dg.AssetExecutionContext):
    """Dagster's history, quality results, audit log and alerts → the global store, each
    table then checked."""
    clock = CpuClock()
    # The whole code location's graph, not this run's subset: every asset and check counts.
    counts = collect(context.instance, getattr(context.resources, ASSET_GRAPH))
    cpu_seconds = clock.seconds()
    for key in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata={
            "dagster/row_count": counts[key.path[-1]],
            CPU_SECONDS: round(cpu_seconds / len(context.selected_asset_keys), 3)},
            check_results=list(_checked(key, context.run.run_id)))
