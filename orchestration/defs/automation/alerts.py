"""Alerts for runs nobody watches: a run launched by the daemon (sensor, schedule, automation)
that fails opens one incident per job and selection; its next success resolves it.

`steward run` raises its own, finer alerts (one per root-cause asset), so its runs are left out.
"""

import hashlib

import dagster as dg

from orchestration.lib.operations import alerts
from orchestration.lib.operations.telemetry import STEWARD_RUN, TRIGGER_TAG

SENSOR_INTERVAL_SECONDS = 5


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
