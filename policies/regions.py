"""Residency regions and the country → region routing, as declared in `policies/regions.yaml`
(loaded and checked with every other rule file by `policies.rules.load_rules`)."""

from __future__ import annotations

from policies.rules import load_rules

# Where data that may leave every region lives (only what `flows` in regions.yaml lets move
# there): Steward's own telemetry and the platform metrics built from it.
GLOBAL_REGION = "global"


def region_names() -> list[str]:
    return list(load_rules().regions)


def every_store() -> list[str]:
    """The store of each residency region, then the global one."""
    return [*region_names(), GLOBAL_REGION]


def country_to_region() -> dict[str, str]:
    return dict(load_rules().country_regions)
