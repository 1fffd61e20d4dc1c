"""The `steward` command."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from orchestration.commands import (
    audit,
    consumers,
    drift,
    grants,
    incidents,
    lifecycle,
    operations,
    policy,
    recovery,
    review,
)
from orchestration.commands.pipeline import run_whole_pipeline

app = typer.Typer(help="Steward: the governed data platform.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _before_any_command(context: typer.Context) -> None:
    """The warehouse and executor named are ones Steward knows, the stores, keys and
    checkpoints are their owner's alone, and a moved clock or swapped rule files are allowed in
    the test mode only, and announced."""
    from orchestration.lib.security.private_files import NotPrivate, ensure_private
    from orchestration.lib.settings import get_settings
    from policies import overrides

    try:
        get_settings()  # an unknown warehouse or executor stops every command, saying the choices
        in_force = overrides.active()
        tightened = ensure_private()
    except (NotPrivate, overrides.OverrideRefused, ValueError) as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(2) from None
    for name, value in in_force.items():
        typer.echo(f"TEST MODE: {name}={value} is in force; every audit entry names it",
                   err=True)
    if tightened:
        typer.echo(f"made {len(tightened)} file(s) and folder(s) readable by their owner only, "
                   f"e.g. {tightened[0]}", err=True)


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="Customers; other tables scale with it.")] = 1000,
    files: Annotated[int, typer.Option(help="Export files per source table.")] = 3,
    seed: Annotated[int, typer.Option(help="The same seed and as-of day give the same files.")
                    ] = 7,
    landing: Annotated[Path | None, typer.Option(help="Landing folder.")] = None,
    as_of: Annotated[str | None, typer.Option(help="The day the exports are taken, e.g. "
                                                   "2026-11-01 (default today).")] = None,
) -> None:
    """Write the sample estate (CRM, billing, support, web) into the landing zone."""
    from datetime import datetime

    from orchestration.lib.estate import generate_estate
    from orchestration.lib.settings import get_settings

    target = landing or get_settings().landing_dir
    counts = generate_estate(target, customers=customers, files=files, seed=seed,
                             as_of=datetime.fromisoformat(as_of) if as_of else None)
    for table, rows in counts.items():
        typer.echo(f"{table:<20} {rows:>12,} rows")
    typer.echo(f"written to {target}")


@app.command()
def run(
    customers: Annotated[int, typer.Option(help="Estate size if it must be generated.")] = 1000,
    force: Annotated[bool, typer.Option(help="Run even when nothing changed since the last "
                                             "healthy run.")] = False,
) -> None:
    """Run the whole governed pipeline once and print a summary; exit 1 if anything failed.
    Skipped when nothing it reads changed since the last healthy run (embedded stores)."""
    from orchestration.lib import warehouse
    from orchestration.lib.estate import estate_present, generate_estate
    from orchestration.lib.operations import last_run
    from orchestration.lib.settings import get_settings

    settings = get_settings()
    _stores_answer()
    if not estate_present(settings.landing_dir):
        typer.echo(f"no sample estate in {settings.landing_dir}: generating {customers} customers")
        generate_estate(settings.landing_dir, customers=customers)
    report = _report_folder() / "index.html"
    if not force and report.exists() and (since := last_run.unchanged_since()):
        typer.echo(f"nothing changed since the healthy run that ended {since:%Y-%m-%d %H:%M} UTC "
                   "(landing files, stores, rules, code, settings and the hour are as it left "
                   "them): skipped; --force runs anyway")
        typer.echo(f"governance report: {report}")
        raise typer.Exit(0)
    from orchestration.lib.consumers.preload import preload_for_skops

    preload_for_skops()  # before dbt and Dagster: not for a skip
    from orchestration.lib.dbt_manifest import compile_manifest

    started = time.monotonic()
    compile_manifest()
    from orchestration.lib.governance.audit_log import record_policy_files
    from policies.rules import policies_dir

    record_policy_files(policies_dir())

    success = run_whole_pipeline()
    typer.echo(f"\n{'OK' if success else 'FAILED'} in {time.monotonic() - started:.1f}s "
               f"({_where_the_stores_are()})")
    try:
        typer.echo(f"governance report: {_write_report()}")
        if success:  # what a skipped run would show is all there
            last_run.record_healthy_run()
    except warehouse.Error as error:
        typer.echo(f"report not written: {str(error).splitlines()[0]}", err=True)
    raise typer.Exit(0 if success else 1)


def _where_the_stores_are() -> str:
    """The store folder, or on PostgreSQL the regions' databases and their server."""
    from orchestration.lib import warehouse
    from orchestration.lib.settings import get_settings
    from policies.regions import region_names

    settings = get_settings()
    if settings.warehouse == "duckdb":
        return f"stores in {settings.store_dir}"
    addresses = [warehouse.lineage_address(warehouse.store_path(r)) for r in region_names()]
    databases = ", ".join(database.rstrip(".") for _, database in addresses)
    return f"stores in the databases {databases} on {addresses[0][0]}"


def _stores_answer() -> None:
    """Stop before any work when the stores' server does not answer, saying where it looked."""
    from orchestration.lib import warehouse
    from orchestration.lib.governance import audit_log
    from policies.regions import region_names

    try:
        for path in (audit_log.audit_store(), *map(warehouse.store_path, region_names())):
            warehouse.exists(path)
    except (warehouse.StoreUnreachable, warehouse.LoginRefused) as unreachable:
        typer.echo(str(unreachable), err=True)
        raise typer.Exit(2) from None


def _report_folder() -> Path:
    from orchestration.lib.settings import get_settings

    return get_settings().data_dir / "reports"


def _write_report() -> Path:
    from orchestration.lib.report.site import write_report

    return write_report(_report_folder())


@app.command()
def report() -> None:
    """Write the governance report (data/reports/index.html: catalog, lineage, access,
    retention, quality, audit) and the data-quality page beside it."""
    from orchestration.lib.consumers.preload import preload_for_skops

    preload_for_skops()  # the report loads the kept models
    from orchestration.lib.dbt_manifest import compile_manifest

    compile_manifest()
    typer.echo(f"written {_write_report()}")


@app.command()
def read(
    dataset: Annotated[str, typer.Argument(help="Asset key, e.g. marts/customer_features")],
    token_file: Annotated[Path | None, typer.Option(
        help="File holding the consumer's token (default: $STEWARD_TOKEN).")] = None,
    out: Annotated[str | None, typer.Option(
        help="Write the rows to this new Parquet file (mode 0600), or `-` for stdout.")] = None,
    force: Annotated[bool, typer.Option(help="Let --out replace an existing file.")] = False,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns (default all).")
                       ] = None,
    region: Annotated[list[str] | None, typer.Option(help="Only this region (repeatable).")
                      ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print when no --out is given.")] = 10,
) -> None:
    """Read a dataset from the governed read service ($STEWARD_READ_SERVICE) as the consumer
    your token proves: denied (exit 2) with the reason, or filtered to its regions with columns
    above its clearance masked. Every read is audited."""
    import json

    import pyarrow.parquet as pq

    from orchestration.lib.governance.read_service import ServiceRefused, fetch
    from orchestration.lib.security.safe_output import (
        STDOUT,
        OutputRefused,
        check_output,
        opened_output,
    )
    from orchestration.lib.settings import get_settings

    if out:
        try:
            check_output(out, force)  # before reading: a read that cannot be delivered is none
        except OutputRefused as refused:
            typer.echo(f"--out refused: {refused}", err=True)
            raise typer.Exit(2) from None
    token = (token_file.read_text(encoding="utf-8").strip() if token_file
             else os.environ.get("STEWARD_TOKEN"))
    try:
        table = fetch(get_settings().read_service, token, dataset,
                      columns.split(",") if columns else None, region or None)
    except ServiceRefused as refused:
        typer.echo(str(refused) if refused.status != 401 else f"not authenticated: {refused}",
                   err=True)
        raise typer.Exit(2 if refused.status in (401, 403) else 1) from None  # 2: refused
    decision = json.loads(table.schema.metadata[b"steward.decision"])
    masked = {c["name"]: c["action"] for c in decision["columns"] if c["action"] != "pass"}
    to_stderr = out == STDOUT  # stdout carries the Parquet bytes and nothing else
    typer.echo(f"allowed: {decision['consumer']} reads {dataset} from "
               f"{', '.join(decision['regions'])}: {table.num_rows:,} rows; masked: "
               f"{', '.join(f'{k} ({v})' for k, v in masked.items()) or 'nothing'}",
               err=to_stderr)
    if decision["suppressed"]:
        typer.echo(f"left out: {', '.join(decision['suppressed'])} (few values, each repeated: "
                   "a keyed hash of them is reversible by counting; name them to see why)",
                   err=to_stderr)
    for where, mark in json.loads(table.schema.metadata[b"steward.stale"]).items():
        typer.echo(f"stale in {where} since {mark['since']}: {mark['reason']}", err=True)
    if out:
        with opened_output(out, force) as handle:
            pq.write_table(table, handle)
        typer.echo(f"written to {out}", err=to_stderr)
    else:
        typer.echo(table.slice(0, limit).to_pandas().to_string(index=False, max_colwidth=60))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default; put a "
                                           "TLS terminator in front for other machines).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8470,
) -> None:
    """Serve governed reads over HTTP: each consumer authenticates with its own token and reads
    as that consumer only (GET /v1/datasets/<source>/<table>)."""
    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.governance.read_service import serve_until_stopped, service

    compile_manifest()
    server = service(host, port)
    typer.echo(f"serving governed reads on http://{host}:{server.server_address[1]}", err=True)
    serve_until_stopped(server)


# The subcommands, in the order `steward --help` lists them.
app.add_typer(policy.add_app, name="add")
app.add_typer(policy.policy_app, name="policy")
app.add_typer(operations.deployment_app, name="deployment")
app.add_typer(consumers.consumer_app, name="consumer")
app.add_typer(lifecycle.retention_app, name="retention")
app.command()(lifecycle.erase)
app.command()(operations.slo)
app.command()(lifecycle.quarantine)
app.add_typer(incidents.incidents_app, name="incidents")
app.add_typer(drift.drift_app, name="drift")
app.add_typer(review.review_app, name="review")
app.add_typer(audit.keys_app, name="keys")
app.add_typer(grants.grants_app, name="grants")
app.add_typer(operations.metrics_app, name="metrics")
app.add_typer(operations.lineage_app, name="lineage")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(recovery.backup_app, name="backup")
app.command()(recovery.restore)


def main() -> None:
    """The `steward` command, ending without a walk over everything it loaded."""
    try:
        app()
    finally:
        # On exit Python collects garbage over every object still alive, some 1.5 s once dbt,
        # Dagster and Great Expectations are loaded. Frozen, they go with the process.
        gc.freeze()


if __name__ == "__main__":
    main()
