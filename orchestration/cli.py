"""The `steward` command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Steward: the governed data platform.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


@app.command()
def generate(
    customers: Annotated[int, typer.Option(help="Customers; other tables scale with it.")] = 1000,
    files: Annotated[int, typer.Option(help="Export files per source table.")] = 3,
    seed: Annotated[int, typer.Option(help="The same seed gives the same files.")] = 7,
    landing: Annotated[Path | None, typer.Option(help="Landing folder.")] = None,
) -> None:
    """Write the sample estate (CRM, billing, support, web) into the landing zone."""
    from orchestration.lib.estate import generate_estate
    from orchestration.lib.settings import get_settings

    target = landing or get_settings().landing_dir
    counts = generate_estate(target, customers=customers, files=files, seed=seed)
    for table, rows in counts.items():
        typer.echo(f"{table:<20} {rows:>12,} rows")
    typer.echo(f"written to {target}")


@app.command()
def run(
    customers: Annotated[int, typer.Option(help="Estate size if it must be generated.")] = 1000,
) -> None:
    """Run the whole governed pipeline once and print a summary; exit 1 if anything failed."""
    from orchestration.lib.dbt import parse_dbt_project
    from orchestration.lib.estate import estate_present, generate_estate
    from orchestration.lib.settings import get_settings

    settings = get_settings()
    if not estate_present(settings.landing_dir):
        typer.echo(f"no sample estate in {settings.landing_dir}: generating {customers} customers")
        generate_estate(settings.landing_dir, customers=customers)
    started = time.monotonic()
    parse_dbt_project()

    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.runner import format_summary, run_pipeline
    from policies.regions import region_names

    ingest_keys = [key for a in build_ingest_assets() for key in a.keys]
    success, outcomes = run_pipeline(build_definitions(), region_names(), ingest_keys)
    typer.echo(format_summary(outcomes))
    typer.echo(f"\n{'OK' if success else 'FAILED'} in {time.monotonic() - started:.1f}s "
               f"(stores in {settings.store_dir})")
    raise typer.Exit(0 if success else 1)


if __name__ == "__main__":
    app()
