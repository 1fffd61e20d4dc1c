"""`steward review`: the rows consumer models deferred to a person, and a reviewer's decision
on each."""

from __future__ import annotations

from typing import Annotated

import typer

review_app = typer.Typer(
    help="Rows the consumer models should not decide on (policies/review.yaml): list them "
         "(waiting by default), resolve one with your decision.", invoke_without_command=True)


def _line(item) -> str:
    state = (f"{item.decision} by {item.resolved_by}" if item.status == "resolved" else
             item.status)
    return (f"{item.model.removeprefix('consumers/')}:{item.name:<8} {item.row_key:<10} "
            f"{item.reason:<17} {state:<22} {item.detail} | {item.shown}")


@review_app.callback()
def listing(context: typer.Context,
            all_: Annotated[bool, typer.Option("--all", help="resolved and superseded items "
                                                           "too")] = False,
            model: Annotated[str, typer.Option(help="only this model, e.g. invoice_risk")] = ""
            ) -> None:
    """The items waiting for a reviewer, per model and region, oldest first."""
    if context.invoked_subcommand:
        return
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers import review

    shown = 0
    for spec in CONSUMER_MODELS:
        if model and model not in (spec.name, spec.key):
            continue
        for region in spec.regions:
            for item in review.items(spec, region, None if all_ else review.OPEN):
                typer.echo(_line(item))
                shown += 1
    if not shown:
        typer.echo("nothing waits for review" if not all_ else "nothing was sent to review yet")


@review_app.command()
def resolve(item: Annotated[str, typer.Argument(
                help="the item as `steward review` lists it, e.g. invoice_risk:eu-12")],
            decision: Annotated[str, typer.Option(
                help="what you decided for the row, e.g. 'risk_band=low' or 'queue=billing'")],
            note: Annotated[str, typer.Option(help="why")],
            by: Annotated[str, typer.Option("--by", help="who decides (default: your login "
                                                         "name)")] = "") -> None:
    """Record your decision on one deferred row. Audited as review.resolved."""
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers import review
    from orchestration.lib.governance import audit_log

    name, _, place = item.partition(":")
    region, _, number = place.rpartition("-")
    spec = next((m for m in CONSUMER_MODELS if name in (m.name, m.key)), None)
    if spec is None or region not in spec.regions or not number.isdigit():
        typer.echo(f"{item!r} names no review item: write it as `steward review` lists it, "
                   "e.g. invoice_risk:eu-12", err=True)
        raise typer.Exit(2)
    try:
        done = review.resolve(spec, region, int(number), by or audit_log.account(), decision,
                              note)
    except review.ReviewRefused as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from None
    typer.echo(_line(done))
