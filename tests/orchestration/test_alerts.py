"""Alerts and graceful degradation in real runs: an induced failure sends exactly one alert to
a real HTTP receiver on 127.0.0.1, and what it held back stays readable, marked stale."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from orchestration.lib.operations import alerts, incidents
from tests.conftest import write_tiny_estate
from tests.orchestration.test_quality_pipeline import bad_ticket

RECEIVED: list[dict] = []  # what the webhook receiver was sent, in order


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers["Content-Length"])
        RECEIVED.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        return


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", RECEIVED
    server.shutdown()


def test_an_open_incident_alerts_once_and_again_only_after_it_resolved(data_dir, monkeypatch):
    sink = data_dir / "alerts.jsonl"
    monkeypatch.setenv("STEWARD_ALERT_FILE", str(sink))
    assert alerts.fire("asset:a", "check_failed", "a failed") is not None
    assert alerts.fire("asset:a", "check_failed", "a failed") is None
    assert [i.occurrences for i in incidents.listed()] == [2]  # counted, not re-sent
    assert alerts.resolve("asset:", set()) == ["asset:a"]
    assert alerts.fire("asset:a", "check_failed", "a failed again") is not None
    assert [json.loads(line)["title"] for line in sink.read_text().splitlines()] == [
        "a failed", "a failed again"]


def _run():
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.operations.runner import run_pipeline

    keys = [key for asset in build_ingest_assets() for key in asset.keys]
    return run_pipeline(build_definitions(), ["eu", "us"], keys)


@pytest.fixture(scope="module")
def degraded(module_data_dir, dbt_manifest, webhook):
    url, received = webhook
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("STEWARD_ALERT_WEBHOOK", url)
        landing = write_tiny_estate(module_data_dir / "landing")
        good, _ = _run()
        assert good and received == []
        from orchestration.lib.governance.governed_read import read_dataset

        before = read_dataset("marts/ticket_features", "support_routing").num_rows
        (landing / "support" / "tickets" / "tickets_bad.csv").write_text(bad_ticket())
        failed, outcomes = _run()
        again, _ = _run()  # the same incident, still open
        yield {"good": good, "failed": failed, "again": again, "before": before,
               "outcomes": outcomes, "received": list(received)}


def test_an_induced_failure_sends_exactly_one_alert(degraded):
    assert not degraded["failed"] and not degraded["again"]
    [alert] = degraded["received"]
    assert alert["key"] == "asset:support/tickets" and alert["kind"] == "check_failed"
    assert "us" in alert["details"]["regions"]
    assert alert["runbook"] == "docs/runbooks/check_failed.md"


def test_what_it_held_back_stays_readable_and_is_marked_stale(degraded):
    from orchestration.lib.governance.governed_read import read_dataset

    table = read_dataset("marts/ticket_features", "support_routing")
    assert table.num_rows == degraded["before"] > 0  # the last good version
    stale = json.loads(table.schema.metadata[b"steward.stale"])
    assert stale["eu"]["reason"] == (
        "upstream check failed: support/tickets quality__support_tickets")
