"""Blocking policy checks on every dbt model; ingest assets carry theirs on the asset itself."""

import dagster as dg

from orchestration.defs.transform.assets import dbt_models, model_relations
from orchestration.lib.policy_checks import evaluate_policy, policy_check_spec

PARTITION_TAG = "dagster/partition"


def _model_keys() -> list[dg.AssetKey]:
    return sorted(dbt_models.keys, key=lambda k: k.to_user_string())


@dg.multi_asset_check(specs=[policy_check_spec(key) for key in _model_keys()], can_subset=True)
def dbt_policy_checks(context: dg.AssetCheckExecutionContext):
    region = context.run.tags.get(PARTITION_TAG)
    regions = [region] if region else list(dbt_models.partitions_def.get_partition_keys())
    relations = model_relations()
    for check_key in context.selected_asset_check_keys:
        yield evaluate_policy(check_key.asset_key, relations[check_key.asset_key], regions)
