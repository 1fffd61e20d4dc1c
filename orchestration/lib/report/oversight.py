"""The report's data on what people decide and do: the committee's approvals, with each
model's validation against them, the rows the models deferred to reviewers, and the incidents
alerts opened, with their timelines. Plain structures for the templates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from statistics import median

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.consumers import kept, review
from orchestration.lib.operations import incidents, postmortems
from orchestration.lib.operations.postmortems import handled
from orchestration.lib.settings import PROJECT_ROOT, current_time
from policies.approvals import too_few_to_judge, validation_refusal
from policies.rules import load_rules

INCIDENTS_RESOLVED_SHOWN = timedelta(days=30)
REVIEW_ITEMS_SHOWN = 20  # per model and region, the oldest waiting


def _line(status: str, level: str | None = None, region: str | None = None,
          detail: str | None = None) -> dict:
    """One line of a model's validation: `region: status detail`, the status coloured by
    level (ok, warn, bad)."""
    return {"status": status, "level": level, "region": region, "detail": detail}


def _model_validation(model, approval) -> list[dict]:
    """The approval's held-out floors against each region's kept model."""
    if approval is None or approval.version != model.version:
        approved = f" (approved: {approval.version})" if approval else ""
        return [_line(f"version {model.version} not approved{approved}", "bad")]
    if not approval.min_held_out:
        return [_line("no held-out floor set")]
    rights, lines = load_rules().decision_rights, []
    for region in model.regions:
        found = kept.load(model.name, region)
        if found is None:
            lines.append(_line("not trained yet", region=region))
        elif unjudged := too_few_to_judge(rights, model.key, found.training):
            lines.append(_line(unjudged, "warn", region))
        elif refused := validation_refusal(rights, model.key, found.training):
            lines.append(_line(refused.reason, "bad", region))
        else:
            lines.append(_line("meets", "ok", region, ", ".join(
                f"{name} {found.training.get(name)} ≥ {floor:g}"
                for name, floor in approval.min_held_out.items())))
    return lines


def approvals() -> dict:
    rules = load_rules()
    rights = rules.decision_rights
    audited = {audit.model for audit in rules.fairness.values()}
    models = []
    for model in CONSUMER_MODELS:
        approval = rights.models.get(model.key)
        models.append({
            "model": model, "approval": approval,
            "validation": _model_validation(model, approval),
            "fairness": ("gates every scoring" if approval and approval.fairness_audited else
                         "monitors" if model.key in audited else "—")})
    return {"rights": rights, "consumers": rules.consumers, "models": models}


def _openable(runbook: str) -> str:
    """A runbook's address the report can open: a published URL as it is, a path in the
    repository as a file link (the report is not in the repository's root)."""
    return runbook if "://" in runbook else (PROJECT_ROOT / runbook).as_uri()


def _incident(incident) -> dict:
    return {"incident": incident, "timeline": incidents.timeline(incident.id),
            "acknowledged": handled(incident, "acknowledged"),
            "resolved": handled(incident, "resolved"), "runbook": _openable(incident.runbook),
            "postmortem": Path(incident.postmortem).name if incident.postmortem else None}


def incident_list() -> dict:
    """The unresolved incidents, and those resolved within INCIDENTS_RESOLVED_SHOWN."""
    found = incidents.listed(include_resolved=True,
                             since=current_time() - INCIDENTS_RESOLVED_SHOWN)
    return {"postmortem_folder": postmortems.folder(),
            "resolved_days": INCIDENTS_RESOLVED_SHOWN.days,
            "unresolved": [_incident(i) for i in found if i.status != incidents.RESOLVED],
            "resolved": [_incident(i) for i in found if i.status == incidents.RESOLVED]}


def review_queue() -> dict:
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
            summary.append({
                "model": model.key, "region": region, "waiting": len(waiting),
                "reasons": {reason: sum(i.reason == reason for i in waiting)
                            for reason in sorted({i.reason for i in waiting})},
                "oldest_hours": ((now - waiting[0].queued_at).total_seconds() / 3600
                                 if waiting else None),
                "resolved": len(hours),
                "superseded": sum(i.status == review.SUPERSEDED for i in found),
                "median_hours": median(hours) if hours else None,
                "fallback": rule.fallback})
            oldest += waiting[:REVIEW_ITEMS_SHOWN]
    return {"summary": summary, "oldest": oldest, "shown": REVIEW_ITEMS_SHOWN}
