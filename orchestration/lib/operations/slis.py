"""SLIs of the shared datasets from Dagster's run and event history, kept in the store.

For each dataset with an objective in policies/slos.yaml: the runs of the window that built it
(success and duration), its last materialization, and its check evaluations. Each measurement
is appended to `sli_snapshots` in ops.duckdb (for plots and the metrics models), and every
breach is an alert (`slo:<dataset>`), resolved when the objectives hold again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from orchestration.lib.operations import alerts
from orchestration.lib.settings import current_time, from_real_clock, get_settings, to_real_clock
from orchestration.lib.warehouse import rows_if_present, write_connection
from policies.rules import load_rules
from policies.slo import SliReading, evaluate_slo

TABLE = "sli_snapshots"
MEASURES = ("success_rate", "latency_p50_s", "latency_p95_s", "freshness_lag_h",
            "check_pass_rate")
CHECK_HISTORY = RUN_HISTORY = 500
_FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)


def _runs(instance: dg.DagsterInstance, key: dg.AssetKey, since: float
          ) -> list[tuple[bool, float]]:
    """(succeeded, seconds) of every finished run of the window that set out to build `key`."""
    planned = instance.fetch_planned_materializations(
        dg.AssetRecordsFilter(asset_key=key, after_timestamp=since),
        limit=RUN_HISTORY).records
    run_ids = sorted({record.run_id for record in planned})
    if not run_ids:
        return []
    return [(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS,
             (r.end_time or 0) - (r.start_time or 0))
            for r in instance.get_run_records(
                filters=dg.RunsFilter(run_ids=run_ids, statuses=list(_FINISHED)))]


def measure(instance: dg.DagsterInstance, graph, now: datetime | None = None
            ) -> list[SliReading]:
    rules = load_rules()
    now = now or current_time()
    since = to_real_clock(now - timedelta(days=rules.slo_window_days))
    readings = []
    for dataset, slo in rules.slos.items():
        key = dg.AssetKey.from_user_string(dataset)
        runs = _runs(instance, key, since)
        latest = instance.get_latest_materialization_event(key)
        built = from_real_clock(latest.timestamp) if latest else None
        checks = []
        if graph.has(key):
            for check_key in graph.get(key).check_keys:
                checks += [record.status.value == "SUCCEEDED" for record in
                           instance.event_log_storage.get_asset_check_execution_history(
                               check_key, limit=CHECK_HISTORY)
                           if record.create_timestamp >= since
                           and record.status.value in ("SUCCEEDED", "FAILED")]
        readings.append(evaluate_slo(slo, runs, built, checks, now))
    return readings


def record(readings: list[SliReading]) -> list:
    """Store the readings; alert on each breached dataset once; returns alerts sent."""
    now = current_time()
    with write_connection(get_settings().ops_store) as con:
        measures = ", ".join(f"{name} DOUBLE PRECISION" for name in MEASURES)
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (measured_at TIMESTAMP, dataset VARCHAR,"
                    f" runs INTEGER, {measures}, breaches VARCHAR)")
        con.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            [now, r.dataset, r.runs, r.success_rate, r.latency_p50_seconds,
             r.latency_p95_seconds, r.freshness_lag_hours, r.check_pass_rate,
             "; ".join(r.breaches)] for r in readings])
    sent = [alerts.fire(f"slo:{r.dataset}", "slo_breach", f"{r.dataset}: {r.breaches[0]}",
                        {"breaches": r.breaches}) for r in readings if r.breaches]
    alerts.resolve("slo:", {f"slo:{r.dataset}" for r in readings if r.breaches})
    return [alert for alert in sent if alert]


def history() -> list[tuple]:
    """(measured_at, dataset, runs, *MEASURES, breaches) of every reading, oldest first, by
    name: a column added to the table later never shifts them."""
    return rows_if_present(get_settings().ops_store, TABLE,
                           f"SELECT measured_at, dataset, runs, {', '.join(MEASURES)}, breaches "
                           f"FROM {TABLE} ORDER BY measured_at")
