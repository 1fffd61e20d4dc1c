"""Incidents: what an alert opened, and what was done about it, kept in the ops store.

An alert key has at most one unresolved incident. The first alert opens it; while it is open
or acknowledged, the same alert only adds an occurrence. The on-call acknowledges it
(`steward incidents ack`); it resolves when Steward sees its condition clear, or when someone
resolves it by hand, and the key's next alert opens a new incident. Each step is a line of the
incident's timeline; what people do is also written to the audit log. A resolved incident of
severity error or worse gets a blameless postmortem to complete (`postmortems.py`).

Every kind of incident has a severity and a runbook, `docs/runbooks/<kind>.md` (what it means,
how to confirm, how to fix, how to verify), which its alerts link to.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime

from orchestration.lib.governance import audit_log
from orchestration.lib.operations import postmortems
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import (
    Connection,
    exists,
    rows_if_present,
    serialize_writers,
    table_columns,
    write_connection,
)

SEVERITIES = ("warning", "error", "critical")  # least to most severe
POSTMORTEM_FROM = "error"  # resolved incidents this severe or worse get a postmortem
KINDS = {  # every kind of alert Steward sends, with the severity of the incident it opens
    "run_failed": "error",
    "check_failed": "error",
    "policy_violation": "critical",
    "slo_breach": "warning",
    "grants_drift": "critical",
    "model_drift": "warning",  # an error where the drift stops the model scoring
}
RUNBOOKS = "docs/runbooks"
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STEWARD = "steward"  # who acts when Steward itself resolves an incident
TABLE, TIMELINE = "incidents", "incident_timeline"
COLUMNS = ("id, key, kind, severity, title, details, status, opened_at, last_seen, occurrences, "
           "acknowledged_at, acknowledged_by, resolved_at, resolved_by, postmortem")


class UnknownAlertKind(ValueError):
    """An alert of a kind no runbook explains."""


class IncidentNotFound(LookupError):
    pass


class IncidentClosed(ValueError):
    """An action the incident's state does not allow (acknowledging a resolved one, say)."""


@dataclass(frozen=True)
class Incident:
    id: int
    key: str
    kind: str
    severity: str
    title: str
    details: dict
    status: str
    opened_at: datetime
    last_seen: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    postmortem: str | None  # the postmortem's path, once written

    @property
    def name(self) -> str:
        return f"INC-{self.id}"

    @property
    def runbook(self) -> str:
        return runbook(self.kind)


@dataclass(frozen=True)
class Event:
    at: datetime
    event: str  # opened, alerted again, not delivered, acknowledged, resolved
    actor: str
    note: str


def runbook(kind: str) -> str:
    """The runbook's address: under STEWARD_RUNBOOK_URL (e.g. the repository's page) when set,
    else its path in the repository."""
    if kind not in KINDS:
        raise UnknownAlertKind(f"no runbook for alert kind {kind!r}: add {RUNBOOKS}/{kind}.md "
                               "and the kind to incidents.KINDS")
    base = os.environ.get("STEWARD_RUNBOOK_URL", "").rstrip("/")
    return f"{base}/{kind}.md" if base else f"{RUNBOOKS}/{kind}.md"


def _tables(con: Connection) -> None:
    before = table_columns(con, "main", TABLE)
    if before and "status" not in before:
        _migrate_unstaged(con)
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, "
                "key VARCHAR NOT NULL, kind VARCHAR, severity VARCHAR, title VARCHAR, "
                "details VARCHAR, status VARCHAR, opened_at TIMESTAMP, last_seen TIMESTAMP, "
                "occurrences INTEGER, acknowledged_at TIMESTAMP, acknowledged_by VARCHAR, "
                "resolved_at TIMESTAMP, resolved_by VARCHAR, postmortem VARCHAR)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {TIMELINE} (incident_id INTEGER, step INTEGER, "
                "happened_at TIMESTAMP, event VARCHAR, actor VARCHAR, note VARCHAR)")


def _migrate_unstaged(con: Connection) -> None:
    """An ops store written before incidents had states kept only the open ones, one row per
    key: each becomes an open incident, its timeline starting where it was opened."""
    con.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_unstaged")
    _tables(con)
    severity = " ".join(f"WHEN '{kind}' THEN '{level}'" for kind, level in KINDS.items())
    con.execute(
        f"INSERT INTO {TABLE} SELECT row_number() OVER (ORDER BY opened_at, key), key, kind, "
        f"CASE kind {severity} ELSE 'error' END, title, details, '{OPEN}', opened_at, "
        f"last_seen, occurrences, NULL, NULL, NULL, NULL, NULL FROM {TABLE}_unstaged")
    con.execute(f"INSERT INTO {TIMELINE} SELECT id, 1, opened_at, 'opened', '{STEWARD}', "
                f"title FROM {TABLE}")
    con.execute(f"DROP TABLE {TABLE}_unstaged")


def _incident(row: tuple) -> Incident:
    values = list(row)
    values[5] = json.loads(values[5] or "{}")
    return Incident(*values)


def _only(rows: list[tuple], incident_id: int) -> Incident:
    if not rows:
        raise IncidentNotFound(f"no incident INC-{incident_id}: `steward incidents --all` "
                               "lists them")
    return _incident(rows[0])


def _note(con: Connection, incident_id: int, at: datetime, event: str, actor: str,
          note: str) -> None:
    # Numbered, as a clock that stands still (STEWARD_NOW) gives every step the same time.
    con.execute(f"INSERT INTO {TIMELINE} SELECT ?, coalesce(max(step), 0) + 1, ?, ?, ?, ? "
                f"FROM {TIMELINE} WHERE incident_id = ?",
                [incident_id, at, event, actor, note, incident_id])


def open_or_count(con: Connection, key: str, kind: str, title: str, details: dict,
                  now: datetime, severity: str | None = None) -> Incident | None:
    """In the caller's write transaction on the ops store: open an incident for `key`, or
    count one more occurrence of its unresolved one. Returns the incident when it opened."""
    _tables(con)
    serialize_writers(con, TABLE)  # ids count up: one opener at a time
    counted = con.execute(f"UPDATE {TABLE} SET last_seen = ?, occurrences = occurrences + 1 "
                          f"WHERE key = ? AND status <> '{RESOLVED}' RETURNING id",
                          [now, key]).fetchall()
    if counted:
        _note(con, counted[0][0], now, "alerted again", STEWARD, title)
        return None
    [(next_id,)] = con.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {TABLE}").fetchall()
    row = (next_id, key, kind, severity or KINDS[kind], title,
           json.dumps(details, default=str), OPEN, now, now, 1)
    # What is not known yet is written as NULL: a bound None has no type on PostgreSQL.
    con.execute(f"INSERT INTO {TABLE} VALUES ({', '.join(['?'] * len(row))}, NULL, NULL, "
                "NULL, NULL, NULL)", list(row))
    _note(con, next_id, now, "opened", STEWARD, title)
    return _incident(row + (None,) * 5)


def note_undelivered(incident_id: int, why: str) -> None:
    with write_connection(get_settings().ops_store) as con:
        _tables(con)
        _note(con, incident_id, current_time(), "not delivered", STEWARD, why)


def _one(con: Connection, incident_id: int) -> Incident:
    return _only(con.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = ?",
                             [incident_id]).fetchall(), incident_id)


def _already(incident: Incident) -> IncidentClosed:
    by = incident.resolved_by or incident.acknowledged_by
    at = incident.resolved_at or incident.acknowledged_at
    return IncidentClosed(f"{incident.name} is already {incident.status}, by {by} at "
                          f"{at:%Y-%m-%d %H:%M} UTC")


def acknowledge(incident_id: int, actor: str, note: str = "") -> Incident:
    """The on-call has seen the incident and is on it."""
    now = current_time()
    with write_connection(get_settings().ops_store) as con:
        _tables(con)
        incident = _one(con, incident_id)
        if incident.status != OPEN:
            raise _already(incident)
        con.execute(f"UPDATE {TABLE} SET status = '{ACKNOWLEDGED}', acknowledged_at = ?, "
                    "acknowledged_by = ? WHERE id = ?", [now, actor, incident_id])
        _note(con, incident_id, now, "acknowledged", actor, note)
    audit_log.append("incident.acknowledged", incident.name, {"by": actor, "note": note})
    return get(incident_id)


def resolve(incident_id: int, actor: str, note: str) -> Incident:
    """Someone resolves the incident by hand (its condition is one Steward cannot see clear,
    such as a failed run nobody will rerun); the key's next alert opens a new one."""
    with write_connection(get_settings().ops_store) as con:
        _tables(con)
        incident = _one(con, incident_id)
        if incident.status == RESOLVED:
            raise _already(incident)
        _close(con, [incident_id], actor, note)
    audit_log.append("incident.resolved", incident.name, {"by": actor, "note": note})
    return _with_postmortem([incident_id])[0]


def resolve_cleared(keys_prefix: str, still_failing: set[str]) -> list[str]:
    """Resolve every unresolved incident under `keys_prefix` whose key is not in
    `still_failing`: Steward saw its condition clear. Returns the keys resolved."""
    store = get_settings().ops_store
    if not exists(store):  # nothing was ever opened
        return []
    with write_connection(store) as con:
        _tables(con)
        unresolved = con.execute(f"SELECT id, key FROM {TABLE} WHERE status <> '{RESOLVED}' "
                                 "AND starts_with(key, ?)", [keys_prefix]).fetchall()
        cleared = [(number, key) for number, key in unresolved if key not in still_failing]
        if cleared:
            _close(con, [number for number, _ in cleared], STEWARD, "the condition cleared")
    _with_postmortem([number for number, _ in cleared])
    return [key for _, key in cleared]


def _close(con: Connection, ids: list[int], actor: str, note: str) -> None:
    now = current_time()
    con.execute(f"UPDATE {TABLE} SET status = '{RESOLVED}', resolved_at = ?, resolved_by = ? "
                "WHERE id IN (SELECT unnest(?::INTEGER[]))", [now, actor, ids])
    for incident_id in ids:
        _note(con, incident_id, now, "resolved", actor, note)


def _with_postmortem(ids: list[int]) -> list[Incident]:
    """The incidents, each severe enough one with its postmortem written."""
    written = []
    for incident_id in ids:
        incident = get(incident_id)
        if SEVERITIES.index(incident.severity) >= SEVERITIES.index(POSTMORTEM_FROM):
            path = postmortems.write(incident, timeline(incident_id))
            with write_connection(get_settings().ops_store) as con:
                con.execute(f"UPDATE {TABLE} SET postmortem = ? WHERE id = ?",
                            [str(path), incident_id])
            incident = get(incident_id)
        written.append(incident)
    return written


def get(incident_id: int) -> Incident:
    return _only(rows_if_present(get_settings().ops_store, TABLE,
                                 f"SELECT {COLUMNS} FROM {TABLE} WHERE id = ?", [incident_id]),
                 incident_id)


def listed(include_resolved: bool = False, since: datetime | None = None) -> list[Incident]:
    """Unresolved incidents, oldest first; with `include_resolved`, also those resolved (since
    `since`, when given)."""
    shown, params = f"status <> '{RESOLVED}'", []
    if include_resolved:
        shown, params = ("resolved_at IS NULL OR resolved_at >= ?", [since]) if since else (
            "TRUE", [])
    rows = rows_if_present(get_settings().ops_store, TABLE,
                           f"SELECT {COLUMNS} FROM {TABLE} WHERE {shown} ORDER BY opened_at, id",
                           params)
    return [_incident(row) for row in rows]


def timeline(incident_id: int) -> list[Event]:
    rows = rows_if_present(get_settings().ops_store, TIMELINE,
                           f"SELECT happened_at, event, actor, note FROM {TIMELINE} "
                           "WHERE incident_id = ? ORDER BY step", [incident_id])
    return [Event(*row) for row in rows]
