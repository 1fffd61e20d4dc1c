"""`steward add source` and `steward policy`: declare what is governed, check and explain
the rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

add_app = typer.Typer(help="Add to what Steward governs.", no_args_is_help=True)


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


def _evaluation():
    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.governance.audit_log import record_policy_files
    from orchestration.lib.governance.policy_adapter import project_evaluation
    from policies.rules import PolicyFileError, policies_dir

    compile_manifest()
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
