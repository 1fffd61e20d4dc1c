"""The retention purge: delete what has outlived its retention, everywhere it is kept.

In each region's store (the global store for Steward's telemetry), rows of every asset with
an event time older than its effective retention (`policies/retention.py` plans it); in the
quarantine, rows held longer than their source's retention; in the landing zone, export files
older than it. Each asset's deletion is one transaction per store and one audit entry. Derived
assets without an event time are rebuilt from the purged inputs by the pipeline run that
follows (`steward retention purge` starts it; in Dagster the pipeline job runs after the purge
job).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.registry import relations
from orchestration.lib.ingest.landing import discover
from orchestration.lib.ingest.ledger import LOG_TABLE, REFUSED_FILES_TABLE, quarantines
from orchestration.lib.partitions import stores_keeping
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.sources import load_source_tables
from orchestration.lib.warehouse import (
    Connection,
    delete_where,
    exists,
    qualified,
    quote_ident,
    reader,
    rows_if_present,
    store_path,
    table_exists,
    table_if_present,
)
from policies.regions import region_names
from policies.retention import PurgeTarget, RetentionPlan, retention_plan


@dataclass
class AssetPurge:
    asset: str
    retention: str
    cutoff: datetime
    rows: dict[str, int] = field(default_factory=dict)  # region or "quarantine REGION" → rows
    files: list[str] = field(default_factory=list)  # landing files


@dataclass
class PurgeReport:
    dry_run: bool
    plan: RetentionPlan
    assets: list[AssetPurge] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(sum(a.rows.values()) for a in self.assets)


def _expired(con: Connection, target: PurgeTarget, delete: bool) -> int:
    return delete_where(con, qualified(*relations()[target.asset]),
                        f"{quote_ident(target.event_time)} < ?", [target.cutoff],
                        count_only=not delete)


def expired_rows(target: PurgeTarget, region: str, delete: bool = False) -> int:
    """Rows of the target's asset in one region's store past its cutoff; deleted when asked."""
    with table_if_present(store_path(region), *relations()[target.asset], write=delete) as con:
        return 0 if con is None else _expired(con, target, delete)


def late_rows(plan: RetentionPlan) -> dict[str, int]:
    """Rows past retention of each target of `plan`, summed over the stores keeping it, each
    store opened once."""
    late = dict.fromkeys((target.asset for target in plan.targets), 0)
    kept_in: dict[str, list[PurgeTarget]] = defaultdict(list)
    for target in plan.targets:
        for region in stores_keeping(target.asset):
            kept_in[region].append(target)
    for region, targets in kept_in.items():
        if not exists(store_path(region)):
            continue
        with reader(store_path(region)) as con:
            for target in targets:
                if table_exists(con, *relations()[target.asset]):
                    late[target.asset] += _expired(con, target, delete=False)
    return late


def _arrivals(source_table: str) -> dict[str, datetime]:
    """When Steward first took in each landing file of a source, on its own clock (loaded into
    a store, or refused): a file's age. A file never taken in is as old as its mtime."""
    settings = get_settings()
    seen = [row for region in region_names() for row in rows_if_present(
                settings.region_store(region), "loaded_files",
                f"SELECT file, min(loaded_at) FROM {LOG_TABLE} WHERE source_table = ? GROUP BY 1",
                [source_table], schema="_steward")]
    seen += rows_if_present(settings.quarantine_store, REFUSED_FILES_TABLE,
                            f"SELECT file, min(refused_at) FROM {REFUSED_FILES_TABLE} "
                            "WHERE source_table = ? GROUP BY 1", [source_table])
    first: dict[str, datetime] = {}
    for file, at in seen:
        first[file] = min(at, first.get(file, at))
    return first


def _purge_source_extras(purge: AssetPurge, source_table: str, landing: list, delete: bool
                         ) -> None:
    """Quarantined rows (in every region's quarantine and the unrouted one) and landing files
    of one source, past its retention."""
    for place, path, schema, table in quarantines():
        with table_if_present(path, schema, table, write=delete) as con:
            if con is not None:
                purge.rows[f"quarantine {place}"] = delete_where(
                    con, qualified(schema, table), "source_table = ? AND quarantined_at < ?",
                    [source_table, purge.cutoff], count_only=not delete)
    arrived = _arrivals(source_table)
    for file in landing:
        received = arrived.get(file.name) or datetime.fromtimestamp(file.mtime_ns / 1e9, UTC)
        if received.replace(tzinfo=None) < purge.cutoff:
            purge.files.append(file.name)
            if delete:
                file.path.unlink()


def purge(dry_run: bool = False, as_of: datetime | None = None) -> PurgeReport:
    """Delete (or, dry, count) everything past its retention; one audit entry per asset.
    `as_of` previews a later day; it only counts, so it cannot be used to delete."""
    if as_of is not None and not dry_run:
        raise ValueError("a purge as of another day can only be a dry run")
    now = as_of or current_time()
    plan = retention_plan(project_catalog(), project_evaluation().effective, now)
    report = PurgeReport(dry_run, plan)
    sources = {f"{s.source}/{s.table}": s for s in load_source_tables()}
    for target in plan.targets:
        done = AssetPurge(target.asset, target.retention, target.cutoff)
        for region in stores_keeping(target.asset):
            done.rows[region] = expired_rows(target, region, delete=not dry_run)
        spec = sources.get(target.asset)
        if spec is not None:
            _purge_source_extras(done, spec.name, discover(spec, get_settings().landing_dir),
                                 not dry_run)
        report.assets.append(done)
        audit_log.append("retention.dry_run" if dry_run else "retention.purged", target.asset, {
            "retention": target.retention, "cutoff": target.cutoff.isoformat(sep=" "),
            "rows": done.rows, "landing_files": done.files})
    return report


def format_purge(report: PurgeReport) -> str:
    verb = "would delete" if report.dry_run else "deleted"
    lines = [f"retention purge as of {report.plan.now:%Y-%m-%d %H:%M} ({verb})", ""]
    for item in report.assets:
        where = ", ".join(f"{k} {v:,}" for k, v in item.rows.items() if v) or "nothing"
        files = f"; {len(item.files)} landing file(s)" if item.files else ""
        lines.append(f"{item.asset:<32} keep {item.retention:<4} before "
                     f"{item.cutoff:%Y-%m-%d}: {where}{files}")
    if report.plan.rebuilt:
        lines.append(f"\nrebuilt from the purged inputs: {', '.join(report.plan.rebuilt)}")
    return "\n".join(lines)
