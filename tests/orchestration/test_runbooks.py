"""Every kind of alert Steward sends links to a runbook that says what it means, how to
confirm it, how to fix it and how to verify the fix; a kind without one is refused."""

from __future__ import annotations

import re

import pytest

from orchestration.lib.operations import alerts, incidents
from orchestration.lib.settings import PROJECT_ROOT

RUNBOOKS = PROJECT_ROOT / incidents.RUNBOOKS
SECTIONS = ("What it means", "How to confirm", "How to fix", "How to verify")


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    titles, bodies = parts[1::2], parts[2::2]
    return {title.strip(): body.strip() for title, body in zip(titles, bodies, strict=True)}


@pytest.mark.parametrize("kind", incidents.KINDS)
def test_every_alert_kind_has_a_runbook_with_each_section_written(kind):
    page = RUNBOOKS / f"{kind}.md"
    assert page.exists(), f"alert kind {kind} has no runbook: write {page}"
    sections = _sections(page.read_text(encoding="utf-8"))
    assert [title for title in SECTIONS if not sections.get(title)] == []


@pytest.mark.parametrize("kind", incidents.KINDS)
def test_every_runbook_states_the_severity_its_incidents_have(kind):
    text = (RUNBOOKS / f"{kind}.md").read_text(encoding="utf-8")
    assert re.findall(r"^Severity: \*\*(\w+)\*\*", text, flags=re.MULTILINE) == [
        incidents.KINDS[kind]]


def test_every_runbook_is_for_a_kind_steward_sends():
    assert sorted(page.stem for page in RUNBOOKS.glob("*.md")) == sorted(incidents.KINDS)


def test_an_alert_of_a_kind_no_runbook_explains_is_refused_before_it_opens(data_dir):
    with pytest.raises(incidents.UnknownAlertKind, match=r"docs/runbooks/disk_full\.md"):
        alerts.fire("disk:eu", "disk_full", "eu: disk full")
    assert incidents.listed(include_resolved=True) == []


def test_an_alert_links_to_where_the_runbooks_are_published(data_dir, monkeypatch):
    monkeypatch.setenv("STEWARD_RUNBOOK_URL", "https://git.example.com/steward/docs/runbooks/")
    sent = alerts.fire("grants:eu", "grants_drift", "steward_eu: grants beyond the policy")
    assert sent.runbook == "https://git.example.com/steward/docs/runbooks/grants_drift.md"
