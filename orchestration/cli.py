"""The `steward` command."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from orchestration.incidents_cli import incidents_app

app = typer.Typer(help="Steward: the governed data platform.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _before_any_command(context: typer.Context) -> None:
    """The warehouse and executor named are ones Steward knows, the stores, keys and
    checkpoints are their owner's alone, and a moved clock or swapped rule files are allowed in
    the test mode only, and announced."""
    from orchestration.lib.private_files import NotPrivate, ensure_private
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
) -> None:
    """Run the whole governed pipeline once and print a summary; exit 1 if anything failed."""
    from orchestration.lib import warehouse
    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.estate import estate_present, generate_estate
    from orchestration.lib.settings import get_settings

    settings = get_settings()
    _stores_answer()
    if not estate_present(settings.landing_dir):
        typer.echo(f"no sample estate in {settings.landing_dir}: generating {customers} customers")
        generate_estate(settings.landing_dir, customers=customers)
    started = time.monotonic()
    parse_dbt_project()
    from orchestration.lib.audit_log import record_policy_files
    from policies.rules import policies_dir

    record_policy_files(policies_dir())

    success = _run_pipeline()
    typer.echo(f"\n{'OK' if success else 'FAILED'} in {time.monotonic() - started:.1f}s "
               f"({_where_the_stores_are()})")
    try:
        typer.echo(f"governance report: {_write_report()}")
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
    from orchestration.lib import audit_log, warehouse
    from policies.regions import region_names

    try:
        for path in (audit_log.audit_store(), *map(warehouse.store_path, region_names())):
            warehouse.exists(path)
    except (warehouse.StoreUnreachable, warehouse.LoginRefused) as unreachable:
        typer.echo(str(unreachable), err=True)
        raise typer.Exit(2) from None


def _write_report() -> Path:
    from orchestration.lib.report.site import write_report
    from orchestration.lib.settings import get_settings

    return write_report(get_settings().data_dir / "reports")


@app.command()
def report() -> None:
    """Write the governance report (data/reports/index.html: catalog, lineage, access,
    retention, quality, audit) and the data-quality page beside it."""
    from orchestration.lib.dbt import parse_dbt_project

    parse_dbt_project()
    typer.echo(f"written {_write_report()}")


add_app = typer.Typer(help="Add to what Steward governs.", no_args_is_help=True)
app.add_typer(add_app, name="add")


@add_app.command("source")
def add_source(
    name: Annotated[str, typer.Argument(help="The source system, e.g. erp")],
    table: Annotated[str, typer.Option(help="The table its exports hold, e.g. orders")],
    format: Annotated[str, typer.Option("--format", help="csv, parquet or jsonl")],
    sample: Annotated[Path, typer.Option("--from", help="A sample export to infer it from",
                                         exists=True, dir_okay=False)],
) -> None:
    """Declare a source table from a sample export: its block in the dbt sources, a staging
    model and an expectation suite. Owner and retention are left TODO for you to declare;
    `steward policy check` then says what is left."""
    from orchestration.lib.scaffold import ScaffoldError
    from orchestration.lib.scaffold import add_source as scaffold

    try:
        added = scaffold(name, table, format, sample)
    except (ScaffoldError, ValueError) as error:
        typer.echo(f"not added: {error}", err=True)
        raise typer.Exit(2) from None
    for column, (data_type, level) in added.columns.items():
        role = {added.primary_key: "primary key", added.route_by: "routes rows to regions",
                added.event_time: "event time (retention)"}.get(column, "")
        typer.echo(f"  {column:<24} {data_type:<16} {level:<12} {role}")
    typer.echo("written:\n" + "\n".join(f"  {path}" for path in added.written))
    typer.echo(f"next: set owner and retention (TODO) in {added.written[0].name}, check the "
               "proposed classifications, then run `steward policy check`; exports land in "
               f"data/landing/{name}/{table}/")


policy_app = typer.Typer(help="Check and explain the rules of policies/.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _evaluation():
    from orchestration.lib.audit_log import record_policy_files
    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.policy_adapter import project_evaluation
    from policies.rules import PolicyFileError, policies_dir

    parse_dbt_project()
    try:
        evaluation = project_evaluation()
    except PolicyFileError as error:
        typer.echo(f"policy files are invalid: {error}", err=True)
        raise typer.Exit(2) from None
    record_policy_files(policies_dir())
    return evaluation


@policy_app.command("check")
def policy_check() -> None:
    """Evaluate every asset and consumer; exit 1 on any violation, with how to fix it."""
    from policies.report import format_check

    evaluation = _evaluation()
    typer.echo(format_check(evaluation))
    raise typer.Exit(0 if evaluation.ok else 1)


@policy_app.command("explain")
def policy_explain(
    target: Annotated[str, typer.Argument(help="ASSET or ASSET.COLUMN, e.g. "
                                                "marts/customer_features.customer_id")],
) -> None:
    """Why an asset (or column) has each tag, with the lineage path that gave it."""
    from policies.report import format_explain

    evaluation = _evaluation()
    asset, _, column = target.partition(".")
    if asset not in evaluation.effective:
        typer.echo(f"unknown asset {asset!r}; known: {', '.join(sorted(evaluation.effective))}",
                   err=True)
        raise typer.Exit(2)
    try:
        typer.echo(format_explain(evaluation.effective, asset, column or None))
    except KeyError as error:
        typer.echo(error.args[0], err=True)
        raise typer.Exit(2) from None
    for violation in evaluation.for_asset(asset):
        typer.echo(f"  violation: {violation.rule} {violation.where()}: {violation.message}")


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

    from orchestration.lib.read_service import ServiceRefused, fetch
    from orchestration.lib.safe_output import STDOUT, OutputRefused, check_output, opened_output
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
    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.read_service import service

    parse_dbt_project()
    server = service(host, port)
    typer.echo(f"serving governed reads on http://{host}:{server.server_address[1]}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


deployment_app = typer.Typer(help="Steward as a Dagster deployment teams share.",
                             no_args_is_help=True)
app.add_typer(deployment_app, name="deployment")


@deployment_app.command("start")
def deployment_start(
    host: Annotated[str, typer.Option(help="Address of the Dagster UI.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    workers: Annotated[int, typer.Option(help="Celery workers, with STEWARD_EXECUTOR=celery."
                                         )] = 2,
) -> None:
    """Start Dagster's webserver, daemon and (with STEWARD_EXECUTOR=celery) Celery workers over
    the instance in DAGSTER_HOME; they run until interrupted, and stop together."""
    from orchestration.lib.deployment import processes
    from orchestration.lib.settings import get_settings

    try:
        home = processes.prepare_home()
    except processes.NotConfigured as missing:
        typer.echo(str(missing), err=True)
        raise typer.Exit(2) from None
    planned = processes.plan(home, host, port, workers)
    settings = get_settings()
    steps = (f"on {workers} Celery workers ({settings.celery_broker})"
             if settings.executor == "celery" else "in each run's process")
    typer.echo(f"Dagster UI on http://{host}:{port}, instance {home / 'dagster.yaml'}, steps "
               f"{steps}; submit with STEWARD_DAGSTER_URL=http://{host}:{port} steward run",
               err=True)
    raise typer.Exit(processes.serve(planned, say=lambda line: typer.echo(line, err=True)))


consumer_app = typer.Typer(help="Credentials of the automation teams that read.",
                           no_args_is_help=True)
app.add_typer(consumer_app, name="consumer")


@consumer_app.command("token")
def consumer_token(
    name: Annotated[str, typer.Argument(help="A consumer of policies/consumers.yaml.")],
    days: Annotated[float, typer.Option(help="How long the token lives.")] = 30,
) -> None:
    """Issue a token for one consumer: printed once on stdout (only its digest is kept), so
    `export STEWARD_TOKEN=$(steward consumer token NAME)` works. Audited."""
    from datetime import timedelta

    from orchestration.lib.credentials import issue

    try:
        issued = issue(name, timedelta(days=days))
    except (KeyError, ValueError) as error:
        typer.echo(f"not issued: {error.args[0]}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"token {issued.token_id} for {issued.consumer}, valid until "
               f"{issued.expires_at:%Y-%m-%d %H:%M} UTC; keep it secret", err=True)
    typer.echo(issued.token)


@consumer_app.command("tokens")
def consumer_tokens() -> None:
    """Every token issued: id, consumer, when issued, until when, whether revoked."""
    from orchestration.lib.credentials import credentials
    from orchestration.lib.settings import current_time

    now = current_time()
    for c in credentials():
        state = c.ended(now) or "active"
        typer.echo(f"{c.token_id}  {c.consumer:<20} issued {c.issued_at:%Y-%m-%d %H:%M}  "
                   f"expires {c.expires_at:%Y-%m-%d %H:%M}  {state}")


@consumer_app.command("revoke")
def consumer_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (steward consumer tokens).")],
) -> None:
    """Revoke a token: the service refuses it from the next request. Audited."""
    from orchestration.lib.credentials import revoke

    try:
        revoked = revoke(token_id)
    except KeyError as error:
        typer.echo(error.args[0], err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked token {token_id} of {revoked.consumer}")


retention_app = typer.Typer(help="Delete what has outlived its retention.",
                            no_args_is_help=True)
app.add_typer(retention_app, name="retention")


def _run_pipeline() -> bool:
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.deployment.submit import Deployment, DeploymentUnreachable
    from orchestration.lib.runner import format_summary, run_pipeline
    from orchestration.lib.settings import get_settings
    from policies.regions import region_names

    defs = build_definitions()
    ingest_keys = [key for a in build_ingest_assets() for key in a.keys]
    url = get_settings().dagster_url
    try:
        launcher = Deployment(url, defs, say=typer.echo) if url else None
        success, outcomes = run_pipeline(defs, region_names(), ingest_keys, launcher)
    except DeploymentUnreachable as unreachable:
        typer.echo(str(unreachable), err=True)
        raise typer.Exit(2) from None
    typer.echo(format_summary(outcomes))
    return success


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

    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.retention import format_purge, purge

    if as_of and not dry_run:
        typer.echo("--as-of previews: it needs --dry-run", err=True)
        raise typer.Exit(2)
    parse_dbt_project()
    started = time.monotonic()
    report = purge(dry_run=dry_run, as_of=datetime.fromisoformat(as_of) if as_of else None)
    typer.echo(format_purge(report))
    typer.echo(f"\n{report.rows:,} rows {'to delete' if dry_run else 'deleted'} in "
               f"{time.monotonic() - started:.1f}s")
    if not dry_run and rebuild:
        typer.echo("\nrebuilding derived assets from the purged inputs")
        raise typer.Exit(0 if _run_pipeline() else 1)


@app.command()
def erase(
    subject: Annotated[str, typer.Option(help="The customer_id of the person to erase.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would go.")
                       ] = False,
) -> None:
    """Erase one customer everywhere (rows found through lineage and keys, mentions of its
    identifiers in any text, quarantined records, landing files, models trained on its region),
    registered first so no load brings them back and a rerun finishes an erasure a crash
    stopped; verify nothing remains and write a receipt. Exit 1 if anything remains."""
    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.erasure import erase as erase_subject
    from orchestration.lib.erasure import write_receipt

    parse_dbt_project()
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


@app.command()
def slo() -> None:
    """Measure every shared dataset's SLIs from the Dagster history in DAGSTER_HOME (success
    rate, latency p50/p95, freshness lag, check pass rate) against policies/slos.yaml; store
    them and alert on breaches. Exit 1 on any breach."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.lib.settings import get_settings
    from orchestration.lib.slis import measure, record

    # The history `make run` and `make ui` keep (the Makefile's DAGSTER_HOME) unless told.
    home = Path(os.environ.get("DAGSTER_HOME") or get_settings().data_dir / "dagster")
    if not home.is_dir():
        typer.echo(f"no Dagster history in {home}: run `make run` first, or set DAGSTER_HOME",
                   err=True)
        raise typer.Exit(2)
    instance = dg.DagsterInstance.from_config(str(home))
    readings = measure(instance, build_definitions().resolve_asset_graph())
    record(readings)

    def shown(value, unit=""):
        return "-" if value is None else f"{value:.2f}{unit}"

    for r in readings:
        typer.echo(f"{r.dataset:<26} runs {r.runs:>3}  success {shown(r.success_rate)}  "
                   f"p50 {shown(r.latency_p50_seconds, 's')}  p95 "
                   f"{shown(r.latency_p95_seconds, 's')}  lag {shown(r.freshness_lag_hours, 'h')}"
                   f"  checks {shown(r.check_pass_rate)}  "
                   f"{'BREACH: ' + '; '.join(r.breaches) if r.breaches else 'ok'}")
    raise typer.Exit(1 if any(r.breaches for r in readings) else 0)


@app.command()
def quarantine(
    records: Annotated[str | None, typer.Option(
        help="Also show the records of one quarantine (a region, or `unrouted`); audited.")
                       ] = None,
    limit: Annotated[int, typer.Option(help="Records to show with --records.")] = 20,
) -> None:
    """What every quarantine holds, for governance: per region (and the unrouted one), source
    and reason, how many records and since when; --records REGION shows them."""
    from orchestration.lib import audit_log
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


app.add_typer(incidents_app, name="incidents")
keys_app = typer.Typer(help="Steward's own keys, one per purpose.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate(
    purpose: Annotated[str, typer.Argument(help="audit, models or pseudonym")],
) -> None:
    """Replace one purpose's key: the audit log verifies across it, kept models are signed
    again, pseudonyms change from the next read. Audited."""
    from orchestration.lib.key_rotation import rotate_key

    try:
        typer.echo(rotate_key(purpose))
    except ValueError as refused:
        typer.echo(f"not rotated: {refused}", err=True)
        raise typer.Exit(2) from None


grants_app = typer.Typer(help="The policy compiled into each region's PostgreSQL database.",
                         no_args_is_help=True)
app.add_typer(grants_app, name="grants")
RegionOption = Annotated[list[str] | None, typer.Option(
    "--region", help="only this region's database (repeatable); default: every region")]


def _each_database(regions: list[str] | None):
    """(region, database name, connection) for each region's PostgreSQL database."""
    from orchestration.lib.settings import postgres_dsn
    from orchestration.lib.warehouse import postgres
    from policies.regions import GLOBAL_REGION, region_names

    for region in regions or [*region_names(), GLOBAL_REGION]:
        dsn = postgres_dsn(region)
        if not postgres.exists(dsn):
            typer.echo(f"{region}: no database answers at {dsn.split('@')[-1]}; set "
                       f"STEWARD_PG_DSN_{region.upper()} or the STEWARD_PG_DSN template",
                       err=True)
            raise typer.Exit(1)
        with postgres.write_connection(dsn) as con:
            [(database,)] = con.execute("SELECT current_database()").fetchall()
            yield region, database, con


@grants_app.command("plan")
def grants_plan(regions: RegionOption = None,
                check: Annotated[bool, typer.Option(help="exit 1 when anything differs")] = False,
                ) -> None:
    """What each database grants beyond, or short of, what the policy implies (+ to add,
    - to take away); a manual GRANT shows here as drift."""
    from orchestration.lib.database_grants import database_grants
    from orchestration.lib.warehouse import grants

    drift = False
    for region, database, con in _each_database(regions):
        changes = grants.plan(con, database, database_grants(con, region))
        drift |= bool(changes)
        typer.echo(f"{region} ({database}): " + ("as the policy implies" if not changes
                                                   else f"{len(changes)} change(s)"))
        for change in changes:
            typer.echo(f"  {change}")
    raise typer.Exit(1 if check and drift else 0)


@grants_app.command("apply")
def grants_apply(regions: RegionOption = None) -> None:
    """Make each database grant exactly what the policy implies (roles, CONNECT, column
    grants, masking views, row security), and say what changed. Audited."""
    from orchestration.lib.database_grants import enforce

    for region, _, _ in _each_database(regions):
        enforced = enforce(region)
        typer.echo(f"{region} ({enforced.database}): {len(enforced.applied)} change(s) applied")
        for change in enforced.applied:
            typer.echo(f"  {change}")


metrics_app = typer.Typer(help="Platform metrics: dbt models over Steward's own telemetry.",
                          no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("show")
def metrics_show(
    runs: Annotated[int, typer.Option(help="How many of the latest runs to list.")] = 10,
) -> None:
    """Per source, per consumer, before/after each baseline, and the latest runs, as the last
    `make run` (or the hourly schedule) built them in the global store."""
    from orchestration.lib.metrics import format_table, read_metrics

    found = read_metrics()
    if not found:
        typer.echo("no platform metrics yet: run `make run` first", err=True)
        raise typer.Exit(2)
    for table, (columns, rows) in found.items():
        shown = rows[-runs:] if table == "run_metrics" else rows
        typer.echo(f"\n{table}\n{format_table(columns, shown)}")


@metrics_app.command("baseline")
def metrics_baseline(
    label: Annotated[str, typer.Argument(help="What the baseline marks, e.g. 'before dedup'.")],
) -> None:
    """Pin now as a baseline: from the next `make run` on, `baseline_comparison` compares the
    runs before it with the runs after it."""
    from orchestration.lib.telemetry import pin_baseline

    typer.echo(f"baseline {label!r} pinned at {pin_baseline(label):%Y-%m-%d %H:%M:%S}")


lineage_app = typer.Typer(help="Lineage for other tools.", no_args_is_help=True)
app.add_typer(lineage_app, name="lineage")


@lineage_app.command("export")
def lineage_export(target: Annotated[Path, typer.Argument(help="JSON lines file to write")]
                   ) -> None:
    """Write OpenLineage run events (schema, column lineage, classifications as tags,
    ownership, data-quality assertions) for every built asset and region."""
    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.openlineage import export_events

    parse_dbt_project()
    typer.echo(f"{export_events(target)} OpenLineage events written to {target}")


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole chain; exit 1 naming every entry that was edited, removed or moved."""
    from orchestration.lib.audit_log import audit_store, verify_log

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
    from orchestration.lib.database_audit import collect
    from orchestration.lib.warehouse import postgres
    from orchestration.lib.warehouse.pgaudit import AuditNotReady
    from policies.regions import GLOBAL_REGION, region_names

    try:
        collected = collect(regions or [*region_names(), GLOBAL_REGION])
    except (AuditNotReady, postgres.Error) as refused:
        typer.echo(f"not collected: {str(refused).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    for server, reads in collected.items():
        typer.echo(f"{server}: {reads} audited read(s) collected")


@audit_app.command("export")
def audit_export(target: Annotated[Path, typer.Argument(help="JSON lines file to write")]) -> None:
    """Write every entry as one JSON object per line."""
    from orchestration.lib.audit_log import export_jsonl

    typer.echo(f"{export_jsonl(target)} entries written to {target}")


if __name__ == "__main__":
    app()
