"""Governance actions as Dagster jobs: the retention purge (daily), erasure of a subject, and
the backup of the stores (daily).

Thin wrappers: the work is in `orchestration/lib/governance/retention.py`,
`erasure.py` and `orchestration/lib/operations/backups.py`, the same code `steward retention
purge`, `steward erase` and `steward backup` run. Derived
assets without an event time are recomputed by the next pipeline run after a purge.
"""

import dagster as dg

from orchestration.lib.deployment.queue import lane_tags
from orchestration.lib.governance.erasure import erase, write_receipt
from orchestration.lib.governance.retention import format_purge, purge
from orchestration.lib.operations import backups
from orchestration.lib.settings import get_settings

PURGE_JOB = "retention_purge"
ERASE_JOB = "erase_subject"
BACKUP_JOB = "backup_stores"


class PurgeConfig(dg.Config):
    dry_run: bool = False


class EraseConfig(dg.Config):
    subject_id: str
    subject: str = "customer"
    dry_run: bool = False


@dg.op(description="Delete rows, quarantined records and landing files past their retention.")
def purge_expired(context: dg.OpExecutionContext, config: PurgeConfig) -> dg.Nothing:
    report = purge(dry_run=config.dry_run)
    context.log.info(format_purge(report))
    context.add_output_metadata({
        "rows": report.rows,
        "per_asset": dg.MetadataValue.json({a.asset: {**a.rows, "landing_files": len(a.files)}
                                            for a in report.assets}),
        "rebuilt_next_run": dg.MetadataValue.json(report.plan.rebuilt)})


@dg.op(description="Erase one data subject everywhere and write the receipt.")
def erase_one_subject(context: dg.OpExecutionContext, config: EraseConfig) -> dg.Nothing:
    receipt = erase(config.subject_id, config.subject, dry_run=config.dry_run)
    if receipt.remaining:
        raise dg.Failure(f"{receipt.remaining} trace(s) of {config.subject} "
                         f"{config.subject_id} remain after the erasure")
    path = None if config.dry_run else write_receipt(receipt)
    context.add_output_metadata({
        "receipt": str(path or "dry run"), "resumed": receipt.resumed,
        "rows_deleted": dg.MetadataValue.json(receipt.rows_deleted),
        "landing_records": dg.MetadataValue.json(receipt.landing_records),
        "models_dropped": dg.MetadataValue.json(receipt.models_dropped)})


@dg.job(name=PURGE_JOB, description="The retention purge of every store.", tags=lane_tags())
def retention_purge_job() -> None:
    purge_expired()


@dg.job(name=ERASE_JOB, description="Right to be forgotten: give subject_id in the run config.",
        tags=lane_tags())
def erase_subject_job() -> None:
    erase_one_subject()


@dg.op(description="Snapshot every store, the audit checkpoints and the keys (steward backup), "
                   "then prune the snapshots past STEWARD_BACKUP_KEEP_DAYS.")
def snapshot_stores(context: dg.OpExecutionContext) -> dg.Nothing:
    snapshot = backups.take()
    pruned = backups.prune(get_settings().backup_keep_days)
    context.add_output_metadata({
        "snapshot": str(snapshot.path), "files": len(snapshot.files),
        "mib": round(snapshot.size / 2**20, 1), "pruned": dg.MetadataValue.json(pruned)})


@dg.job(name=BACKUP_JOB, description="A checksummed snapshot of every store "
                                     "(docs/disaster-recovery.md).", tags=lane_tags())
def backup_stores_job() -> None:
    snapshot_stores()
