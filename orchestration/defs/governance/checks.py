"""Blocking policy checks on every dbt model; ingest assets carry theirs on the asset itself.

One check per model, each its own step: a model the policy gate held back skips only its own
check, while every model that was built is still checked.
"""

import dagster as dg

from orchestration.defs.transform.assets import dbt_models, model_relations
from orchestration.lib.cpu import timed_check
from orchestration.lib.policy_checks import POLICY_CHECK, evaluate_policy, policy_check_spec

PARTITION_TAG = "dagster/partition"


def build_policy_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    spec = policy_check_spec(key)

    @dg.asset_check(asset=key, name=POLICY_CHECK, blocking=True, description=spec.description)
    def _policy(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return timed_check(lambda: evaluate_policy(key, model_relations()[key],
                                                   run_regions(context)))

    return _policy


def build_dbt_policy_checks() -> list[dg.AssetChecksDefinition]:
    return [build_policy_check(key) for key in sorted(dbt_models.keys,
                                                      key=lambda k: k.to_user_string())]


def run_regions(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The region of a partitioned run, or every region."""
    region = context.run.tags.get(PARTITION_TAG)
    return [region] if region else list(dbt_models.partitions_def.get_partition_keys())
