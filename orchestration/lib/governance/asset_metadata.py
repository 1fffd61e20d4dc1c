"""The policy as Dagster shows it on every asset: the four governance tags, the column schema
with effective classifications, column lineage, and the asset's policy violations."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from policies.violations import GOVERNANCE_UNEVALUATED


def policy_tags(key: str) -> dict[str, str]:
    """The four governance tags of an asset, as Dagster tags ("unset" when missing)."""
    tags = project_evaluation().effective.get(key)
    if tags is None:  # not in the catalog: ungoverned, and its policy check says so
        return dict.fromkeys(("owner", "retention", "region", "pii"), "unset")
    return {"owner": tags.owner or "unset", "retention": tags.retention or "unset",
            "region": tags.region or "unset", "pii": tags.pii}


def governance_metadata(key: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """Column schema with effective classifications, column lineage, and the asset's policy
    violations as the engine sees them at definition time."""
    if key not in project_evaluation().effective:
        return {"policy_violations": dg.MetadataValue.md(
            f"- **{GOVERNANCE_UNEVALUATED}** `{key}`: not in the policy catalog")}
    effective = project_evaluation().effective[key]
    violations = project_evaluation().for_asset(key) + [
        violation for model in CONSUMER_MODELS if model.key == key
        for violation in project_evaluation().for_asset(f"consumer:{model.consumer}")]
    facts = project_catalog().assets[key]
    schema = metadata.get("dagster/column_schema")
    declared = {c.name: c for c in schema.columns} if schema else {}
    columns = [
        dg.TableColumn(
            name=name,
            type=declared[name].type if name in declared else "unknown",
            description=declared[name].description if name in declared else None,
            tags={"classification": tags.level},
        )
        for name, tags in effective.columns.items()
    ]
    result: dict[str, Any] = {"dagster/column_schema": dg.TableSchema(columns=columns)}
    lineage = {
        name: [dg.TableColumnDep(asset_key=dg.AssetKey.from_user_string(asset), column_name=col)
               for asset, col in column.derived_from]
        for name, column in facts.columns.items() if column.derived_from
    }
    if lineage:
        result["dagster/column_lineage"] = dg.TableColumnLineage(deps_by_column=lineage)
    result["policy_violations"] = dg.MetadataValue.md(
        "\n".join(f"- **{v.rule}** `{v.where()}`: {v.message}. Fix: {v.fix}" for v in violations)
        or "none")
    return result
