"""The main job: ingest every region in one pass, then build each region's dbt models.

Used by `steward run` (and so `make run`); the same assets run from the UI and the sensors.
Embedded, runs execute in this process and go to the Dagster instance in DAGSTER_HOME when set,
so `make ui` shows their history; with a shared deployment they go through its run queue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import dagster as dg

from orchestration.lib.deployment.queue import lane_tags
from orchestration.lib.governance.policy_checks import BLOCKED_METADATA
from orchestration.lib.ingest.loader import NO_DATA_YET
from orchestration.lib.operations.health import record_run
from orchestration.lib.operations.slis import measure as measure_slis
from orchestration.lib.operations.slis import record as record_slis
from orchestration.lib.operations.sqlite_history import keep_engines
from orchestration.lib.operations.telemetry import STEWARD_RUN, TRIGGER_TAG
from orchestration.lib.warehouse import pipeline_lock
from policies.regions import GLOBAL_REGION

if TYPE_CHECKING:  # the graph Definitions resolve to
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"
_TAGS = {TRIGGER_TAG: STEWARD_RUN}


@dataclass
class AssetOutcome:
    asset: str
    region: str
    rows: int | None
    checks_passed: int
    checks_failed: int  # failed checks of error severity: they block and fail the run
    seconds: float | None
    blocked: str | None = None  # why the policy gate held this asset back, if it did
    checks_warned: int = 0
    checks_declared: int = 0  # every one of them must have run for the asset to be ok
    no_data_yet: bool = False  # a declared source whose landing folder has had no file yet

    @property
    def checks_not_run(self) -> int:
        return max(self.checks_declared - self.checks_passed - self.checks_failed
                   - self.checks_warned, 0)

    @property
    def status(self) -> str:
        if self.blocked:
            return "BLOCKED"
        if self.checks_failed:
            return "FAILED CHECKS"
        if self.checks_not_run:
            return "CHECKS NOT RUN"
        if self.no_data_yet:
            return "no data yet"
        return "warnings" if self.checks_warned else "ok"

    @property
    def healthy(self) -> bool:
        return self.status in ("ok", "warnings", "no data yet")


def every_region_tags(regions: list[str]) -> dict[str, str]:
    """A run over every region's partition at once (with the lane tag DuckDB needs)."""
    return {PARTITION_RANGE_START: regions[0], PARTITION_RANGE_END: regions[-1], **lane_tags()}


def _instance() -> dg.DagsterInstance:
    if not os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.ephemeral()
    keep_engines()
    return dg.DagsterInstance.get()


@dataclass
class Finished:
    """A run that ended: whether it succeeded, and its events."""
    success: bool
    events: list[dg.DagsterEvent]


class Launcher(Protocol):
    """Runs a selection of the pipeline to its end: in this process, or through a deployment."""
    instance: dg.DagsterInstance

    def run(self, selection: set[dg.AssetKey], tags: dict[str, str],
            partition_key: str | None = None) -> Finished: ...


class InProcess:
    """Embedded mode: every run executes here, recorded in DAGSTER_HOME's instance when set."""

    def __init__(self, defs: dg.Definitions) -> None:
        self.job = defs.resolve_implicit_global_asset_job_def()
        self.instance = _instance()

    def run(self, selection: set[dg.AssetKey], tags: dict[str, str],
            partition_key: str | None = None) -> Finished:
        result = self.job.get_subset(asset_selection=selection).execute_in_process(
            instance=self.instance, partition_key=partition_key, raise_on_error=False,
            tags=tags)
        return Finished(result.success, list(result.all_events))


def _float(metadata: dict, *names: str) -> float | None:
    for name in names:
        if name in metadata:
            return float(metadata[name].value)
    return None


def _outcomes(finished: Finished, graph: AssetGraph,
              region_of_range: list[str]) -> list[AssetOutcome]:
    outcomes: dict[tuple[str, str], AssetOutcome] = {}
    for event in finished.events:
        if not event.is_step_materialization:
            continue
        materialization = event.step_materialization_data.materialization
        metadata = materialization.metadata
        asset = materialization.asset_key.to_user_string()
        region = materialization.partition or ",".join(
            region_of_range or [name[len("rows_in_"):] for name in metadata
                                if name.startswith("rows_in_")])
        rows_key = f"rows_in_{region}" if f"rows_in_{region}" in metadata else "dagster/row_count"
        rows = _float(metadata, rows_key)
        outcomes[(asset, region)] = AssetOutcome(
            asset, region, int(rows) if rows is not None else None, 0, 0,
            _float(metadata, "duration_s", "Execution Duration"),
            checks_declared=len(graph.get(materialization.asset_key).check_keys),
            no_data_yet=NO_DATA_YET in metadata,
        )
    for event in finished.events:
        if not event.is_asset_observation:
            continue
        observation = event.asset_observation_data.asset_observation
        if BLOCKED_METADATA in observation.metadata:
            asset = observation.asset_key.to_user_string()
            outcomes[(asset, observation.partition or "")] = AssetOutcome(
                asset, observation.partition or "", None, 0, 0, None,
                blocked=str(observation.metadata[BLOCKED_METADATA].value))
    for evaluation in _check_evaluations(finished):
        asset = evaluation.asset_key.to_user_string()
        for (name, region), outcome in outcomes.items():
            if name == asset and (evaluation.partition in (None, region)):
                if evaluation.passed:
                    outcome.checks_passed += 1
                elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
                    outcome.checks_failed += 1
                else:
                    outcome.checks_warned += 1
    return list(outcomes.values())


def _check_evaluations(finished: Finished) -> list[dg.AssetCheckEvaluation]:
    return [event.asset_check_evaluation_data for event in finished.events
            if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]


def run_pipeline(defs: dg.Definitions, regions: list[str], ingest_keys: list[dg.AssetKey],
                 launcher: Launcher | None = None) -> tuple[bool, list[AssetOutcome]]:
    """Materialize every asset; returns overall success and one outcome per asset and region.
    Embedded, two pipelines on the same stores take turns here; a deployment's queue orders
    the runs it is given."""
    if launcher is not None:
        return _run_pipeline(defs, regions, ingest_keys, launcher)
    with pipeline_lock():
        return _run_pipeline(defs, regions, ingest_keys, InProcess(defs))


def _run_pipeline(defs: dg.Definitions, regions: list[str], ingest_keys: list[dg.AssetKey],
                  launcher: Launcher) -> tuple[bool, list[AssetOutcome]]:
    instance = launcher.instance
    graph = defs.resolve_asset_graph()
    all_keys = set(defs.resolve_all_asset_keys())
    # The platform metrics live in the global store, built last from the telemetry of it all.
    platform_keys = {key for key in all_keys
                     if graph.get(key).tags.get("region") == GLOBAL_REGION}
    # Consumer models are not partitioned: each reads every region it may, after the builds.
    consumer_keys = {key for key in all_keys - platform_keys
                     if graph.get(key).partitions_def is None}
    model_keys = sorted(all_keys - set(ingest_keys) - consumer_keys - platform_keys)
    tags = {**lane_tags(), **_TAGS}
    success, outcomes = True, []
    ingest = launcher.run(set(ingest_keys), {**every_region_tags(regions), **_TAGS})
    success &= ingest.success
    outcomes.extend(_outcomes(ingest, graph, regions))
    # Blocking checks stop downstream steps only within their own run; the models run in a
    # run of their own per region, so what a failed ingest check would block stays out here.
    held_back = _held_back(graph, ingest)
    for region in regions:
        outcomes.extend(AssetOutcome(key.to_user_string(), region, None, 0, 0, None,
                                     blocked=reason) for key, reason in held_back.items()
                        if key not in consumer_keys)
        selection = set(model_keys) - set(held_back)
        if not selection:
            continue
        built = launcher.run(selection, tags, partition_key=region)
        success &= built.success
        outcomes.extend(_outcomes(built, graph, [region]))
    consumers = consumer_keys - set(held_back)
    if consumers:
        scored = launcher.run(consumers, tags)
        success &= scored.success
        outcomes.extend(_outcomes(scored, graph, []))
    measured = launcher.run(platform_keys, tags)
    success &= measured.success
    outcomes.extend(_outcomes(measured, graph, [GLOBAL_REGION]))
    outcomes.extend(AssetOutcome(key.to_user_string(), "-", None, 0, 0, None, blocked=reason)
                    for key, reason in held_back.items() if key in consumer_keys)
    healthy = all(outcome.healthy for outcome in outcomes)
    _, stale = record_run(outcomes, success and healthy)
    if not instance.is_ephemeral:  # an ephemeral instance's history is this run alone
        record_slis(measure_slis(instance, graph))
    for (asset, region), reason in stale.items():  # shown on the asset's page in the UI
        instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=dg.AssetKey.from_user_string(asset),
            partition=region if region in regions else None,
            metadata={"stale": f"last good version kept: {reason}"}))
    return success and healthy, outcomes


def _held_back(graph: AssetGraph, ingest: Finished) -> dict[dg.AssetKey, str]:
    """Every model downstream of an ingest asset whose blocking check failed, with why."""
    failed = {e.asset_key: e.check_name for e in _check_evaluations(ingest)
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR}
    held: dict[dg.AssetKey, str] = {}
    for key, check in failed.items():
        for downstream in dg.AssetSelection.assets(key).downstream().resolve(graph) - {key}:
            held.setdefault(downstream, f"upstream check failed: {key.to_user_string()} "
                                        f"{check}")
    return held


def format_summary(outcomes: list[AssetOutcome]) -> str:
    header = ("asset", "region", "status", "rows", "checks passed", "checks failed", "seconds")
    ordered = sorted(outcomes, key=lambda o: (o.asset, o.region))
    rows = [header] + [
        (o.asset, o.region, o.status, "-" if o.rows is None else f"{o.rows:,}",
         str(o.checks_passed), str(o.checks_failed),
         "-" if o.seconds is None else f"{o.seconds:.2f}")
        for o in ordered
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"\n{o.asset} [{o.region}] {o.blocked}" for o in ordered if o.blocked]
    lines += [f"\n{o.asset} [{o.region}] {o.checks_not_run} of its {o.checks_declared} checks "
              "did not run: its step failed or was skipped, see the run's log"
              for o in ordered if o.checks_not_run and not o.blocked and not o.checks_failed]
    return "\n".join(lines)
