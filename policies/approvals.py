"""Decision rights: who may approve a consumer and each version of its model, and whether one is.

`approvals.yaml` names the governance committee, which of its members may approve what, and
each approval: who approved, when, under which ticket. A consumer that is not approved reads
nothing; a consumer model scores only with the version its approval names, only with a fitted
model whose held-out quality meets the approval's minimums, and, where the approval requires a
fairness audit, only scores that pass it. The checks here are pure:
the read path, the consumer runs and `steward policy check` call them with what they know.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from policies.yaml_source import Located

CONSUMER_UNAPPROVED = "consumer.unapproved"
MODEL_UNAPPROVED = "model.unapproved"
MODEL_UNVALIDATED = "model.unvalidated"
RIGHTS = ("consumer", "model")  # what a committee member may have the right to approve


@dataclass(frozen=True)
class Approval:
    subject: str  # a consumer's name, or a consumer model's asset key
    approved_by: str
    approved_at: dt.date
    ticket: str
    version: str | None = None  # a model's: the version approved
    min_held_out: dict[str, float] = field(default_factory=dict)  # a model's quality floor
    fairness_audited: bool = False  # a model's: fairness.yaml must audit it


@dataclass(frozen=True)
class DecisionRights:
    committee: str
    members: tuple[str, ...]
    rights: dict[str, tuple[str, ...]]  # right → the members who hold it
    consumers: dict[str, Approval]
    models: dict[str, Approval]
    # A held-out measure on fewer rows than this is noise: floors are judged from this many.
    min_held_out_rows: int = 100


NOBODY_APPROVED = DecisionRights("governance committee", (), {right: () for right in RIGHTS},
                                 {}, {})


@dataclass(frozen=True)
class Refusal:
    rule: str
    reason: str
    fix: str


def consumer_refusal(rights: DecisionRights, consumer: str) -> Refusal | None:
    """Why `consumer` may not read yet, or None when it is approved."""
    if consumer not in rights.consumers:
        return Refusal(CONSUMER_UNAPPROVED,
                       f"{consumer} has not been approved by the {rights.committee}",
                       f"have one of {', '.join(rights.rights['consumer'])} approve it in "
                       "policies/approvals.yaml (approved_by, approved_at, ticket)")
    return None


def model_refusal(rights: DecisionRights, model: str, version: str) -> Refusal | None:
    """Why `model` may not score with `version`, or None when that version is approved."""
    approval = rights.models.get(model)
    if approval is None or approval.version != version:
        approved = f" (approved: {approval.version})" if approval else ""
        return Refusal(MODEL_UNAPPROVED,
                       f"{model} version {version} has not been approved by the "
                       f"{rights.committee}{approved}",
                       f"have one of {', '.join(rights.rights['model'])} approve version "
                       f"{version} in policies/approvals.yaml once it meets its validation")
    return None


def too_few_to_judge(rights: DecisionRights, model: str, held_out: dict) -> str | None:
    """Why a fitted model's floors cannot be judged: its held-out set is too small for its
    measures to mean anything. None when they can be, or when it has none."""
    rows = held_out.get("rows_held_out", 0)
    if not rights.models[model].min_held_out or rows >= rights.min_held_out_rows:
        return None
    return (f"floors not judged: {rows} held-out rows, fewer than the "
            f"{rights.min_held_out_rows} they need")


def validation_refusal(rights: DecisionRights, model: str, held_out: dict) -> Refusal | None:
    """Why a newly fitted model may not score: a held-out measure below its approval's floor
    (or not measured at all), judged on a held-out set large enough to mean something."""
    if too_few_to_judge(rights, model, held_out):
        return None
    floors = rights.models[model].min_held_out
    short = [f"{name} not measured (needs ≥ {floor})"
             if not isinstance(held_out.get(name), int | float) else
             f"{name} {held_out[name]} < {floor}"
             for name, floor in floors.items()
             if not isinstance(held_out.get(name), int | float) or held_out[name] < floor]
    if short:
        return Refusal(MODEL_UNVALIDATED,
                       f"{model} was retrained but fails its validation: {'; '.join(short)}",
                       "the previous scores stay; find why the model got worse (inputs, "
                       "features), or have the committee approve a lower floor")
    return None


def fairness_refusal(rights: DecisionRights, model: str, audit: str, problems: list[str]
                     ) -> Refusal | None:
    """Why the scores a model proposes may not be written: its approval requires a fairness
    audit and the audit `audit` of those scores found `problems`."""
    approval = rights.models.get(model)
    if approval is None or not approval.fairness_audited or not problems:
        return None
    return Refusal(MODEL_UNVALIDATED,
                   f"{model} fails its fairness audit {audit}: {'; '.join(problems)}",
                   "the previous scores stay and the new rows wait for a person; find which "
                   "feature carries the disparity, retrain without it, and audit again")


def _member(doc: Located, rights: dict, members, value, right: str, *where) -> str:
    if value not in members:
        raise doc.error(f"{value!r} is not a member of the committee", *where, "approved_by")
    if value not in rights[right]:
        raise doc.error(f"{value} has no right to approve a {right} (may: "
                        f"{', '.join(rights[right])})", *where, "approved_by")
    return value


def _approval(doc: Located, rights: dict, members, subject: str, body, right: str
              ) -> Approval:
    where = (f"{right}s", subject)
    if not isinstance(body, dict):
        raise doc.error("an approval is a mapping (approved_by, approved_at, ticket)", *where)
    when = body.get("approved_at")
    if not isinstance(when, dt.date):
        raise doc.error(f"approved_at {when!r} is not a date like 2026-11-02", *where,
                        "approved_at")
    ticket = body.get("ticket")
    if not isinstance(ticket, str) or not ticket.strip():
        raise doc.error("name the ticket or minutes that record the decision", *where, "ticket")
    requires = body.get("requires") or {}
    floors = (requires.get("min_held_out") or {}) if isinstance(requires, dict) else None
    if not isinstance(floors, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in floors.values()):
        raise doc.error("requires.min_held_out maps a held-out measure to its minimum",
                        *where, "requires", "min_held_out")
    version = body.get("version")
    if right == "model" and not isinstance(version, str):
        raise doc.error("name the model version approved", *where, "version")
    return Approval(subject, _member(doc, rights, members, body.get("approved_by"), right,
                                     *where),
                    when if not isinstance(when, dt.datetime) else when.date(), ticket, version,
                    {str(k): float(v) for k, v in floors.items()},
                    bool(requires.get("fairness_audited", False)))


def load_decision_rights(doc: Located, consumers) -> DecisionRights:
    """Parse approvals.yaml; every consumer approved must be declared in consumers.yaml."""
    data = doc.data if isinstance(doc.data, dict) else {}
    committee = data.get("committee") or {}
    members = committee.get("members") if isinstance(committee, dict) else None
    if not isinstance(members, list) or not members:
        raise doc.error("list the committee's members", "committee", "members")
    declared = data.get("rights") or {}
    rights = {}
    for right in RIGHTS:
        holders = declared.get(right) if isinstance(declared, dict) else None
        if not isinstance(holders, list) or not holders:
            raise doc.error(f"say which members may approve a {right}", "rights", right)
        for i, holder in enumerate(holders):
            if holder not in members:
                raise doc.error(f"{holder!r} is not a member of the committee", "rights",
                                right, i)
        rights[right] = tuple(holders)
    approved = {right: {} for right in RIGHTS}
    for right in RIGHTS:
        for subject, body in (data.get(f"{right}s") or {}).items():
            if right == "consumer" and subject not in consumers:
                raise doc.error(f"no consumer {subject!r} is declared in consumers.yaml",
                                "consumers", subject)
            approved[right][subject] = _approval(doc, rights, members, subject, body, right)
    rows = data.get("min_held_out_rows", 100)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise doc.error("min_held_out_rows must be a positive whole number", "min_held_out_rows")
    return DecisionRights(str(committee.get("name", "governance committee")), tuple(members),
                          rights, approved["consumer"], approved["model"], rows)
