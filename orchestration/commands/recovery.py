"""`steward backup` and `steward restore`: disaster recovery of the embedded profile's stores."""

from __future__ import annotations

from typing import Annotated

import typer

backup_app = typer.Typer(
    help="Snapshot every store, the audit checkpoints and the keys into the backup folder "
         "(STEWARD_BACKUP_DIR), checksummed; `backup list` shows the snapshots kept.",
    invoke_without_command=True)


def _on_duckdb_only() -> None:
    from orchestration.lib.settings import get_settings

    if get_settings().warehouse == "postgres":
        typer.echo("on PostgreSQL the region stores are backed up by the server's own tools "
                   "(pg_dump, or base backups with WAL archiving for point-in-time recovery): "
                   "see docs/disaster-recovery.md", err=True)
        raise typer.Exit(2)


@backup_app.callback()
def backup(context: typer.Context) -> None:
    """Take a snapshot now (after any pipeline run in progress), then prune the snapshots
    older than STEWARD_BACKUP_KEEP_DAYS (the newest is always kept)."""
    if context.invoked_subcommand:
        return
    from orchestration.lib.operations import backups
    from orchestration.lib.settings import get_settings

    _on_duckdb_only()
    snapshot = backups.take()
    typer.echo(f"snapshot {snapshot.name}: {len(snapshot.files)} files, "
               f"{snapshot.size / 2**20:,.1f} MiB, in {snapshot.path}")
    pruned = backups.prune(get_settings().backup_keep_days)
    if pruned:
        typer.echo(f"pruned, older than {get_settings().backup_keep_days} days: "
                   + ", ".join(pruned))


@backup_app.command("list")
def listing() -> None:
    """The snapshots in the backup folder, oldest first, each checked against its checksums."""
    from orchestration.lib.operations import backups

    found = backups.listed()
    for snapshot in found:
        problems = backups.verify(snapshot)
        typer.echo(f"{snapshot.name:<20} taken {snapshot.taken_at:%Y-%m-%d %H:%M:%S}  "
                   f"{len(snapshot.files):>3} files  {snapshot.size / 2**20:>9,.1f} MiB  "
                   + ("ok" if not problems else "DAMAGED: " + "; ".join(problems)))
    if not found:
        typer.echo(f"no snapshot in {backups.backup_dir()} yet: `steward backup` takes one")


def restore(
    snapshot: Annotated[str | None, typer.Argument(
        help="the snapshot's name, as `steward backup list` shows it")] = None,
    after_database_restore: Annotated[bool, typer.Option(
        "--after-database-restore",
        help="the stores were restored by the database's own tools (PostgreSQL): only replay "
             "the erasures since and purge what is past retention")] = False,
) -> None:
    """Rebuild the stores from a snapshot: checked first, the stores it replaces set aside,
    every erasure since replayed, rows past retention purged. Stop the Dagster UI and
    deployment first; `steward run` afterwards loads what landed since the snapshot."""
    from orchestration.lib.governance import audit_log
    from orchestration.lib.operations import backups

    if bool(snapshot) == after_database_restore:
        typer.echo("name a snapshot, or say --after-database-restore", err=True)
        raise typer.Exit(2)
    if snapshot:
        _on_duckdb_only()
    try:
        restored = backups.restore(snapshot)
    except backups.SnapshotDamaged as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from None
    entries, breaks = audit_log.verify_log()
    if restored.snapshot:
        taken = restored.snapshot.taken_at
        typer.echo(f"restored snapshot {snapshot} (taken {taken:%Y-%m-%d %H:%M:%S}); the "
                   f"stores it replaced are in {restored.set_aside}")
    typer.echo(f"erasures replayed: {len(restored.erasures_replayed)}; rows purged past "
               f"retention: {restored.rows_purged}; audit log: {entries} entries, "
               + ("verified" if not breaks else f"{len(breaks)} break(s): run `steward audit "
                                                 "verify`"))
    if breaks:
        raise typer.Exit(1)
