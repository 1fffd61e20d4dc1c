"""The report's data on what the policy declares and enforces: the catalog, the lineage graph,
who may read what, retention status and the audit log. Plain structures for the templates."""

from __future__ import annotations

from collections import defaultdict

from markupsafe import Markup

from orchestration.lib.governance.audit_log import entries, verify_log
from orchestration.lib.governance.credentials import credentials
from orchestration.lib.governance.governed_read import decision_for
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.retention import late_rows
from orchestration.lib.report.lineage_graph import LEVEL_COLOURS, render_svg
from orchestration.lib.settings import current_time
from policies.retention import retention_plan
from policies.rules import load_rules

AUDIT_TAIL = 25


def catalog() -> dict:
    """Every asset, sources first, with its effective tags and violations."""
    evaluation = project_evaluation()
    return {"assets": [
        {"asset": asset, "tags": evaluation.effective[asset.key],
         "violations": evaluation.for_asset(asset.key)}
        for asset in project_catalog().topological()]}


def lineage() -> dict:
    # The graph is drawn by lineage_graph, whose output is markup already.
    return {"legend": LEVEL_COLOURS,
            "svg": Markup(render_svg(project_catalog(), project_evaluation().effective))}


def access() -> dict:
    """Each consumer's decision per declared dataset, and its tokens (active or ended)."""
    now = current_time()
    held = defaultdict(list)
    for credential in credentials():
        held[credential.consumer].append(credential)
    consumers = []
    for consumer in load_rules().consumers.values():
        active = [c for c in held[consumer.name] if not c.ended(now)]
        consumers.append({
            "consumer": consumer, "active_tokens": active,
            "ended_tokens": len(held[consumer.name]) - len(active),
            "decisions": [(dataset, decision_for(consumer.name, dataset))
                          for dataset in consumer.datasets]})
    return {"consumers": consumers}


def retention() -> dict:
    """Each retention target with the rows past it, in every store keeping it."""
    plan = retention_plan(project_catalog(), project_evaluation().effective, current_time())
    late = late_rows(plan)
    return {"rebuilt": plan.rebuilt, "rows": [{"target": target, "late": late[target.asset]}
                                              for target in plan.targets]}


def audit() -> dict:
    verified, breaks = verify_log()
    return {"verified": verified, "breaks": breaks,
            "latest": list(reversed(entries()[-AUDIT_TAIL:]))}
