"""Alerts: one incident, one alert, sent to a webhook and/or appended to a file.

An incident has a stable key (e.g. `check_failed:marts/ticket_features:policy__compliant:eu`).
The first time it fires it is opened and sent; while it stays open, firing again only counts;
once the condition clears it is resolved, and a later failure is a new incident. Open
incidents live in `ops.duckdb` in the store folder, so deduplication holds across runs and
processes. Sinks come from STEWARD_ALERT_WEBHOOK (a URL receiving a JSON POST) and
STEWARD_ALERT_FILE (JSON lines); with neither set, alerts go only to the log.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import (
    exists,
    rows_if_present,
    write_connection,
)

TABLE = "incidents"
SENT_TABLE = "alerts_sent"  # every alert ever sent, kept for the platform metrics
WEBHOOK_TIMEOUT_SECONDS = 10
log = logging.getLogger(__name__)


# Every kind of alert Steward sends; each has a runbook, docs/runbooks/<kind>.md (what it
# means, how to confirm, how to fix, how to verify), which every alert links to.
KINDS = ("run_failed", "check_failed", "policy_violation", "slo_breach", "grants_drift")
RUNBOOKS = "docs/runbooks"


class UnknownAlertKind(ValueError):
    """An alert of a kind no runbook explains."""


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str  # one of KINDS
    title: str
    details: dict
    opened_at: str
    runbook: str  # where the on-call reads what to do


def runbook(kind: str) -> str:
    """The runbook's address: under STEWARD_RUNBOOK_URL (e.g. the repository's page) when set,
    else its path in the repository."""
    if kind not in KINDS:
        raise UnknownAlertKind(f"no runbook for alert kind {kind!r}: add {RUNBOOKS}/{kind}.md "
                               "and the kind to alerts.KINDS")
    base = os.environ.get("STEWARD_RUNBOOK_URL", "").rstrip("/")
    return f"{base}/{kind}.md" if base else f"{RUNBOOKS}/{kind}.md"


def ops_store() -> Path:
    return get_settings().store_dir / "ops.duckdb"


def _send(alert: Alert) -> None:
    payload = json.dumps(asdict(alert), sort_keys=True, default=str)
    log.warning("ALERT %s: %s", alert.key, alert.title)
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


def _table(con) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key VARCHAR PRIMARY KEY, kind VARCHAR, "
                "title VARCHAR, details VARCHAR, opened_at TIMESTAMP, last_seen TIMESTAMP, "
                "occurrences INTEGER)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {SENT_TABLE} (key VARCHAR, kind VARCHAR, "
                "title VARCHAR, sent_at TIMESTAMP)")


def fire(key: str, kind: str, title: str, details: dict | None = None) -> Alert | None:
    """Open the incident and send its alert, or count one more occurrence of an open one.
    Returns the alert when one was sent."""
    link = runbook(kind)  # an alert no runbook explains is refused before anything is opened
    now = current_time()
    with write_connection(ops_store()) as con:
        _table(con)
        updated = con.execute(f"UPDATE {TABLE} SET last_seen = ?, occurrences = occurrences + 1 "
                              "WHERE key = ? RETURNING key", [now, key]).fetchall()
        if updated:
            return None
        alert = Alert(key, kind, title, details or {}, now.isoformat(sep=" "), link)
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, 1)",
                    [key, kind, title, json.dumps(details or {}, default=str), now, now])
        con.execute(f"INSERT INTO {SENT_TABLE} VALUES (?, ?, ?, ?)", [key, kind, title, now])
    _send(alert)
    return alert


def resolve(keys_prefix: str, still_failing: set[str]) -> list[str]:
    """Close every open incident under `keys_prefix` that is not in `still_failing`."""
    path = ops_store()
    if not exists(path):
        return []
    with write_connection(path) as con:
        _table(con)
        open_keys = [k for (k,) in con.execute(f"SELECT key FROM {TABLE} WHERE starts_with(key, ?)",
                                               [keys_prefix]).fetchall()]
        closed = [k for k in open_keys if k not in still_failing]
        if closed:
            con.execute(f"DELETE FROM {TABLE} WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                        [closed])
    return closed


def open_incidents() -> list[tuple]:
    return rows_if_present(ops_store(), TABLE, "SELECT key, kind, title, opened_at, "
                           f"occurrences FROM {TABLE} ORDER BY opened_at")
