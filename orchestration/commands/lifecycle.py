"""`steward retention purge`, `steward erase` and `steward quarantine`: what is kept, what
goes, and what was refused."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from orchestration.commands.pipeline import run_whole_pipeline

retention_app = typer.Typer(help="Delete what has outlived its retention.",
                            no_args_is_help=True)


@retention_app.command("purge")
def retention_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would go.")
                       ] = False,
    rebuild: Annotated[bool, typer.Option(help="Rebuild derived assets from the purged "
                                               "inputs afterwards.")] = True,
    as_of: Annotated[str | None, typer.Option(help="With --dry-run: what a later day, e.g. "
                                                   "2027-12-01, would delete.")] = None,
) -> None:
    """Delete rows, quarantined records and landing files past their retention, in every
    region's store; one audit entry per asset."""
    from datetime import datetime

    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.governance.retention import format_purge, purge

    if as_of and not dry_run:
        typer.echo("--as-of previews: it needs --dry-run", err=True)
        raise typer.Exit(2)
    compile_manifest()
    started = time.monotonic()
    report = purge(dry_run=dry_run, as_of=datetime.fromisoformat(as_of) if as_of else None)
    typer.echo(format_purge(report))
    typer.echo(f"\n{report.rows:,} rows {'to delete' if dry_run else 'deleted'} in "
               f"{time.monotonic() - started:.1f}s")
    if not dry_run and rebuild:
        typer.echo("\nrebuilding derived assets from the purged inputs")
        raise typer.Exit(0 if run_whole_pipeline() else 1)


def erase(
    subject: Annotated[str, typer.Option(help="The customer_id of the person to erase.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would go.")
                       ] = False,
) -> None:
    """Erase one customer everywhere (rows found through lineage and keys, mentions of its
    identifiers in any text, quarantined records, landing files, models trained on its region),
    registered first so no load brings them back and a rerun finishes an erasure a crash
    stopped; verify nothing remains and write a receipt. Exit 1 if anything remains."""
    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.governance.erasure import erase as erase_subject
    from orchestration.lib.governance.erasure import write_receipt

    compile_manifest()
    started = time.monotonic()
    receipt = erase_subject(subject, dry_run=dry_run)
    if receipt.resumed:
        typer.echo(f"resumed the erasure a crash stopped ({receipt.receipt_id})")
    for asset, regions in sorted(receipt.rows_deleted.items()):
        if any(regions.values()):
            typer.echo(f"{asset:<32} " + ", ".join(f"{r} {n:,}" for r, n in regions.items()))
    for column, regions in sorted(receipt.texts_redacted.items()):
        if any(regions.values()):
            typer.echo(f"{column:<32} mentions replaced: "
                       + ", ".join(f"{r} {n:,}" for r, n in regions.items()))
    typer.echo(f"quarantine: {receipt.quarantined_deleted} record(s), mentions replaced in "
               f"{receipt.quarantined_redacted}")
    for file, records in sorted(receipt.landing_records.items()):
        typer.echo(f"landing {file}: {records} record(s)")
    if any(receipt.models_dropped.values()):
        typer.echo("kept models dropped (retrained at the next run): " + ", ".join(
            f"{r} {n}" for r, n in receipt.models_dropped.items() if n))
    if receipt.shared_values_kept:
        typer.echo(f"{receipt.shared_values_kept} of its names, emails or phones are held by "
                   "another customer too: not matched in text, as they may be that person's")
    if dry_run:
        typer.echo(f"dry run: nothing deleted ({time.monotonic() - started:.1f}s)")
        return
    typer.echo(f"remaining after erasure: {receipt.remaining}; receipt "
               f"{write_receipt(receipt)} ({time.monotonic() - started:.1f}s)")
    raise typer.Exit(0 if receipt.remaining == 0 else 1)




def quarantine(
    records: Annotated[str | None, typer.Option(
        help="Also show the records of one quarantine (a region, or `unrouted`); audited.")
                       ] = None,
    limit: Annotated[int, typer.Option(help="Records to show with --records.")] = 20,
) -> None:
    """What every quarantine holds, for governance: per region (and the unrouted one), source
    and reason, how many records and since when; --records REGION shows them."""
    from orchestration.lib.governance import audit_log
    from orchestration.lib.ingest.ledger import quarantine_summary, quarantined_records

    summary = quarantine_summary()
    for place, source, reason, count, oldest in summary:
        typer.echo(f"{place:<9} {source:<18} {count:>6,}  since {oldest:%Y-%m-%d}  {reason}")
    if not summary:
        typer.echo("every quarantine is empty")
    if records:
        shown = quarantined_records(records, limit)
        audit_log.append("quarantine.read", records, {"records": len(shown)})
        for source, file, line, reason, record in shown:
            typer.echo(f"\n{source} {file or ''}{f' line {line}' if line else ''}: {reason}\n"
                       f"  {record}")
