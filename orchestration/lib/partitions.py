"""Residency regions as Dagster partitions: one partition per region, one store per partition."""

from __future__ import annotations

from functools import cache

import dagster as dg

from policies.regions import region_names


@cache
def region_partitions() -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(region_names())
