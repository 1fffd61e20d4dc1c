"""The governance report in a real headless browser: the catalog and the lineage graph render,
and the page's script lights up an asset's lineage. CI installs Debian's chromium and sets
STEWARD_REQUIRE_BROWSER=1, so there the browser test cannot be skipped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from orchestration.lib.governance.policy_adapter import project_catalog
from orchestration.lib.report.site import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(pipeline_run, tmp_path_factory):
    return write_report(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def browser() -> str:
    if CHROMIUM is None:
        if os.environ.get("STEWARD_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (apt-get install -y chromium)")
        pytest.skip("no chromium on this machine; .ci/run installs it")
    return CHROMIUM


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_page_holds_every_section_with_real_content(report):
    page = report.read_text()
    for anchor in ("catalog", "lineage", "access", "retention", "quality", "slos", "models",
                   "approvals", "platform", "review", "incidents", "audit"):
        assert f"<section id='{anchor}'>" in page
    assert "allowed, masked</span></td><td>eu</td><td>body (redaction)" in page
    assert "Hash chain intact" in page and (report.parent / "quality.html").exists()
    # Quality results are shown from every store, the global one's suites included.
    quality = page[page.index("<section id='quality'>"):page.index("<section id='slos'>")]
    assert "platform_run_metrics" in quality and "<td>global</td>" in quality
    assert "· global</h2>" in (report.parent / "quality.html").read_text()
    assert "<h3>Per source</h3>" in page and "crm/customers" in page
    assert "<td>first run</td>" in page and "CPU-seconds per run" in page
    models = page[page.index("<section id='models'>"):page.index("<section id='approvals'>")]
    for version in ("lead-logreg-v1", "ticket-tfidf-logreg-v1", "invoice-logreg-v1"):
        assert f"<td>{version}</td>" in models
    assert models.count("<span class='ok'>holds</span>") == 4  # invoice risk in two regions
    assert models.count("<td>scores with it</td>") == 4 and "roc_auc 0." in models
    # Each kept model was trained on what it scored: no drift, one run plotted per region.
    assert models.count("<span class='ok'>0.000</span> <svg class='plot'") == 4
    approvals = page[page.index("<section id='approvals'>"):page.index("<section id='platform'>")]
    assert approvals.count("<span class='ok'>approved</span> by") == 7  # 4 consumers, 3 models
    # The tiny estate's held-out sets are too small to judge floors on: invoice risk in two
    # regions, ticket routing in one; lead scoring's approval sets none.
    assert approvals.count("floors not judged: ") == 3 and "not approved" not in approvals
    assert "no held-out floor set" in approvals
    assert approvals.count("gates every scoring") == 1  # lead scoring's approval requires it
    queue = page[page.index("<section id='review'>"):page.index("<h3>Oldest waiting")]
    assert queue.count("<tr><td>consumers/") == 4  # every model in every region it scores
    assert "<td>risk_band=high</td>" in queue and "<td>predicted_queue=manual</td>" in queue


def test_a_browser_renders_the_catalog_and_the_lineage_graph(report, browser, tmp_path):
    dom = _chromium(browser, "--dump-dom",
                    f"{report.as_uri()}#focus=marts/ticket_features").stdout
    assets = project_catalog().assets
    assert dom.count('<details id="asset-') == len(assets)
    nodes = re.findall(r'<g class="node( lit)?" data-key="([^"]+)"', dom)
    assert {key for _, key in nodes} == set(assets)
    # The script ran: the mart, what it reads and what reads it are lit; the rest is dimmed.
    assert 'id="lineage-graph"' in dom and 'class="focused"' in dom
    lit = {key for flag, key in nodes if flag}
    assert {"marts/ticket_features", "support/tickets", "consumers/ticket_routes"} <= lit
    assert "web/events" not in lit
    shot = tmp_path / "report.png"
    _chromium(browser, "--window-size=1400,1800", f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 20_000


def test_who_holds_a_token_is_in_the_access_section(data_dir, dbt_manifest):
    from datetime import timedelta

    from orchestration.lib.governance.credentials import issue, revoke
    from orchestration.lib.report.policy import access
    from orchestration.lib.report.render import render_section

    kept = issue("lead_scoring", timedelta(days=10))
    revoke(issue("lead_scoring").token_id)
    section = render_section("access", access())
    start = section.index("<h3>lead_scoring</h3>")
    scoring = section[start:section.index("<h3>", start + 1)]
    assert f"<code>{kept.token_id}</code> until {kept.expires_at:%Y-%m-%d}" in scoring
    assert "(1 revoked or expired)" in scoring
    routing = section[section.index("<h3>support_routing</h3>"):]
    assert "tokens: none active" in routing


def test_the_incidents_section_shows_the_unresolved_and_the_recently_resolved(data_dir,
                                                                              monkeypatch):
    from orchestration.lib.operations import alerts, incidents
    from orchestration.lib.report.oversight import incident_list
    from orchestration.lib.report.render import render_section
    from orchestration.lib.settings import PROJECT_ROOT

    monkeypatch.setenv("STEWARD_NOW", "-40d")  # resolved too long ago to show
    alerts.fire("run:steward_pipeline", "run_failed", "steward_pipeline failed")
    incidents.resolve(1, "ana", "rerun")
    monkeypatch.setenv("STEWARD_NOW", "-2d")
    alerts.fire("grants:eu", "grants_drift", "steward_eu: grants beyond the policy taken back")
    incidents.acknowledge(2, "ben", "checking the role")
    alerts.resolve("grants:", set())
    monkeypatch.delenv("STEWARD_NOW")
    alerts.fire("slo:marts/ticket_features", "slo_breach", "freshness lag 30h > 24h")

    section = render_section("incidents", incident_list())
    unresolved = section[section.index("<h3>Unresolved (1)"):section.index("<h3>Resolved")]
    resolved = section[section.index("<h3>Resolved in the last 30 days (1)"):]
    assert "<td>INC-3</td>" in unresolved and "class='warn'>warning" in unresolved
    assert f"href='{PROJECT_ROOT.as_uri()}/docs/runbooks/slo_breach.md'" in unresolved
    assert "<td>INC-2</td>" in resolved and "INC-1" not in section
    assert "<b>acknowledged</b> by ben: checking the role" in resolved
    assert "<td>ben, after " in resolved and "-INC-2-grants_drift.md</code>" in resolved
