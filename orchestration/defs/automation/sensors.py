"""The code location's sensors: runs driven by events, and alerts for runs nobody watches.

`landing_files` notices new or changed files per source table and requests that table's ingest
over every region; declarative automation (eager) then materializes the models of each region
and the consumer models once their inputs have been updated (`ingest_hourly`, in schedules.py,
is the fallback should an event be missed). Updates `steward run` made are left to it: it builds
what lies downstream of its own ingest itself; and an ingest that stored nothing changes no data
version, so nothing is rebuilt for it.

A run launched by the daemon (sensor, schedule, automation) that fails opens one incident per
job and selection (`run_failure_alerts`); its next success resolves it (`run_recovery`).
`steward run` raises its own, finer alerts (one per root-cause asset), so its runs are left out.
"""

import hashlib
import json

import dagster as dg

from orchestration.lib.deployment.queue import lane_tags
from orchestration.lib.ingest.landing import discover
from orchestration.lib.operations import alerts
from orchestration.lib.operations.runner import every_region_tags
from orchestration.lib.operations.telemetry import STEWARD_RUN, TRIGGER_TAG
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import load_source_tables
from policies.regions import region_names

SENSOR_INTERVAL_SECONDS = 5


def landing_digests() -> dict[str, str]:
    """Per source table, a digest of its landing files' names, sizes and modification times."""
    landing = get_settings().landing_dir
    digests = {}
    for spec in load_source_tables():
        files = sorted(f"{f.name}:{f.fingerprint}" for f in discover(spec, landing))
        digests[spec.name] = hashlib.sha256("\n".join(files).encode()).hexdigest()
    return digests


def changed_sources(previous: dict[str, str] | None, current: dict[str, str]) -> list[str]:
    """Sources whose files changed since the last tick; none on the very first tick (what was
    there before the sensor started is loaded by the next run, scheduled or manual)."""
    if previous is None:
        return []
    return sorted(name for name, digest in current.items() if previous.get(name) != digest)


def build_landing_sensor(ingest_keys: list[dg.AssetKey]) -> dg.SensorDefinition:
    regions = region_names()

    @dg.sensor(name="landing_files", minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
               target=ingest_keys, default_status=dg.DefaultSensorStatus.RUNNING,
               description="New export files in the landing zone → ingest of that source table.")
    def _landing(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        current = landing_digests()
        previous = json.loads(context.cursor) if context.cursor else None
        requests = [
            dg.RunRequest(
                run_key=f"{name}:{current[name]}",
                asset_selection=[dg.AssetKey(name.split("."))],
                tags=every_region_tags(regions),
            )
            for name in changed_sources(previous, current)
        ]
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(current))

    return _landing


automation_sensor = dg.AutomationConditionSensorDefinition(
    "steward_automation", target=dg.AssetSelection.all(),
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    run_tags=lane_tags(),
    # Plain runs, one per region, start at once; a backfill would wait for the backfill daemon.
    emit_backfills=False,
    description="Builds each region's models, then the consumer models, once inputs update.")


def _changed_outside_steward_run() -> dg.AutomationCondition:
    """An input whose data changed since the last tick (an ingest that stored nothing keeps
    its data version), updated by a run other than `steward run`'s (or than the run that also
    builds this asset). `steward run` builds everything downstream of its updates itself,
    including what another run loaded just before: reacting to them too would queue a second
    build of the same models.

    Two of Dagster's conditions tell a `steward run` update, each blind where the other sees:
    the runs of every update since the last tick (none found before the automation's first
    event cursor, on a new deployment), and the latest run of each input partition (not found
    for an ingest over a range of regions in one run)."""
    condition = dg.AutomationCondition
    steward_run = {TRIGGER_TAG: STEWARD_RUN}
    return (condition.newly_updated()
            & condition.data_version_changed()
            & ~condition.executed_with_root_target()
            & ~(condition.all_new_updates_have_run_tags(tag_values=steward_run)
                | condition.executed_with_tags(tag_values=steward_run))
            ).with_label("changed_outside_steward_run")


# Dagster's eager condition, with its trigger narrowed as above.
BUILD_ON_UPDATE = dg.AutomationCondition.eager().replace(
    "newly_updated_without_root", _changed_outside_steward_run())


def automated(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """Materialize whenever an input's data has changed outside `steward run` (and none is
    missing or in progress)."""
    return assets_def.map_asset_specs(
        lambda spec: spec.replace_attributes(automation_condition=BUILD_ON_UPDATE))


def incident_key(run: dg.DagsterRun) -> str:
    selection = sorted(key.to_user_string() for key in run.asset_selection or ())
    partition = run.tags.get("dagster/partition", "")
    digest = hashlib.sha256(f"{selection}{partition}".encode()).hexdigest()[:12]
    return f"run:{run.job_name}:{digest}"


def _watched(run: dg.DagsterRun) -> bool:
    return run.tags.get(TRIGGER_TAG) != STEWARD_RUN


@dg.run_failure_sensor(name="run_failure_alerts", default_status=dg.DefaultSensorStatus.RUNNING,
                       minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
                       description="A failed run launched by the daemon → one alert.")
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    if not _watched(run):
        return
    assets = sorted(key.to_user_string() for key in run.asset_selection or ())
    partition = run.tags.get("dagster/partition")
    where = f"{', '.join(assets[:3])}{' …' if len(assets) > 3 else ''}" or run.job_name
    alerts.fire(incident_key(run), "run_failed",
                f"run of {where}{f' [{partition}]' if partition else ''} failed",
                {"run_id": run.run_id, "job": run.job_name, "assets": assets,
                 "partition": partition, "error": context.failure_event.message,
                 "hint": "see the run's logs in the Dagster UI"})


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="run_recovery",
                      default_status=dg.DefaultSensorStatus.RUNNING,
                      minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
                      description="A successful run resolves the incident of its failed kin.")
def run_recovery(context: dg.RunStatusSensorContext) -> None:
    if _watched(context.dagster_run):
        alerts.resolve(incident_key(context.dagster_run), set())
