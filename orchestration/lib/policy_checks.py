"""The blocking `policy__compliant` check: declared rules plus what a data sample reveals."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.pii_scan import scan_relation
from orchestration.lib.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.store import reader, store_path, table_exists
from policies.engine import detected_violations
from policies.report import format_violation
from policies.rules import load_rules
from policies.violations import Violation

POLICY_CHECK = "policy__compliant"
BLOCKED_METADATA = "blocked_by_policy"  # on an observation of a model the dbt gate held back
POLICY_CHECK_DESCRIPTION = ("Owner, retention, region and PII rules of policies/ hold for this "
                            "asset, and a sample of its data holds no undeclared PII.")


def policy_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(POLICY_CHECK, asset=key, blocking=True,
                             description=POLICY_CHECK_DESCRIPTION)


def _data_violations(key: str, relation: tuple[str, str], regions: list[str]) -> list[Violation]:
    tags = project_evaluation().effective[key]
    declared_in = project_catalog().assets[key].declared_in
    found: list[Violation] = []
    for region in regions:
        path = store_path(region)
        if not path.exists():
            continue
        with reader(path) as con:
            if table_exists(con, *relation):
                findings = scan_relation(con, *relation)
                found += detected_violations(load_rules(), tags, findings, declared_in)
    return found


def evaluate_policy(key: dg.AssetKey, relation: tuple[str, str],
                    regions: list[str]) -> dg.AssetCheckResult:
    """Static violations of the asset, then a PII scan of its stored rows in each region."""
    name = key.to_user_string()
    violations = project_evaluation().for_asset(name) + _data_violations(name, relation, regions)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=POLICY_CHECK,
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{v.rule} {v.where()}" for v in violations) or None,
        metadata={
            "violations": dg.MetadataValue.md(
                "\n\n".join(f"```\n{format_violation(v)}\n```" for v in violations) or "none"),
            "violation_count": len(violations),
        },
    )
