"""`steward deployment`, `steward slo`, `steward metrics` and `steward lineage`: running
Steward and watching how it runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

deployment_app = typer.Typer(help="Steward as a Dagster deployment teams share.",
                             no_args_is_help=True)


@deployment_app.command("start")
def deployment_start(
    host: Annotated[str, typer.Option(help="Address of the Dagster UI.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    workers: Annotated[int, typer.Option(help="Celery workers, with STEWARD_EXECUTOR=celery."
                                         )] = 2,
) -> None:
    """Start a code server, Dagster's webserver and daemon and (with STEWARD_EXECUTOR=celery)
    Celery workers over the instance in DAGSTER_HOME; they run until interrupted, and stop
    together."""
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




def slo() -> None:
    """Measure every shared dataset's SLIs from the Dagster history in DAGSTER_HOME (success
    rate, latency p50/p95, freshness lag, check pass rate) against policies/slos.yaml; store
    them and alert on breaches. Exit 1 on any breach."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.lib.operations.slis import measure, record
    from orchestration.lib.settings import get_settings

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




metrics_app = typer.Typer(help="Platform metrics: dbt models over Steward's own telemetry.",
                          no_args_is_help=True)


@metrics_app.command("show")
def metrics_show(
    runs: Annotated[int, typer.Option(help="How many of the latest runs to list.")] = 10,
) -> None:
    """Per source, per consumer, before/after each baseline, and the latest runs, as the last
    `make run` (or the hourly schedule) built them in the global store."""
    from orchestration.lib.operations.metrics import HISTORIES, format_table, read_metrics

    found = read_metrics()
    if not found:
        typer.echo("no platform metrics yet: run `make run` first", err=True)
        raise typer.Exit(2)
    for table, (columns, rows) in found.items():
        shown = rows[-runs:] if table in HISTORIES else rows
        typer.echo(f"\n{table}\n{format_table(columns, shown)}")


@metrics_app.command("baseline")
def metrics_baseline(
    label: Annotated[str, typer.Argument(help="What the baseline marks, e.g. 'before dedup'.")],
) -> None:
    """Pin now as a baseline: from the next `make run` on, `baseline_comparison` compares the
    runs before it with the runs after it."""
    from orchestration.lib.operations.telemetry import pin_baseline

    typer.echo(f"baseline {label!r} pinned at {pin_baseline(label):%Y-%m-%d %H:%M:%S}")




lineage_app = typer.Typer(help="Lineage for other tools.", no_args_is_help=True)


@lineage_app.command("export")
def lineage_export(target: Annotated[Path, typer.Argument(help="JSON lines file to write")]
                   ) -> None:
    """Write OpenLineage run events (schema, column lineage, classifications as tags,
    ownership, data-quality assertions) for every built asset and region."""
    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.operations.openlineage import export_events

    compile_manifest()
    typer.echo(f"{export_events(target)} OpenLineage events written to {target}")
