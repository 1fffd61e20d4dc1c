"""The report's sections rendered from fixed data, without a store: what each shows in the
states a built estate seldom reaches (a tampered log, a breached objective, an unapproved model,
a denied read), and that a value from a store is shown as text, never run as markup."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from orchestration.lib.consumers import review
from orchestration.lib.operations.incidents import Event, Incident
from orchestration.lib.report.render import render_page, render_section
from policies.access import ColumnAccess, Decision
from policies.approvals import Approval, DecisionRights
from policies.audit import Break
from policies.rules import Slo

NOW = datetime.now(UTC).replace(microsecond=0)
HOSTILE = "<script>alert(1)</script>"


def _cells(html: str, row_start: str) -> str:
    """The table row that starts with `row_start`."""
    start = html.index(row_start)
    return html[start:html.index("</tr>", start)]


def test_a_value_from_a_store_is_shown_as_text_never_as_markup():
    section = render_section("review", {
        "summary": [], "shown": 20, "oldest": [review.Item(
            "consumers/invoice_risk", "eu", 1, HOSTILE, "uncertain", "score 0.51",
            {"note": HOSTILE, "late_payment_rate": 2 / 3}, NOW, review.OPEN,
            None, None, None, None)]})
    assert HOSTILE not in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "note=&lt;script&gt;" in section
    assert "late_payment_rate=0.6667<" in section  # a rate to four places


def test_the_review_summary_shows_waiting_reasons_ages_and_the_fallback_as_the_rules_spell_it():
    row = {"model": "consumers/ticket_routes", "region": "eu", "waiting": 3,
           "reasons": {"outside_training": 1, "uncertain": 2}, "oldest_hours": 26.04,
           "resolved": 0, "superseded": 4, "median_hours": None,
           "fallback": {"predicted_queue": "manual", "auto_close": False}}
    idle = {**row, "region": "us", "waiting": 0, "reasons": {}, "oldest_hours": None,
            "resolved": 2, "median_hours": 1.25}
    section = render_section("review", {"summary": [row, idle], "oldest": [], "shown": 20})
    waiting = _cells(section, "<tr><td>consumers/ticket_routes</td><td>eu</td>")
    assert "<td class='warn'>3</td><td>outside_training 1, uncertain 2</td><td>26.0 h</td>" \
        in waiting
    assert "<td>0</td><td>4</td><td>—</td><td>predicted_queue=manual, auto_close=false</td>" \
        in waiting
    quiet = _cells(section, "<tr><td>consumers/ticket_routes</td><td>us</td>")
    assert "<td class='ok'>0</td><td>—</td><td>—</td><td>2</td><td>4</td><td>1.2 h</td>" in quiet
    assert "<p class='ok'>none</p>" in section  # nothing waiting is listed


def test_an_incident_shows_its_timeline_runbook_and_postmortem():
    opened = NOW - timedelta(hours=5)
    incident = Incident(7, "grants:eu", "grants_drift", "error", "grants beyond the policy",
                        {}, "resolved", opened, opened, 2, None, None, NOW, "ana",
                        "/data/postmortems/x-INC-7-grants_drift.md")
    row = {"incident": incident, "acknowledged": "—", "resolved": "ana, after 5.0 h",
           "runbook": "file:///repo/docs/runbooks/grants_drift.md",
           "postmortem": "x-INC-7-grants_drift.md",
           "timeline": [Event(opened, "opened", "steward", ""),
                        Event(NOW, "resolved", "ana", "roles rebuilt")]}
    section = render_section("incidents", {"postmortem_folder": "/data/postmortems",
                                           "resolved_days": 30, "unresolved": [],
                                           "resolved": [row]})
    assert "<h3>Unresolved (0)</h3>\n<p class='ok'>none</p>" in section
    listed = _cells(section, "<tr><td>INC-7</td>")
    assert "<td class='bad'>error</td>" in listed
    assert f"<li>{NOW:%Y-%m-%d %H:%M:%S} <b>resolved</b> by ana: roles rebuilt</li>" in listed
    assert f"<li>{opened:%Y-%m-%d %H:%M:%S} <b>opened</b> by steward</li>" in listed
    assert ("<a href='file:///repo/docs/runbooks/grants_drift.md'>runbook</a><br>postmortem "
            "<code>x-INC-7-grants_drift.md</code>") in listed


def test_a_breached_objective_is_red_and_an_unmeasured_dataset_says_so():
    slo = Slo("marts/ticket_features", freshness_hours=24, success_rate=0.99,
              latency_p95_seconds=600, check_pass_rate=1)
    latest = {"runs": 12, "success": 0.9166, "p95": 41.5, "lag": 30.0, "checks": None,
              "breaches": "freshness lag 30h > 24h"}
    section = render_section("slos", {"rows": [
        {"dataset": slo.dataset, "slo": slo, "latest": latest,
         "lag_points": [("then", 2.0), ("now", 30.0)]},
        {"dataset": "marts/customer_features", "slo": slo, "latest": None, "lag_points": []}]})
    breached = _cells(section, "<tr><td>marts/ticket_features</td>")
    assert "<td>0.92 (≥ 0.99)</td><td>41.50s (≤ 600s)</td><td>30.00h (≤ 24h)</td>" in breached
    assert "<td>- (≥ 1)</td><td><span class='bad'>freshness lag 30h &gt; 24h</span>" in breached
    # One bar per reading on a scale topped at the larger of the worst and 1.25 times the objective:
    # the 30 h reading fills the plot, in red, and the dashed objective line sits at 24 h.
    assert "y='0.0' width='5' height='40.0' fill='#b42318'><title>now: 30.0h" in breached
    assert "y='37.3' width='5' height='2.7' fill='#1f5fd1'><title>then: 2.0h" in breached
    assert "y1='8.0' y2='8.0' stroke='#5b6577'" in breached
    assert "<tr><td>marts/customer_features</td><td colspan='6'>not measured yet</td>" in section


def test_quality_history_plots_each_run_and_says_when_nothing_ran():
    assert "No validation has run yet." in render_section("quality", {"rows": []})
    section = render_section("quality", {"rows": [
        {"suite": "crm_customers", "region": "eu", "points": [("a", 1.0), ("b", 0.75)]}]})
    row = _cells(section, "<tr><td>crm_customers</td>")
    assert "<td>2</td><td class='warn'>75%</td>" in row
    assert "<svg class='plot' width='20' height='30'>" in row
    assert "fill='#17803d'><title>a: 100%" in row and "fill='#b54708'><title>b: 75%" in row


def test_each_access_decision_says_why_and_tokens_are_listed_or_counted():
    consumer = SimpleNamespace(name="lead_scoring", team="growth", owner="lead", purpose="p",
                               regions=("us",), clearance="pseudonymous", legal_basis=None,
                               datasets=())
    denied = Decision("lead_scoring", "raw/x", False, rule="region", reason="not in us",
                      regions=())
    masked = Decision("lead_scoring", "marts/y", True, regions=("us",), columns=(
        ColumnAccess("email", "personal", "keyed_hash"), ColumnAccess("id", "none", "pass")))
    token = SimpleNamespace(token_id="tok-1", expires_at=NOW + timedelta(days=3))
    section = render_section("access", {"consumers": [
        {"consumer": consumer, "active_tokens": [token], "ended_tokens": 2,
         "decisions": [("raw/x", denied), ("marts/y", masked)]}]})
    assert (f"clearance pseudonymous · tokens: <code>tok-1</code> until "
            f"{token.expires_at:%Y-%m-%d} (2 revoked or expired)</p>") in section
    assert ("<tr><td>raw/x</td><td><span class='bad'>denied</span> <code>region</code></td>"
            "<td></td><td>not in us</td></tr>") in section
    assert ("<tr><td>marts/y</td><td><span class='warn'>allowed, masked</span></td><td>us</td>"
            "<td>email (keyed_hash)</td></tr>") in section


def test_an_unapproved_model_and_its_validation_per_region_are_shown():
    rights = DecisionRights("data council", ("ana", "ben"), {"consumer": ("ana",),
                                                             "model": ("ana", "ben")}, {}, {})
    model = SimpleNamespace(key="consumers/lead_scores", version="v2")
    approval = Approval("consumers/invoice_risk", "ben", date.today(), "GOV-1", "v1")
    section = render_section("approvals", {"rights": rights, "consumers": {}, "models": [
        {"model": model, "approval": None, "fairness": "—",
         "validation": [{"status": "version v2 not approved", "level": "bad", "region": None,
                         "detail": None}]},
        {"model": SimpleNamespace(key="consumers/invoice_risk", version="v1"),
         "approval": approval, "fairness": "monitors", "validation": [
             {"status": "meets", "level": "ok", "region": "eu", "detail": "roc_auc 0.8 ≥ 0.7"},
             {"status": "not trained yet", "level": None, "region": "us", "detail": None}]}]})
    assert "may approve a consumer: ana; a model: ana, ben (" in section
    assert ("<td><span class='bad'>not approved</span></td><td><span class='bad'>version v2 "
            "not approved</span></td><td>—</td>") in section
    assert (f"<span class='ok'>approved</span> by ben on {date.today():%Y-%m-%d} (GOV-1)"
            in section)
    assert ("<td>eu: <span class='ok'>meets</span> roc_auc 0.8 ≥ 0.7<br>us: not trained yet"
            "</td><td>monitors</td>") in section


def test_a_broken_audit_chain_is_called_tampered():
    intact = render_section("audit", {"verified": 3, "breaks": [], "latest": []})
    assert "<p class='ok'>Hash chain intact: 3 entries verified.</p>" in intact
    broken = render_section("audit", {"verified": 3, "latest": [], "breaks": [
        Break(2, "hash does not match"), Break(3, "previous hash does not match")]})
    assert ("<p class='bad'>TAMPERED: entry 2: hash does not match; entry 3: previous hash "
            "does not match</p>") in broken and "intact" not in broken


def test_the_page_counts_violations_and_links_every_section():
    page = render_page([("catalog", "Catalog", render_section("quality", {"rows": []})),
                        ("access", "Who may read what, and why", "")],
                       assets=12, violations=2, generated=NOW)
    assert f"12 assets · <span class='bad'>2 policy violation(s)</span> · generated " \
           f"{NOW:%Y-%m-%d %H:%M} UTC" in page
    assert "<a href='#catalog'>Catalog</a>" in page and "<a href='#access'>Who may read what" \
        "</a>" in page
    assert "<section id='catalog'><h2>Catalog</h2><p>No validation has run yet.</p>" in page
    assert "no policy violations" in render_page([], assets=1, violations=0, generated=NOW)
