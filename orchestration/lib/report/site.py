"""The governance report: one static HTML page a governance lead can open offline.

Sections: the catalog (every asset with owner, tags, columns and classifications, violations),
the lineage graph (click an asset to light up its lineage), who may read what and why (each
consumer's decision per dataset), retention status, quality history with a plot per suite,
service levels with the freshness history, the consumer models, decision rights, platform
metrics, the review queue, the incidents alerts opened, and the tail of the audit log with its
verification. Each section's data is gathered as plain structures (policy.py, measures.py,
oversight.py) and rendered through the templates (render.py); the page inlines its CSS and
script, and fetches nothing from a network.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.governance.policy_adapter import project_evaluation
from orchestration.lib.quality.docs import write_quality_docs
from orchestration.lib.report import measures, oversight, policy, render
from orchestration.lib.settings import current_time

# (anchor, title, what gathers its data); the anchor names the section's template.
SECTIONS = (
    ("catalog", "Catalog", policy.catalog),
    ("lineage", "Lineage", policy.lineage),
    ("access", "Who may read what, and why", policy.access),
    ("retention", "Retention", policy.retention),
    ("quality", "Data quality", measures.quality),
    ("slos", "Service levels", measures.service_levels),
    ("models", "Consumer models", measures.consumer_models),
    ("approvals", "Decision rights and approvals", oversight.approvals),
    ("platform", "Platform metrics", measures.platform),
    ("review", "Review queue", oversight.review_queue),
    ("incidents", "Incidents", oversight.incident_list),
    ("audit", f"Audit log (latest {policy.AUDIT_TAIL})", policy.audit),
)


def render_page() -> str:
    evaluation = project_evaluation()
    return render.render_page([(anchor, title, render.render_section(anchor, gather()))
                               for anchor, title, gather in SECTIONS],
                              assets=len(evaluation.effective),
                              violations=len(evaluation.violations), generated=current_time())


def write_report(folder: Path) -> Path:
    """Write index.html (governance) and quality.html into `folder`; returns the index."""
    folder.mkdir(parents=True, exist_ok=True)
    write_quality_docs(folder / "quality.html")
    index = folder / "index.html"
    index.write_text(render_page(), encoding="utf-8")
    return index
