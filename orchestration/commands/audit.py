"""`steward audit` and `steward keys`: the hash-chained audit log and the keys behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestration.commands.grants import RegionOption

keys_app = typer.Typer(help="Steward's own keys, one per purpose.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(
    purpose: Annotated[str, typer.Argument(help="audit, models or pseudonym")],
) -> None:
    """Replace one purpose's key: the audit log verifies across it, kept models are signed
    again, pseudonyms change from the next read. Audited."""
    from orchestration.lib.security.key_rotation import rotate_key

    try:
        typer.echo(rotate_key(purpose))
    except ValueError as refused:
        typer.echo(f"not rotated: {refused}", err=True)
        raise typer.Exit(2) from None




audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole chain; exit 1 naming every entry that was edited, removed or moved."""
    from orchestration.lib.governance.audit_log import audit_store, verify_log

    count, breaks = verify_log()
    for found in breaks:
        typer.echo(f"✗ entry {found.seq}: {found.problem}")
    verdict = "intact" if not breaks else f"TAMPERED ({len(breaks)} problem(s))"
    typer.echo(f"audit log {audit_store()}: {count} entries, {verdict}")
    raise typer.Exit(0 if not breaks else 1)


@audit_app.command("collect")
def audit_collect(regions: RegionOption = None) -> None:
    """Bring the reads each region's PostgreSQL server audited (pgaudit: psql, BI tools, any
    client) into the hash-chained log as `access.database` entries; run it on a schedule."""
    from orchestration.lib.governance.database_audit import collect
    from orchestration.lib.warehouse import postgres
    from orchestration.lib.warehouse.pgaudit import AuditNotReady
    from policies.regions import every_store

    try:
        collected = collect(regions or every_store())
    except (AuditNotReady, postgres.Error) as refused:
        typer.echo(f"not collected: {str(refused).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    for server, reads in collected.items():
        typer.echo(f"{server}: {reads} audited read(s) collected")


@audit_app.command("export")
def audit_export(target: Annotated[Path, typer.Argument(help="JSON lines file to write")]) -> None:
    """Write every entry as one JSON object per line."""
    from orchestration.lib.governance.audit_log import export_jsonl

    typer.echo(f"{export_jsonl(target)} entries written to {target}")
