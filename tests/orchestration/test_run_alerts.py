"""Runs the daemon launches alert through Dagster's run-status sensors: a real failed run of the
dbt models (no raw tables to read yet) alerts once, a later success of the same selection
resolves it, and runs `steward run` started are left to its own, finer alerts."""

from __future__ import annotations

import json

import dagster as dg

from orchestration.defs.automation.sensors import run_failure_alerts, run_recovery
from orchestration.lib.operations import incidents
from orchestration.lib.operations.telemetry import STEWARD_RUN, TRIGGER_TAG
from tests.conftest import write_tiny_estate

SENSOR_TAGS = {"dagster/sensor_name": "steward_automation"}


def _build_eu(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import build_definitions
    from orchestration.defs.transform.assets import dbt_models

    job = build_definitions().resolve_implicit_global_asset_job_def()
    return job.get_subset(asset_selection=set(dbt_models.keys)).execute_in_process(
        instance=instance, partition_key="eu", raise_on_error=False, tags=tags)


def _sensed(sensor, instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult,
            event: dg.DagsterEvent) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=event)
    sensor(context.for_run_failure() if event.is_run_failure else context)


def test_a_failed_daemon_run_alerts_once_until_a_success_resolves_it(data_dir, dbt_manifest,
                                                                      monkeypatch):
    sink = data_dir / "alerts.jsonl"
    monkeypatch.setenv("STEWARD_ALERT_FILE", str(sink))
    instance = dg.DagsterInstance.ephemeral()

    failed = _build_eu(instance, SENSOR_TAGS)
    assert not failed.success
    _sensed(run_failure_alerts, instance, failed, failed.get_run_failure_event())
    again = _build_eu(instance, SENSOR_TAGS)
    _sensed(run_failure_alerts, instance, again, again.get_run_failure_event())
    sent = [json.loads(line) for line in sink.read_text().splitlines()]
    assert len(sent) == 1 and sent[0]["kind"] == "run_failed"
    assert "[eu] failed" in sent[0]["title"] and sent[0]["details"]["run_id"] == failed.run_id
    assert [i.occurrences for i in incidents.listed()] == [2]

    ours = _build_eu(instance, {TRIGGER_TAG: STEWARD_RUN})  # `steward run` alerts per asset
    _sensed(run_failure_alerts, instance, ours, ours.get_run_failure_event())
    assert len(sink.read_text().splitlines()) == 1

    write_tiny_estate(data_dir / "landing")
    from orchestration.lib.ingest.loader import load_table
    from orchestration.lib.sources import load_source_tables

    for spec in load_source_tables():
        load_table(spec, ["eu"], run_id="test")
    healed = _build_eu(instance, SENSOR_TAGS)
    assert healed.success
    _sensed(run_recovery, instance, healed, healed.get_run_success_event())
    assert incidents.listed() == []
