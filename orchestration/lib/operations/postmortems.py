"""A blameless postmortem for a resolved incident: what Steward knows filled in (when, what,
where, the timeline, the runbook), and the questions only the people involved can answer left
as prompts. It asks what in the system let the failure happen, never who caused it.

Written once, to `<data>/postmortems/`: the team edits the file and keeps it; Steward never
writes over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.lib.settings import get_settings

if TYPE_CHECKING:
    from orchestration.lib.operations.incidents import Event, Incident


def folder() -> Path:
    return get_settings().data_dir / "postmortems"


def handled(incident: Incident, step: str) -> str:
    """Who took a step (`acknowledged`, `resolved`), and how long after the incident opened:
    `ana, after 12 min`."""
    by, at = getattr(incident, f"{step}_by"), getattr(incident, f"{step}_at")
    if by is None or at is None:
        return "not yet"
    seconds = (at - incident.opened_at).total_seconds()
    return f"{by}, after {seconds:,.0f} s" if seconds < 60 else (
        f"{by}, after {seconds / 60:,.0f} min")


def shown(value: object) -> str:
    """A detail of an alert as a person reads it: a list as its items."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _render(incident: Incident, events: list[Event]) -> str:
    details = "\n".join(f"- {name}: {shown(value)}" for name, value in incident.details.items())
    steps = "\n".join(f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.event} | {e.actor} | "
                      f"{e.note.replace('|', '/')} |" for e in events)
    return f"""# Postmortem {incident.name}: {incident.title}

Blameless: this asks what in our systems and processes let the failure happen and how to
make it less likely or less harmful, never who is to blame. Write what people knew and did
at the time.

| | |
|---|---|
| incident | {incident.name} (`{incident.key}`) |
| kind, severity | {incident.kind}, {incident.severity} |
| opened (UTC) | {incident.opened_at:%Y-%m-%d %H:%M} |
| acknowledged | {handled(incident, 'acknowledged')} |
| resolved | {handled(incident, 'resolved')} |
| alerts | {incident.occurrences} |
| runbook | {incident.runbook} |

## What happened
{incident.title}

{details or '- (no details were sent with the alert)'}

## Timeline
| at (UTC) | event | by | note |
|---|---|---|---|
{steps}

## Impact
_Which datasets, regions and consumers were affected, for how long; whether any consumer read
stale or wrong data; whether any data was lost or exposed._

## Contributing factors
_The conditions that let this happen: inputs, checks, code, configuration, process. Ask "how
did it make sense at the time?" rather than "who did it?"._

## What went well

## Where we were lucky

## Action items
| action | owner | due | tracked in |
|---|---|---|---|
| | | | |
"""


def write(incident: Incident, events: list[Event]) -> Path:
    """The incident's postmortem file, written unless it exists (the team's edits stay)."""
    path = folder() / f"{incident.opened_at:%Y-%m-%d}-{incident.name}-{incident.kind}.md"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(incident, events), encoding="utf-8")
    return path
