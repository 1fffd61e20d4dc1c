"""`steward incidents`: the on-call's view of what alerts opened, and their hand on it."""

from __future__ import annotations

from typing import Annotated

import typer

incidents_app = typer.Typer(
    help="Incidents the alerts opened: list them (unresolved by default), show one with its "
         "timeline, acknowledge, resolve.", invoke_without_command=True)

IncidentArgument = Annotated[str, typer.Argument(help="the incident, e.g. INC-12 or 12")]
ByOption = Annotated[str, typer.Option("--by", help="who acts (default: your login name)")]


def _number(incident: str) -> int:
    digits = incident.upper().removeprefix("INC-")
    if not digits.isdigit():
        typer.echo(f"{incident!r} names no incident: write INC-12 or 12", err=True)
        raise typer.Exit(2)
    return int(digits)


def _line(incident) -> str:
    return (f"{incident.name:<8} {incident.status:<12} {incident.severity:<8} "
            f"{incident.kind:<16} opened {incident.opened_at:%Y-%m-%d %H:%M}  "
            f"alerts {incident.occurrences:<3} {incident.title}")


@incidents_app.callback()
def listing(context: typer.Context, all_: Annotated[bool, typer.Option(
        "--all", help="resolved incidents too")] = False) -> None:
    """Unresolved incidents, oldest first (with --all, every one)."""
    if context.invoked_subcommand:
        return
    from orchestration.lib.operations import incidents

    found = incidents.listed(include_resolved=all_)
    typer.echo(f"{'incident':<8} {'status':<12} {'severity':<8} {'kind':<16} when, alerts, "
               "what")
    for incident in found:
        typer.echo(_line(incident))
    if not found:
        typer.echo("no unresolved incident" if not all_ else "no incident yet")


def _acting(action, *args):
    """Run an incident action and print the incident it returns, or say why it was refused."""
    from orchestration.lib.operations import incidents

    try:
        incident = action(*args)
    except (incidents.IncidentClosed, incidents.IncidentNotFound) as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from None
    typer.echo(_line(incident))
    if incident.postmortem:
        typer.echo(f"postmortem to complete: {incident.postmortem}")
    return incident


@incidents_app.command()
def show(incident: IncidentArgument) -> None:
    """One incident: what the alert said, its runbook, its postmortem, and its timeline."""
    from orchestration.lib.operations import incidents, postmortems

    number = _number(incident)
    found = _acting(incidents.get, number)
    for name, value in found.details.items():
        typer.echo(f"{name}: {postmortems.shown(value)}")
    typer.echo(f"runbook: {found.runbook}\ntimeline (UTC):")
    for event in incidents.timeline(number):
        typer.echo(f"  {event.at:%Y-%m-%d %H:%M:%S}  {event.event:<14} {event.actor:<20} "
                   f"{event.note}")


@incidents_app.command()
def ack(incident: IncidentArgument, by: ByOption = "",
        note: Annotated[str, typer.Option(help="what you are doing about it")] = "") -> None:
    """Acknowledge: you are on it. Audited."""
    from orchestration.lib.governance import audit_log
    from orchestration.lib.operations import incidents

    _acting(incidents.acknowledge, _number(incident), by or audit_log.account(), note)


@incidents_app.command()
def resolve(incident: IncidentArgument,
            note: Annotated[str, typer.Option(help="what fixed it, or why it needs no fix")],
            by: ByOption = "") -> None:
    """Resolve by hand, for a condition Steward cannot see clear itself (a failed run nobody
    will rerun, say); a healthy run resolves the others. Audited; an error or worse gets a
    postmortem to complete."""
    from orchestration.lib.governance import audit_log
    from orchestration.lib.operations import incidents

    _acting(incidents.resolve, _number(incident), by or audit_log.account(), note)
