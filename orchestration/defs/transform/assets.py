"""The dbt project as Dagster assets: one `dbt build` per run, in the run's region store; the
platform metrics (models/platform) in the global store."""

import json
import os
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import dbt_assets

from orchestration.lib.dbt import (
    StewardDbtCliResource,
    StewardDbtTranslator,
    dbt_project,
)
from orchestration.lib.dbt_manifest import PLATFORM_MODELS
from orchestration.lib.deployment.queue import GLOBAL_POOL, MODELS_POOL
from orchestration.lib.governance.database_grants import rebuilding, restore
from orchestration.lib.governance.policy_adapter import country_columns, project_evaluation
from orchestration.lib.governance.policy_checks import BLOCKED_METADATA
from orchestration.lib.governance.registry import dbt_unique_ids, project_manifest
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.operations.cpu import CpuClock
from orchestration.lib.partitions import region_partitions
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import (
    dbt_connection,
    locked,
    qualified,
    reader,
    replace_table,
    store_path,
    write_connection,
)
from policies.regions import GLOBAL_REGION
from policies.rules import load_rules

PLATFORM_SELECTION = f"path:{PLATFORM_MODELS}"
DBT_DURATION = "Execution Duration"
_project = dbt_project()
_translator = StewardDbtTranslator()


def _prepare_store(region: str) -> list[str]:
    """Write what the dbt build reads from Steward into the store of `region` (or the global
    store): this run's policy verdicts and residency facts for the gates, and Steward's clock
    for the models' as_of(); returns the blocked models."""
    model_ids = dbt_unique_ids()
    blocked = [(model_ids[v.asset], v.asset, f"{v.rule} {v.where()}: {v.message}")
               for v in project_evaluation().violations if v.asset in model_ids]
    with write_connection(store_path(region)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS _steward")
        replace_table(con, "_steward.policy_verdicts",
                      "(unique_id VARCHAR, asset VARCHAR, reason VARCHAR)")
        if blocked:
            con.executemany("INSERT INTO _steward.policy_verdicts VALUES (?, ?, ?)", blocked)
        # What the residency post-hook checks each built table against.
        replace_table(con, "_steward.residency_columns",
                      "(unique_id VARCHAR, country_column VARCHAR)")
        con.executemany("INSERT INTO _steward.residency_columns VALUES (?, ?)",
                        [(uid, column) for key, column in country_columns().items()
                         if (uid := model_ids.get(key))])
        # Steward's clock, which the models' as_of() reads: a var would change every run, and
        # a changed var makes dbt parse the whole project again.
        replace_table(con, "_steward.clock", "(now TIMESTAMP)")
        con.execute("INSERT INTO _steward.clock VALUES (CAST(? AS TIMESTAMP))", [current_time()])
        replace_table(con, "_steward.region_countries", "(country VARCHAR)")
        countries = [c for c, r in load_rules().country_regions.items() if r == region]
        if countries:
            con.executemany("INSERT INTO _steward.region_countries VALUES (?)",
                            [(country,) for country in countries])
    return sorted({asset for _, asset, _ in blocked})


def _blocked_observations(results: list[dict], region: str) -> Iterator[dg.AssetObservation]:
    keys = {uid: dg.AssetKey.from_user_string(key) for key, uid in dbt_unique_ids().items()}
    for result in results:
        key = keys.get(result["unique_id"])
        if key is None or result["status"] not in ("error", "skipped"):
            continue
        message = " ".join((result.get("message") or "").split())
        # dbt appends the macro call chain after " > "; the policy's own words come before it.
        reason = (message[message.find("blocked by policy"):].split(" > ")[0]
                  if result["status"] == "error"
                  else "skipped: an upstream model was blocked by policy")
        yield dg.AssetObservation(asset_key=key, partition=region,
                                  metadata={BLOCKED_METADATA: reason})


def _with_counts(events: list, region: str, cpu_seconds: float) -> Iterator:
    """dbt has finished and released the store: count each built relation's rows, and give
    each model its share of the build's CPU time (by dbt's timing of it)."""
    nodes = project_manifest()["nodes"]
    outputs = [event for event in events if isinstance(event, dg.Output)]
    durations = {id(event): float(event.metadata[DBT_DURATION].value) for event in outputs
                 if DBT_DURATION in event.metadata}
    timed = sum(durations.values())
    with reader(store_path(region)) as con:
        for event in events:
            unique_id = event.metadata.get("unique_id") if isinstance(event, dg.Output) else None
            node = nodes.get(str(unique_id.value)) if unique_id else None
            if node and node.get("resource_type") == "model":
                relation = qualified(node["schema"], node["alias"])
                rows = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
                share = durations.get(id(event), 0) / timed if timed else 1 / len(outputs)
                event = event.with_metadata({**event.metadata, "dagster/row_count": rows,
                                             CPU_SECONDS: round(cpu_seconds * share, 3)})
            yield event


def _tests_reading_models_outside(results: list[dict], built: set[str]) -> set[str]:
    """The tests that could not run (an error, not a failure) and read a model outside `built`,
    the models of this run: a relationships test of a model automation rebuilt alone reads a
    model that may not exist yet in a new store. It is judged when both are built."""
    nodes = project_manifest()["nodes"]
    return {r["unique_id"] for r in results
            if r["status"] == "error" and r["unique_id"] in nodes
            and nodes[r["unique_id"]]["resource_type"] == "test"
            and any(parent.startswith("model.") and parent not in built
                    for parent in nodes[r["unique_id"]]["depends_on"]["nodes"])}


def _enforce_grants(context: dg.AssetExecutionContext, region: str) -> None:
    """Give the region's database back exactly the grants the policy implies: the build just
    dropped every rebuilt table with its grants and masking views. Grants found beyond the
    policy were given by hand; they are taken back and alerted on."""
    enforced = restore(region)
    if enforced.beyond_policy:
        context.log.error(f"{enforced.database} granted beyond the policy, now taken back: "
                          + "; ".join(enforced.beyond_policy))


def _build(context: dg.AssetExecutionContext, dbt: StewardDbtCliResource, region: str) -> Iterator:
    """`dbt build` of the selected models in one store, each model gated by the policy."""
    settings = get_settings()
    target, connection, database = dbt_connection(store_path(region))
    os.environ.update(connection)  # dbt reads its connection from the environment
    blocked = _prepare_store(region)
    if blocked:
        context.log.error(f"blocked by policy, with everything downstream: {', '.join(blocked)}; "
                          "run `steward policy check` for the reasons")
    clock = CpuClock()
    with locked(store_path(region)), rebuilding(region):
        invocation = dbt.build(["build", "--vars", json.dumps({"region": region})],
                               context=context, target_path=settings.dbt_target(region),
                               target=target, database=database)
        events = list(invocation.stream())
        succeeded = invocation.is_successful()
        # Read under the lock: the next build of this store writes the same folder.
        results = [] if succeeded else invocation.get_artifact("run_results.json")["results"]
        if settings.warehouse == "postgres":
            _enforce_grants(context, region)
    yield from _with_counts(events, region, clock.seconds())
    if succeeded:
        return
    ids = dbt_unique_ids()
    failed = {r["unique_id"] for r in results if r["status"] in ("error", "fail")}
    gated = {ids[asset] for asset in blocked} | {
        r["unique_id"] for r in results if "blocked by policy" in (r.get("message") or "")}
    unjudged = _tests_reading_models_outside(results, {
        ids[key.to_user_string()] for key in context.selected_asset_keys
        if key.to_user_string() in ids})
    if unjudged:
        context.log.warning("not judged in this run, as they read a model it did not build "
                            f"(and could not read it): {', '.join(sorted(unjudged))}")
    failed -= unjudged
    if not failed <= gated:
        raise dg.Failure(f"dbt build failed in region {region}: {', '.join(sorted(failed))}")
    # Only the policy gate stopped models: say so on each of them, and on what it held back.
    yield from _blocked_observations(results, region)


@dbt_assets(
    manifest=_project.manifest_path,
    project=_project,
    dagster_dbt_translator=_translator,
    partitions_def=region_partitions(),
    exclude=PLATFORM_SELECTION,
    pool=MODELS_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: StewardDbtCliResource) -> Iterator:
    yield from _build(context, dbt, context.partition_key)


@dbt_assets(
    manifest=_project.manifest_path,
    project=_project,
    dagster_dbt_translator=_translator,
    select=PLATFORM_SELECTION,
    name="platform_models",
    pool=GLOBAL_POOL,
)
def platform_models(context: dg.AssetExecutionContext, dbt: StewardDbtCliResource) -> Iterator:
    yield from _build(context, dbt, GLOBAL_REGION)
