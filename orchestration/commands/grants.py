"""`steward grants`: the policy compiled into each region's PostgreSQL database."""

from __future__ import annotations

from typing import Annotated

import typer

grants_app = typer.Typer(help="The policy compiled into each region's PostgreSQL database.",
                         no_args_is_help=True)
RegionOption = Annotated[list[str] | None, typer.Option(
    "--region", help="only this region's database (repeatable); default: every region")]


def _each_database(regions: list[str] | None):
    """(region, database name, connection) for each region's PostgreSQL database."""
    from orchestration.lib.settings import postgres_dsn
    from orchestration.lib.warehouse import postgres
    from policies.regions import every_store

    for region in regions or every_store():
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
    from orchestration.lib.governance.database_grants import database_grants
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
    from orchestration.lib.governance.database_grants import enforce

    for region, _, _ in _each_database(regions):
        enforced = enforce(region)
        typer.echo(f"{region} ({enforced.database}): {len(enforced.applied)} change(s) applied")
        for change in enforced.applied:
            typer.echo(f"  {change}")
