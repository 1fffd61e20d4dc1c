"""One Dagster asset per declared source table, keyed `[source, table]` like dbt's sources."""


import time

import dagster as dg

from orchestration.lib.deployment.queue import raw_pool
from orchestration.lib.governance.policy_checks import evaluate_policy, policy_check_spec
from orchestration.lib.ingest.load_report import LoadReport
from orchestration.lib.ingest.loader import NO_DATA_YET, load_table
from orchestration.lib.ingest.references import ReferenceReport, check_references
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.operations.cpu import CpuClock
from orchestration.lib.partitions import region_partitions, run_regions
from orchestration.lib.quality.checks import quality_check_specs, run_suite
from orchestration.lib.quality.suites import suites_for
from orchestration.lib.sources import SourceTable, load_source_tables

RECONCILED_CHECK = "ingest__reconciled"
REFERENCES_CHECK = "ingest__references"
DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps a materialization's version


def _metadata(report: LoadReport, seconds: float, cpu_seconds: float) -> dict:
    metadata = {
        "dagster/row_count": sum(report.table_rows.values()),
        "rows_read": report.rows_read,
        "rows_loaded": sum(report.rows_loaded.values()),
        "rows_unchanged": report.rows_unchanged,
        "rows_superseded": report.rows_superseded,
        "rows_quarantined": report.rows_quarantined,
        "rows_expired": report.rows_expired,
        "rows_erased": report.rows_erased,
        "files_new": len(report.files_new),
        "files_refused": dg.MetadataValue.json(report.files_refused),
        "quarantine_reasons": dg.MetadataValue.json(dict(report.quarantine_reasons)),
        "duration_s": round(seconds, 3),
        CPU_SECONDS: cpu_seconds,
    }
    for region, rows in report.table_rows.items():
        metadata[f"rows_in_{region}"] = rows
    if not report.files_seen:
        metadata[NO_DATA_YET] = "the landing folder has held no file yet"
    added = {region: columns for region, columns in report.columns_added.items() if columns}
    if added:
        metadata["columns_added"] = dg.MetadataValue.json(added)
    return metadata


def _stored_version(instance: dg.DagsterInstance, key: dg.AssetKey, region: str) -> str | None:
    """The data version the table in `region` was last materialized with, if any."""
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[region]), limit=1).records
    return found[0].event_log_entry.tags.get(DATA_VERSION_TAG) if found else None


def _data_version(context: dg.AssetExecutionContext, key: dg.AssetKey,
                  report: LoadReport) -> dg.DataVersion:
    """The tables' version after this load: the one they were stored with when the load
    changed none of them (no row stored, no column added) and they share it, so declarative
    automation does not rebuild their downstream for nothing (an hourly fallback ingest, a
    sensor's run over files another run already loaded); this run's id otherwise."""
    if not any(report.rows_loaded.values()) and not any(report.columns_added.values()):
        kept = {_stored_version(context.instance, key, region)
                for region in context.partition_keys}
        if len(kept) == 1 and None not in kept:
            return dg.DataVersion(kept.pop())
    return dg.DataVersion(context.run.run_id)


def reconciliation_result(report: LoadReport) -> dg.AssetCheckResult:
    """Rows read = loaded + unchanged + superseded + quarantined, or the check fails."""
    return dg.AssetCheckResult(
        check_name=RECONCILED_CHECK,
        passed=report.reconciled,
        description=None if report.reconciled else (
            f"read {report.rows_read} rows but accounted for {report.accounted}: loaded "
            f"{report.rows_loaded}, unchanged {report.rows_unchanged}, superseded "
            f"{report.rows_superseded}, quarantined {report.rows_quarantined}, expired "
            f"{report.rows_expired}, erased {report.rows_erased}"),
        metadata={"rows_read": report.rows_read, "accounted": report.accounted},
    )


def build_ingest_asset(spec: SourceTable) -> dg.AssetsDefinition:
    key = dg.AssetKey([spec.source, spec.table])

    @dg.asset(
        key=key,
        group_name=spec.source,
        description=spec.description,
        owners=owners(spec.owner),
        kinds={"duckdb", spec.format},
        partitions_def=region_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=raw_pool(spec.source, spec.table),
        metadata={
            "dagster/column_schema": column_schema(
                (c.name, c.data_type, c.description, c.classification) for c in spec.columns
            ),
            "landing": spec.landing,
            "primary_key": ", ".join(spec.primary_key),
            "cursor": spec.cursor or "",
            "route_by": spec.route_by,
            "declared_in": str(spec.declared_in.name),
        },
        check_specs=[
            dg.AssetCheckSpec(
                RECONCILED_CHECK, asset=key, blocking=True,
                description="Rows read = rows loaded + unchanged + superseded + quarantined + "
                    "expired + erased.",
            ),
            policy_check_spec(key),
            *quality_check_specs(key),
        ],
    )
    def _ingest(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        started, clock = time.monotonic(), CpuClock()
        report = load_table(spec, list(context.partition_keys), run_id=context.run.run_id)
        for region, columns in report.columns_added.items():
            if columns:
                context.log.warning(f"{spec.name} [{region}]: added the newly declared "
                                    f"column(s) {', '.join(columns)}; rows stored before "
                                    "are empty in them")
        for name, reason in report.files_refused.items():
            context.log.warning(f"{spec.name}: quarantined file {name}: {reason}")
        if report.rows_quarantined:
            context.log.warning(f"{spec.name}: {report.rows_quarantined} rows quarantined: "
                                f"{dict(report.quarantine_reasons)}")
        check_results = [
            reconciliation_result(report),
            evaluate_policy(key, (spec.schema, spec.table), list(context.partition_keys),
                            loaded=True),
            *(run_suite(key, suite, (spec.schema, spec.table), list(context.partition_keys),
                        context.run.run_id, spec.primary_key)
              for suite in suites_for(key.to_user_string())),
        ]
        return dg.MaterializeResult(
            metadata=_metadata(report, time.monotonic() - started, clock.seconds()),
            check_results=check_results,
            data_version=_data_version(context, key, report))

    return _ingest


def _reference_result(reports: list[ReferenceReport]) -> dg.AssetCheckResult:
    broken = [r for r in reports if not r.holds]
    return dg.AssetCheckResult(
        passed=not broken,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(
            f"{r.column} → {r.references}: {r.empty:,} empty and {r.orphans:,} found in no "
            f"region, of {r.rows:,} rows" for r in broken) or None,
        metadata={f"{r.column}": {"references": r.references, "rows": r.rows,
                                  "empty": r.empty, "found_nowhere": r.orphans}
                  for r in reports},
    )


def build_reference_check(spec: SourceTable) -> dg.AssetChecksDefinition:
    """Its foreign keys checked once the tables they point to are loaded in the same run."""
    key = dg.AssetKey([spec.source, spec.table])
    targets = {c.references.rpartition(".")[0] for c in spec.columns if c.references}

    @dg.asset_check(
        asset=key, name=REFERENCES_CHECK, blocking=False,
        additional_deps=[dg.AssetKey(t.split(".")) for t in sorted(targets - {spec.name})],
        description="Every declared foreign key (`references`) is filled in and found in the "
                    "table it names, in some region's store.")
    def _references(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return _reference_result(check_references(spec, run_regions(context, key)))

    return _references


def build_ingest_assets() -> list[dg.AssetsDefinition]:
    return [build_ingest_asset(spec) for spec in load_source_tables()]


def build_reference_checks() -> list[dg.AssetChecksDefinition]:
    return [build_reference_check(spec) for spec in load_source_tables()
            if any(c.references for c in spec.columns)]
