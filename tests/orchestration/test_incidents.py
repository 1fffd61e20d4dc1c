"""Incidents from open to resolved: one alert opens one, the on-call acknowledges it, Steward
or a person resolves it, every step is on its timeline and people's steps in the audit log,
and a resolved incident of severity error or worse leaves a blameless postmortem to fill in."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from orchestration.lib.governance import audit_log
from orchestration.lib.operations import alerts, incidents, postmortems
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import write_connection
from tests.conftest import run_steward


def _events(incident_id: int) -> list[tuple[str, str]]:
    return [(e.event, e.actor) for e in incidents.timeline(incident_id)]


@pytest.mark.usefixtures("each_warehouse")
def test_an_incident_goes_from_open_to_acknowledged_to_resolved(data_dir, monkeypatch):
    sink = data_dir / "alerts.jsonl"
    monkeypatch.setenv("STEWARD_ALERT_FILE", str(sink))
    first = alerts.fire("asset:a", "check_failed", "a: 1 blocking check(s) failed",
                        {"regions": ["eu"]})
    assert (first.incident, first.severity) == ("INC-1", "error")
    alerts.fire("asset:a", "check_failed", "a: 1 blocking check(s) failed")
    incidents.acknowledge(1, "oncall@example.com", "looking at the suite")
    assert alerts.fire("asset:a", "check_failed", "a: 2 blocking check(s) failed") is None

    [seen] = incidents.listed()
    assert (seen.status, seen.acknowledged_by, seen.occurrences) == (
        "acknowledged", "oncall@example.com", 3)
    assert alerts.resolve("asset:", set()) == ["asset:a"]
    assert incidents.listed() == []
    [done] = incidents.listed(include_resolved=True)
    assert (done.status, done.resolved_by) == ("resolved", "steward")
    assert _events(1) == [("opened", "steward"), ("alerted again", "steward"),
                          ("acknowledged", "oncall@example.com"),
                          ("alerted again", "steward"), ("resolved", "steward")]

    again = alerts.fire("asset:a", "check_failed", "a failed again")
    assert again.incident == "INC-2"
    assert [json.loads(line)["incident"] for line in sink.read_text().splitlines()] == [
        "INC-1", "INC-2"]
    [entry] = [e for e in audit_log.entries() if e.kind.startswith("incident.")]
    assert (entry.kind, entry.subject, entry.details["by"]) == (
        "incident.acknowledged", "INC-1", "oncall@example.com")


def test_a_resolved_error_leaves_a_blameless_postmortem_with_its_timeline(data_dir):
    alerts.fire("grants:eu", "grants_drift", "steward_eu: grants beyond the policy taken back",
                {"drift": ["GRANT SELECT ON marts.customer_features TO intruder"]})
    resolved = incidents.resolve(1, "dba@example.com", "revoked; the role was a leftover")
    assert resolved.postmortem is not None
    text = Path(resolved.postmortem).read_text()
    assert text.startswith("# Postmortem INC-1: steward_eu: grants beyond the policy")
    assert "never who is to blame" in text and "critical" in text
    assert "GRANT SELECT ON marts.customer_features TO intruder" in text
    assert "| resolved | dba@example.com | revoked; the role was a leftover |" in text
    for section in ("## Impact", "## Contributing factors", "## Action items"):
        assert section in text
    assert "docs/runbooks/grants_drift.md" in text
    [entry] = [e for e in audit_log.entries() if e.kind == "incident.resolved"]
    assert (entry.subject, entry.details["note"]) == ("INC-1", "revoked; the role was a leftover")


def test_a_warning_resolves_without_a_postmortem(data_dir):
    alerts.fire("slo:marts/customer_features", "slo_breach", "freshness lag 30h > 24h")
    alerts.resolve("slo:", set())
    [done] = incidents.listed(include_resolved=True)
    assert done.status == "resolved" and done.postmortem is None
    assert not postmortems.folder().exists()


def test_a_postmortem_the_team_edited_is_never_written_over(data_dir):
    alerts.fire("run:steward_pipeline", "run_failed", "steward_pipeline failed")
    first = incidents.resolve(1, "oncall", "rerun by hand")
    path = Path(first.postmortem)
    path.write_text("# Our own account\n")
    incident = incidents.get(1)
    assert postmortems.write(incident, incidents.timeline(1)) == path
    assert path.read_text() == "# Our own account\n"


def test_what_an_incident_s_state_does_not_allow_is_refused_saying_why(data_dir):
    alerts.fire("asset:a", "check_failed", "a failed")
    incidents.acknowledge(1, "ana")
    with pytest.raises(incidents.IncidentClosed, match="INC-1 is already acknowledged, by ana"):
        incidents.acknowledge(1, "ben")
    incidents.resolve(1, "ana", "fixed the export")
    with pytest.raises(incidents.IncidentClosed, match="INC-1 is already resolved, by ana"):
        incidents.resolve(1, "ben", "again")
    with pytest.raises(incidents.IncidentNotFound, match="no incident INC-7"):
        incidents.acknowledge(7, "ana")
    assert _events(1) == [("opened", "steward"), ("acknowledged", "ana"), ("resolved", "ana")]


def test_an_alert_the_webhook_did_not_take_is_on_the_incident_s_timeline(data_dir, monkeypatch):
    monkeypatch.setenv("STEWARD_ALERT_WEBHOOK", "http://127.0.0.1:9/refused")
    assert alerts.fire("asset:a", "check_failed", "a failed") is not None
    [undelivered] = [e for e in incidents.timeline(1) if e.event == "not delivered"]
    assert undelivered.actor == "steward" and undelivered.note.startswith("webhook:")


def test_open_incidents_of_an_older_ops_store_carry_over(data_dir):
    get_settings().store_dir.mkdir(parents=True)
    with write_connection(get_settings().ops_store) as con:  # as Steward wrote it before states
        con.execute("CREATE TABLE incidents (key VARCHAR PRIMARY KEY, kind VARCHAR, "
                    "title VARCHAR, details VARCHAR, opened_at TIMESTAMP, last_seen TIMESTAMP, "
                    "occurrences INTEGER)")
        opened = current_time() - timedelta(hours=2)
        con.execute("INSERT INTO incidents VALUES ('grants:us', 'grants_drift', 'drift', '{}', "
                    "?, ?, 4)", [opened, opened + timedelta(hours=1)])
    assert alerts.fire("grants:us", "grants_drift", "drift") is None  # still the same incident
    [carried] = incidents.listed()
    assert (carried.name, carried.severity, carried.occurrences) == ("INC-1", "critical", 5)
    assert _events(1) == [("opened", "steward"), ("alerted again", "steward")]


def test_the_on_call_works_incidents_from_the_command_line(data_dir):
    alerts.fire("asset:support/tickets", "check_failed", "support/tickets: 1 check failed")
    alerts.fire("slo:marts/ticket_features", "slo_breach", "freshness lag 30h > 24h")

    listed = run_steward(["incidents"], data_dir)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "INC-1" in lines[1] and "open" in lines[1] and "error" in lines[1]
    assert "INC-2" in lines[2] and "warning" in lines[2]

    acked = run_steward(["incidents", "ack", "INC-1", "--by", "ana", "--note", "on it"],
                        data_dir)
    assert acked.returncode == 0, acked.stderr
    fixed = run_steward(["incidents", "resolve", "1", "--by", "ana", "--note", "resent"],
                        data_dir)
    assert fixed.returncode == 0 and "postmortem" in fixed.stdout, fixed.stderr
    shown = run_steward(["incidents", "show", "1"], data_dir)
    assert [line.split()[2] for line in shown.stdout.splitlines() if line.startswith("  20")] == [
        "opened", "acknowledged", "resolved"]
    assert "docs/runbooks/check_failed.md" in shown.stdout

    assert "INC-1" not in run_steward(["incidents"], data_dir).stdout
    assert "INC-1" in run_steward(["incidents", "--all"], data_dir).stdout
    refused = run_steward(["incidents", "ack", "1", "--by", "ben"], data_dir)
    assert refused.returncode == 1 and "already resolved, by ana" in refused.stderr
