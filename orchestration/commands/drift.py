"""`steward drift`: how far each consumer model's population has moved, and a person's word
that a drift holding a model back is understood and it may score again."""

from __future__ import annotations

from typing import Annotated

import typer

drift_app = typer.Typer(
    help="Drift of the consumer models: the last measure per model and region, and accepting "
         "a drift that holds a model back.", invoke_without_command=True)


@drift_app.callback()
def listing(context: typer.Context) -> None:
    """Each watched model and region: when it last scored, its worst input, and its level."""
    if context.invoked_subcommand:
        return
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers import drift, kept
    from policies.drift import verdict
    from policies.rules import load_rules

    rules = load_rules()
    typer.echo(f"{'model':<26} {'region':<7} {'measured':<16} {'level':<10} worst input (PSI)")
    for model in CONSUMER_MODELS:
        watch = rules.drift.get(model.key)
        for region in model.regions if watch else ():
            measured = drift.latest(model.key, region)
            if measured is None:
                typer.echo(f"{model.key:<26} {region:<7} {'never':<17}")
                continue
            judged = verdict(watch, measured.psi, measured.rows, rules.drift_min_rows)
            found = kept.load(model.name, region)
            acceptance = found and drift.accepted(model.key, region, found.trained_at)
            typer.echo(f"{model.key:<26} {region:<7} {measured.at:%Y-%m-%d %H:%M} "
                       f"{judged.level:<10} {judged.worst or '-'} ({judged.psi:.3f})"
                       + (f"  accepted up to {acceptance.up_to_psi:.3f} by "
                          f"{acceptance.accepted_by}" if acceptance else ""))


@drift_app.command()
def accept(model: Annotated[str, typer.Argument(help="the consumer model, e.g. "
                                                     "consumers/invoice_risk")],
           region: Annotated[str, typer.Option(help="the region it is held back in")],
           note: Annotated[str, typer.Option(help="why the drift is acceptable")],
           up_to: Annotated[float | None, typer.Option(
               "--up-to", help="the PSI it may reach (default: the worst measured)")] = None,
           by: Annotated[str, typer.Option("--by", help="who accepts (default: your login "
                                                        "name)")] = "") -> None:
    """Let a model held back by drift score again: up to the drift measured (or --up-to),
    until it is retrained. Audited as drift.accepted."""
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers import drift, kept
    from orchestration.lib.governance import audit_log
    from policies.rules import load_rules

    watch = load_rules().drift.get(model)
    spec = next((m for m in CONSUMER_MODELS if m.key == model), None)
    if watch is None or spec is None or region not in spec.regions:
        typer.echo(f"{model} in {region} is not a watched consumer model; see `steward drift`",
                   err=True)
        raise typer.Exit(2)
    found = kept.load(spec.name, region)
    try:
        if found is None:
            raise drift.NothingToAccept(f"{model} keeps no model in {region}: nothing to accept")
        done = drift.accept(watch, region, found.trained_at, by or audit_log.account(), note,
                            up_to)
    except drift.NothingToAccept as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{model} in {region} may score with drift up to PSI {done.up_to_psi:.3f} until "
               f"retrained (the model trained {found.trained_at:%Y-%m-%d %H:%M}); accepted by "
               f"{done.accepted_by}")
