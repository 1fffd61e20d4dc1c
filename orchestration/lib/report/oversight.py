"""The report's sections on what people decide and do: the committee's approvals, with each
model's validation against them, the rows the models deferred to reviewers, and the incidents
alerts opened, with their timelines."""

from __future__ import annotations

import json
from datetime import timedelta
from html import escape
from pathlib import Path
from statistics import median

from orchestration.lib.consumers import kept, review
from orchestration.lib.consumers.specs import CONSUMER_MODELS
from orchestration.lib.operations import incidents, postmortems
from orchestration.lib.operations.postmortems import handled
from orchestration.lib.settings import PROJECT_ROOT, current_time
from policies.approvals import too_few_to_judge, validation_refusal
from policies.rules import load_rules

INCIDENTS_RESOLVED_SHOWN = timedelta(days=30)
REVIEW_ITEMS_SHOWN = 20  # per model and region, the oldest waiting


def _e(value: object) -> str:
    return escape(str(value))


def _openable(runbook: str) -> str:
    """A runbook's address the report can open: a published URL as it is, a path in the
    repository as a file link (the report is not in the repository's root)."""
    return runbook if "://" in runbook else (PROJECT_ROOT / runbook).as_uri()


def _approval_cell(approval) -> str:
    if approval is None:
        return "<span class='bad'>not approved</span>"
    return (f"<span class='ok'>approved</span> by {_e(approval.approved_by)} on "
            f"{approval.approved_at:%Y-%m-%d} ({_e(approval.ticket)})")


def _model_validation(model, approval) -> str:
    """The approval's held-out floors against each region's kept model."""
    if approval is None or approval.version != model.version:
        approved = f" (approved: {_e(approval.version)})" if approval else ""
        return f"<span class='bad'>version {_e(model.version)} not approved{approved}</span>"
    if not approval.min_held_out:
        return "no held-out floor set"
    parts = []
    for region in model.regions:
        found = kept.load(model.name, region)
        if found is None:
            parts.append(f"{region}: not trained yet")
            continue
        rights = load_rules().decision_rights
        refused = validation_refusal(rights, model.key, found.training)
        unjudged = too_few_to_judge(rights, model.key, found.training)
        if unjudged:
            parts.append(f"{region}: <span class='warn'>{_e(unjudged)}</span>")
            continue
        parts.append(f"{region}: <span class='bad'>{_e(refused.reason)}</span>" if refused else
                     f"{region}: <span class='ok'>meets</span> " + _e(", ".join(
                         f"{name} {found.training.get(name)} ≥ {floor:g}"
                         for name, floor in approval.min_held_out.items())))
    return "<br>".join(parts)


def decision_rights_section() -> str:
    rules = load_rules()
    rights = rules.decision_rights
    holders = "; ".join(f"a {right}: {_e(', '.join(who))}" for right, who in rights.rights.items())
    consumers = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(consumer.team)}</td><td>{_e(consumer.purpose)}</td>"
        f"<td>{_approval_cell(rights.consumers.get(name))}</td></tr>"
        for name, consumer in rules.consumers.items())
    audited_models = {audit.model for audit in rules.fairness.values()}
    models = ""
    for model in CONSUMER_MODELS:
        approval = rights.models.get(model.key)
        audited = ("gates every scoring" if approval and approval.fairness_audited else
                   "monitors" if model.key in audited_models else "—")
        models += (f"<tr><td>{_e(model.key)}</td><td>{_e(model.version)}</td>"
                   f"<td>{_approval_cell(approval)}</td>"
                   f"<td>{_model_validation(model, approval)}</td><td>{audited}</td></tr>")
    return (f"<p>The <b>{_e(rights.committee)}</b> ({_e(', '.join(rights.members))}) decides; "
            f"may approve {holders} (<code>policies/approvals.yaml</code>). An unapproved "
            "consumer reads nothing; a model scores only with its approved version, and a "
            "freshly fitted one only when it meets its held-out floors, and where its approval "
            "requires a fairness audit, only scores that pass it (else the region keeps its "
            "last scores and the rows wait for a person). Each approval is in the audit log "
            "(<code>approval.recorded</code>).</p><h3>Consumers</h3><table><tr><th>consumer</th><th>team</th>"
            f"<th>purpose</th><th>approval</th></tr>{consumers}</table><h3>Models</h3>"
            "<table><tr><th>model</th><th>version in code</th><th>approval</th>"
            f"<th>validation (kept model, per region)</th><th>fairness audit</th></tr>{models}"
            "</table>")


def _incident_rows(found: list) -> str:
    rows = []
    for incident in found:
        steps = "".join(
            f"<li>{e.at:%Y-%m-%d %H:%M:%S} <b>{_e(e.event)}</b> by {_e(e.actor)}"
            f"{': ' + _e(e.note) if e.note else ''}</li>"
            for e in incidents.timeline(incident.id))
        level = {"critical": "bad", "error": "bad", "warning": "warn"}[incident.severity]
        postmortem = (f"<br>postmortem <code>{_e(Path(incident.postmortem).name)}</code>"
                      if incident.postmortem else "")
        rows.append(
            f"<tr><td>{incident.name}</td><td>{_e(incident.status)}</td>"
            f"<td class='{level}'>{_e(incident.severity)}</td><td>{_e(incident.kind)}</td>"
            f"<td><details><summary>{_e(incident.title)}</summary><ol>{steps}</ol></details>"
            f"</td><td>{incident.opened_at:%Y-%m-%d %H:%M}</td><td>{incident.occurrences}</td>"
            f"<td>{_e(handled(incident, 'acknowledged'))}</td>"
            f"<td>{_e(handled(incident, 'resolved'))}</td>"
            f"<td><a href='{_e(_openable(incident.runbook))}'>runbook</a>{postmortem}</td></tr>")
    return ("<table><tr><th>incident</th><th>status</th><th>severity</th><th>kind</th>"
            "<th>what (click for the timeline)</th><th>opened (UTC)</th><th>alerts</th>"
            "<th>acknowledged</th><th>resolved</th><th>what to do</th></tr>"
            f"{''.join(rows)}</table>")


def incidents_section() -> str:
    since = current_time() - INCIDENTS_RESOLVED_SHOWN
    found = incidents.listed(include_resolved=True, since=since)
    unresolved = [i for i in found if i.status != incidents.RESOLVED]
    resolved = [i for i in found if i.status == incidents.RESOLVED]
    parts = ["<p>What the alerts opened. The on-call acknowledges with <code>steward incidents "
             "ack</code>; a healthy run resolves an incident, or a person does with <code>"
             "steward incidents resolve</code>. A resolved incident of severity error or worse "
             f"gets a blameless postmortem to complete in <code>{_e(postmortems.folder())}"
             "</code>.</p>",
             f"<h3>Unresolved ({len(unresolved)})</h3>",
             _incident_rows(unresolved) if unresolved else "<p class='ok'>none</p>",
             f"<h3>Resolved in the last {INCIDENTS_RESOLVED_SHOWN.days} days ({len(resolved)})"
             "</h3>", _incident_rows(resolved) if resolved else "<p>none</p>"]
    return "".join(parts)


def _waiting_rows(waiting: list) -> str:
    return "".join(
        f"<tr><td>{_e(i.model)}:{_e(i.name)}</td><td>{_e(i.row_key)}</td><td>{_e(i.reason)}</td>"
        f"<td>{_e(i.detail)}</td><td>{_e(', '.join(f'{k}={v}' for k, v in i.inputs.items()))}"
        f"</td><td>{i.queued_at:%Y-%m-%d %H:%M}</td></tr>" for i in waiting)


def _decision(values: dict) -> str:
    """column=value pairs as the rule file spells them (`false`, not Python's `False`)."""
    return ", ".join(f"{column}={value if isinstance(value, str) else json.dumps(value)}"
                     for column, value in values.items())


def review_section() -> str:
    """Per model and region: what waits for a reviewer, what was resolved and how fast; then
    the oldest waiting items with the inputs a reviewer sees."""
    rules, now = load_rules(), current_time()
    summary, oldest = [], []
    for model in CONSUMER_MODELS:
        rule = rules.review.get(model.key)
        for region in model.regions if rule else ():
            found = review.items(model, region)
            waiting = [i for i in found if i.status == review.OPEN]
            hours = [(i.resolved_at - i.queued_at).total_seconds() / 3600 for i in found
                     if i.status == review.RESOLVED]
            superseded = sum(i.status == review.SUPERSEDED for i in found)
            reasons = ", ".join(f"{reason} {sum(i.reason == reason for i in waiting)}"
                                for reason in sorted({i.reason for i in waiting}))
            age = (f"{(now - waiting[0].queued_at).total_seconds() / 3600:.1f} h"
                   if waiting else "—")
            summary.append(
                f"<tr><td>{_e(model.key)}</td><td>{_e(region)}</td>"
                f"<td class='{'warn' if waiting else 'ok'}'>{len(waiting)}</td>"
                f"<td>{_e(reasons) or '—'}</td><td>{age}</td><td>{len(hours)}</td>"
                f"<td>{superseded}</td>"
                f"<td>{f'{median(hours):.1f} h' if hours else '—'}</td>"
                f"<td>{_e(_decision(rule.fallback))}</td></tr>")
            oldest += waiting[:REVIEW_ITEMS_SHOWN]
    return ("<p>Rows a consumer model should not decide on (<code>policies/review.yaml</code>: "
            "a score in its uncertainty band, an input outside the range it was trained on, "
            "inputs stale past their freshness objective, or the model held back by drift, its "
            "floors or its fairness audit) get the declared conservative decision and wait "
            "here for a person: <code>steward review</code> lists them, <code>steward review "
            "resolve</code> records the decision (audited as <code>review.resolved</code>). "
            "An item a later scoring no longer defers is superseded: the model decides the row "
            "again. The inputs shown are masked as the consumer reads them.</p>"
            "<table><tr><th>model</th><th>region</th><th>waiting</th><th>why</th>"
            "<th>oldest waiting</th><th>resolved</th><th>superseded</th>"
            "<th>median time to resolve</th>"
            f"<th>meanwhile</th></tr>{''.join(summary)}</table>"
            f"<h3>Oldest waiting (up to {REVIEW_ITEMS_SHOWN} per model and region)</h3>"
            + ("<table><tr><th>item</th><th>row</th><th>reason</th><th>detail</th>"
               f"<th>inputs a reviewer sees</th><th>queued (UTC)</th></tr>"
               f"{_waiting_rows(oldest)}</table>" if oldest else "<p class='ok'>none</p>"))
