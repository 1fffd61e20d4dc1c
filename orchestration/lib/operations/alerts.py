"""Alerts: one incident, one alert, sent to a webhook and/or appended to a file.

An alert has a stable key (e.g. `check_failed:marts/ticket_features:policy__compliant:eu`). The
first time it fires it opens an incident (`incidents.py`) and is sent; while the incident is
unresolved, firing again only counts; once the condition clears the incident resolves, and a
later failure opens a new one. Incidents live in `ops.duckdb` in the store folder, so
deduplication holds across runs and processes. Sinks come from STEWARD_ALERT_WEBHOOK (a URL
receiving a JSON POST) and STEWARD_ALERT_FILE (JSON lines); with neither set, alerts go only
to the log.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestration.lib.operations import incidents
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import write_connection

SENT_TABLE = "alerts_sent"  # every alert ever sent, kept for the platform metrics
WEBHOOK_TIMEOUT_SECONDS = 10
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str  # one of incidents.KINDS
    severity: str  # one of incidents.SEVERITIES
    incident: str  # the incident it opened, e.g. INC-12
    title: str
    details: dict
    opened_at: str
    runbook: str  # where the on-call reads what to do


def _send(alert: Alert, incident_id: int) -> None:
    payload = json.dumps(asdict(alert), sort_keys=True, default=str)
    log.warning("ALERT %s %s: %s", alert.incident, alert.key, alert.title)
    target = os.environ.get("STEWARD_ALERT_FILE")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(payload + "\n")
    url = os.environ.get("STEWARD_ALERT_WEBHOOK")
    if url:
        request = urllib.request.Request(url, data=payload.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS):
                pass
        except OSError as error:  # the incident stays open and recorded; say so, do not crash
            log.error("alert %s could not be delivered to the webhook: %s", alert.key, error)
            incidents.note_undelivered(incident_id, f"webhook: {error}")


def fire(key: str, kind: str, title: str, details: dict | None = None,
         severity: str | None = None) -> Alert | None:
    """Open the incident (of its kind's severity unless told) and send its alert, or count one
    more occurrence of an unresolved one. Returns the alert when one was sent."""
    link = incidents.runbook(kind)  # an alert no runbook explains is refused before it opens
    now = current_time()
    with write_connection(get_settings().ops_store) as con:
        con.execute("BEGIN")
        opened = incidents.open_or_count(con, key, kind, title, details or {}, now, severity)
        if opened:
            con.execute(f"CREATE TABLE IF NOT EXISTS {SENT_TABLE} (key VARCHAR, kind VARCHAR, "
                        "title VARCHAR, sent_at TIMESTAMP)")
            con.execute(f"INSERT INTO {SENT_TABLE} VALUES (?, ?, ?, ?)", [key, kind, title, now])
        con.execute("COMMIT")
    if not opened:
        return None
    alert = Alert(key, kind, opened.severity, opened.name, title, opened.details,
                  now.isoformat(sep=" "), link)
    _send(alert, opened.id)
    return alert


def resolve(keys_prefix: str, still_failing: set[str]) -> list[str]:
    """Resolve every unresolved incident under `keys_prefix` that is not in `still_failing`."""
    return incidents.resolve_cleared(keys_prefix, still_failing)
