"""Rules under which a test's consumers are approved, as a real one would be, or are not."""

from __future__ import annotations

import dataclasses

from orchestration.lib.settings import current_time
from policies.approvals import Approval
from policies.rules import RuleSet


def approving(rules: RuleSet, *consumers: str) -> RuleSet:
    """`rules` with each of `consumers` approved by a member holding the right."""
    rights = rules.decision_rights
    approver = rights.rights["consumer"][0]
    today = current_time().date()
    granted = {name: Approval(name, approver, today, "TEST-1") for name in consumers}
    return dataclasses.replace(rules, decision_rights=dataclasses.replace(
        rights, consumers={**rights.consumers, **granted}))


def withdrawing(rules: RuleSet, *consumers: str) -> RuleSet:
    """`rules` with the approvals of `consumers` taken back."""
    rights = rules.decision_rights
    return dataclasses.replace(rules, decision_rights=dataclasses.replace(
        rights, consumers={k: v for k, v in rights.consumers.items() if k not in consumers}))
