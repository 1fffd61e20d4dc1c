"""Residency regions as Dagster partitions: one partition per region, one store per partition;
and the stores a check of a run reads."""

from __future__ import annotations

from functools import cache

import dagster as dg

from orchestration.lib.governance.policy_adapter import project_evaluation
from policies.regions import GLOBAL_REGION, region_names

PARTITION_TAG = "dagster/partition"


@cache
def region_partitions() -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(region_names())


def stores_keeping(asset: str) -> list[str]:
    """The stores an asset's rows are kept in: the global one for what lives there (Steward's
    telemetry and metrics), else every region's."""
    tags = project_evaluation().effective.get(asset)
    return [GLOBAL_REGION] if tags is not None and tags.region == GLOBAL_REGION else (
        region_names())


def run_regions(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> list[str]:
    """The stores a check reads: those keeping the asset, narrowed to the region of a
    partitioned run."""
    stores = stores_keeping(key.to_user_string())
    region = context.run.tags.get(PARTITION_TAG)
    return [region] if region and stores != [GLOBAL_REGION] else stores
