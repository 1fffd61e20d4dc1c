"""What the Dagster UI shows, asked through its own GraphQL API over a real code server: every
asset carries the four governance tags and a blocking `policy__compliant` check."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.settings import PROJECT_ROOT

QUERY = """
{
  assetNodes {
    assetKey { path }
    tags { key value }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
}
"""


def test_the_ui_shows_every_asset_with_its_tags_and_a_blocking_policy_check(dbt_manifest):
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    with dg.instance_for_test() as instance, define_out_of_process_context(
            str(PROJECT_ROOT / "workspace.yaml"), None, instance) as context:
        result = execute_dagster_graphql(context, QUERY)
    assert not result.errors, result.errors
    nodes = result.data["assetNodes"]
    keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert {"crm/customers", "marts/customer_features", "telemetry/runs",
            "platform/run_metrics", "consumers/lead_scores"} <= keys
    for node in nodes:
        key = "/".join(node["assetKey"]["path"])
        tags = {tag["key"]: tag["value"] for tag in node["tags"]}
        assert {"owner", "retention", "region", "pii"} <= set(tags), key
        checks = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
        assert checks.get("policy__compliant") is True, key
