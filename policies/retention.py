"""What a retention purge must do, from the catalog and the effective retention of each asset.

A stored asset with an event-time column loses the rows older than its effective retention. A
stored asset derived from others without an event time (a per-customer aggregate, a model's
scores) holds no row older than its inputs once it is rebuilt from the purged inputs, so the
purge rebuilds it. A view holds nothing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from policies.catalog import AssetFacts, Catalog
from policies.propagation import AssetTags


@dataclass(frozen=True)
class PurgeTarget:
    asset: str
    event_time: str
    retention: str
    cutoff: datetime  # rows with an event time before this have expired


@dataclass
class RetentionPlan:
    now: datetime
    targets: list[PurgeTarget] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # derived, recomputed after the purge


def expiry(asset: AssetFacts, tags: AssetTags, now: datetime) -> PurgeTarget | None:
    """Which of the asset's rows have expired by `now`: those whose event time is before the
    cutoff; None when it has no event time or no retention to measure by."""
    if not asset.event_time or tags.retention_days is None:
        return None
    return PurgeTarget(asset.key, asset.event_time, tags.retention or "",
                       now - timedelta(days=tags.retention_days))


def retention_plan(catalog: Catalog, effective: dict[str, AssetTags],
                   now: datetime) -> RetentionPlan:
    plan = RetentionPlan(now)
    for asset in catalog.topological():
        tags = effective[asset.key]
        if not asset.stored or tags.retention_days is None:
            continue
        target = expiry(asset, tags, now)
        if target:
            plan.targets.append(target)
        elif asset.upstream:
            plan.rebuilt.append(asset.key)
    return plan
