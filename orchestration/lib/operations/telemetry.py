"""Telemetry: what Steward records about its own work, collected into the global store.

The platform metrics are dbt models (`dbt_project/models/platform/`); this module lands their
sources in `global.duckdb`, schema `telemetry`: Dagster's run and event history (runs, each
asset's materializations with rows and CPU-seconds, check evaluations), the expectation
results kept in each region's store, the audit log, the alerts sent and the pinned
baselines. Only operational facts make the move, never a stored value: counts, names of
assets and consumers, times, outcomes — data of level `none`, which `policies/regions.yaml`
lets flow to `global`. Every table is replaced whole, within the telemetry retention.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.consumers import drift, review
from orchestration.lib.governance import audit_log
from orchestration.lib.governance.policy_adapter import project_evaluation
from orchestration.lib.operations import alerts
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.quality.history import HISTORY_TABLE
from orchestration.lib.settings import current_time, from_real_clock, get_settings, to_real_clock
from orchestration.lib.sources import load_source_tables
from orchestration.lib.warehouse import (
    insert_rows,
    replace_table,
    rows_if_present,
    store_path,
    table_columns,
    write_connection,
)
from policies.regions import GLOBAL_REGION, region_names

SCHEMA = "telemetry"
RETENTION_DAYS = 365  # as declared for the telemetry sources (1y)
PAGE = 1000
BASELINES_TABLE = "baselines"
TRIGGER_TAG = "steward/trigger"  # set on the runs `steward run` starts
STEWARD_RUN = "steward run"
_PARTITION_RANGE = "dagster/asset_partition_range_start"
# The metadata a step's rows written are read from: rows loaded by an ingest, rows scored by a
# consumer (a consumer keeping its scores writes none), else the table's rows.
WRITTEN = {"ingest": "rows_loaded", "consumer": "rows_scored"}
_FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
             dg.DagsterRunStatus.CANCELED]

COLUMNS = {
    "runs": "run_id VARCHAR, job VARCHAR, status VARCHAR, trigger VARCHAR, started_at TIMESTAMP, "
            "ended_at TIMESTAMP, seconds DOUBLE PRECISION",
    "steps": "run_id VARCHAR, asset VARCHAR, kind VARCHAR, source_table VARCHAR, consumer "
             "VARCHAR, regions VARCHAR, rows_read BIGINT, rows_written BIGINT, rows_quarantined "
             "BIGINT, files_refused INTEGER, cpu_seconds DOUBLE PRECISION, "
             "materialized_at TIMESTAMP",
    "checks": "run_id VARCHAR, asset VARCHAR, kind VARCHAR, source_table VARCHAR, consumer "
              "VARCHAR, region VARCHAR, check_name VARCHAR, passed BOOLEAN, severity VARCHAR, "
              "rows_quarantined BIGINT, cpu_seconds DOUBLE PRECISION, evaluated_at TIMESTAMP",
    "expectations": "region VARCHAR, asset VARCHAR, suite VARCHAR, expectation VARCHAR, "
                    "severity VARCHAR, success BOOLEAN, unexpected_count BIGINT, run_id VARCHAR, "
                    "validated_at TIMESTAMP",
    "audit": "seq BIGINT, recorded_at TIMESTAMP, kind VARCHAR, dataset VARCHAR, consumer VARCHAR",
    "alerts": "key VARCHAR, kind VARCHAR, title VARCHAR, sent_at TIMESTAMP",
    "baselines": "label VARCHAR, pinned_at TIMESTAMP",
    "drift": "measured_at TIMESTAMP, model VARCHAR, region VARCHAR, measure VARCHAR, "
             "value DOUBLE PRECISION",
    "reviews": "model VARCHAR, consumer VARCHAR, region VARCHAR, reason VARCHAR, "
               "status VARCHAR, queued_at TIMESTAMP, resolved_at TIMESTAMP",
}


def _at(timestamp: float | None) -> datetime | None:
    return from_real_clock(timestamp) if timestamp else None


def _roles() -> dict[str, tuple[str, str | None, str | None]]:
    """asset → (kind, source table, consumer) for the assets metrics are grouped by."""
    roles = {f"{s.source}/{s.table}": ("ingest", s.name, None) for s in load_source_tables()}
    roles |= {m.key: ("consumer", None, m.consumer) for m in CONSUMER_MODELS}
    roles |= {key: ("platform", None, None) for key, tags in project_evaluation().effective.items()
              if tags.region == GLOBAL_REGION}
    return roles


def _trigger(tags: dict[str, str]) -> str:
    for tag, kind in ((TRIGGER_TAG, None), ("dagster/sensor_name", "sensor"),
                      ("dagster/schedule_name", "schedule"), ("dagster/backfill", "backfill")):
        if tag in tags:
            return f"{kind}:{tags[tag]}" if kind else tags[tag]
    return "manual"


def _number(metadata: dict, name: str) -> float | None:
    value = metadata.get(name)
    return None if value is None else float(value.value)


def _run_row(record) -> tuple:
    run = record.dagster_run
    seconds = (record.end_time - record.start_time
               if record.start_time and record.end_time else None)
    return (run.run_id, run.job_name, run.status.value, _trigger(run.tags),
            _at(record.start_time), _at(record.end_time), seconds)


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey, since: datetime) -> list:
    found, cursor = [], None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=to_real_clock(since)),
            limit=PAGE, cursor=cursor)
        found += page.records
        if not page.has_more:
            return found
        cursor = page.cursor


def _steps(instance: dg.DagsterInstance, keys: list[dg.AssetKey], since: datetime,
           ranged_runs: set[str], roles: dict) -> list[tuple]:
    """One row per run and asset. A run over a partition range reports the same totals on
    each partition's materialization, so those count once; per-region runs add up."""
    rows = []
    for key in keys:
        asset = key.to_user_string()
        kind, source_table, consumer = roles.get(asset, ("model", None, None))
        by_run: dict[str, list] = {}
        for record in _materializations(instance, key, since):
            by_run.setdefault(record.run_id, []).append(record)
        for run_id, records in by_run.items():
            counted = records[:1] if run_id in ranged_runs else records
            metadata = [r.asset_materialization.metadata for r in counted]

            def total(name: str, metadata=metadata) -> float | None:
                values = [v for m in metadata if (v := _number(m, name)) is not None]
                return sum(values) if values else None

            written = total(WRITTEN.get(kind, "dagster/row_count"))
            rows.append((run_id, asset, kind, source_table, consumer,
                         ",".join(sorted(r.partition_key or "-" for r in records)),
                         total("rows_read"), written, total("rows_quarantined"),
                         sum(len(m["files_refused"].value) for m in metadata
                             if "files_refused" in m),
                         total(CPU_SECONDS), _at(max(r.timestamp for r in records))))
    return rows


def _checks(instance: dg.DagsterInstance, graph, since: datetime, roles: dict) -> list[tuple]:
    rows = []
    for check_key in sorted(graph.asset_check_keys, key=str):
        asset = check_key.asset_key.to_user_string()
        kind, source_table, consumer = roles.get(asset, ("model", None, None))
        history = instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=PAGE * 10)
        for record in history:
            if (record.create_timestamp < to_real_clock(since)
                    or record.status.value not in ("SUCCEEDED", "FAILED")):
                continue  # planned or skipped: nothing was evaluated
            evaluation = record.evaluation
            rows.append((record.run_id, asset, kind, source_table, consumer,
                         evaluation.partition or record.partition, check_key.name,
                         evaluation.passed, evaluation.severity.value,
                         _number(evaluation.metadata, "rows_quarantined"),
                         _number(evaluation.metadata, CPU_SECONDS),
                         _at(record.create_timestamp)))
    return rows


def _expectations(since: datetime) -> list[tuple]:
    schema, table = HISTORY_TABLE.split(".")
    return [row for region in region_names() for row in rows_if_present(
        store_path(region), table, "SELECT region, asset, suite, expectation, severity, "
        f"success, unexpected_count, run_id, validated_at FROM {HISTORY_TABLE} "
        "WHERE validated_at >= ?", [since], schema)]


def _audit(since: datetime, assets: set[str]) -> list[tuple]:
    """Who did what to which dataset; an erasure's data subject stays in the audit log."""
    rows = []
    for entry in audit_log.entries():
        recorded = from_real_clock(datetime.fromisoformat(entry.at).timestamp())
        if recorded >= since:
            rows.append((entry.seq, recorded, entry.kind,
                         entry.subject if entry.subject in assets else None,
                         entry.details.get("consumer")))
    return rows


def _reviews(since: datetime) -> list[tuple]:
    """Each row a consumer model deferred to a person: why, and when it was queued and
    resolved (never the row or its inputs)."""
    return [(model.key, model.consumer, region, *queued)
            for model in CONSUMER_MODELS for region in model.regions
            for queued in review.queued_since(model, region, since)]


def _ops(table: str, columns: str, since_column: str, since: datetime) -> list[tuple]:
    return rows_if_present(get_settings().ops_store, table,
                           f"SELECT {columns} FROM {table} WHERE {since_column} >= ?", [since])


def collect(instance: dg.DagsterInstance, graph) -> dict[str, int]:
    """Replace every telemetry table in the global store; returns the rows of each."""
    since = current_time() - timedelta(days=RETENTION_DAYS)
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=_FINISHED, created_after=datetime.fromtimestamp(to_real_clock(since), UTC)))
    ranged = {r.dagster_run.run_id for r in records if _PARTITION_RANGE in r.dagster_run.tags}
    roles = _roles()
    keys = sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string())
    tables = {
        "runs": [_run_row(record) for record in records],
        "steps": _steps(instance, keys, since, ranged, roles),
        "checks": _checks(instance, graph, since, roles),
        "expectations": _expectations(since),
        "audit": _audit(since, {key.to_user_string() for key in keys}),
        "alerts": _ops(alerts.SENT_TABLE, "key, kind, title, sent_at", "sent_at", since),
        "baselines": _ops(BASELINES_TABLE, "label, pinned_at", "pinned_at", since),
        "drift": _ops(drift.HISTORY, "measured_at, model, region, measure, value",
                      "measured_at", since),
        "reviews": _reviews(since),
    }
    with write_connection(store_path(GLOBAL_REGION)) as con:
        con.execute("BEGIN")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for name, rows in tables.items():
            _emptied(con, name)
            if rows:
                insert_rows(con, f"{SCHEMA}.{name}", COLUMNS[name], rows)
        con.execute("COMMIT")
    return {name: len(rows) for name, rows in tables.items()}


def _emptied(con, name: str) -> None:
    """The telemetry table `name`, empty and with the columns declared here. Emptied in place
    while its columns are still those, so the platform's staging views over it stay (PostgreSQL
    refuses to drop a table a view reads); recreated when they changed, the views with it, for
    the platform build that follows to make again."""
    declared = [column.split()[0] for column in COLUMNS[name].split(", ")]
    if list(table_columns(con, SCHEMA, name)) == declared:
        con.execute(f"DELETE FROM {SCHEMA}.{name}")
    else:
        replace_table(con, f"{SCHEMA}.{name}", f"({COLUMNS[name]})", drop_views=True)


def pin_baseline(label: str) -> datetime:
    """Mark now as a baseline: the metrics compare what ran before it with what ran after."""
    now = current_time()
    with write_connection(get_settings().ops_store) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {BASELINES_TABLE} (label VARCHAR, "
                    "pinned_at TIMESTAMP)")
        con.execute(f"INSERT INTO {BASELINES_TABLE} VALUES (?, ?)", [label, now])
    return now
