"""Residency regions and the country → region routing, read from `policies/regions.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

POLICIES_DIR = Path(__file__).resolve().parent


class PolicyFileError(ValueError):
    """A policy file that cannot be used, with the file and what to fix."""


@dataclass(frozen=True)
class Region:
    name: str
    description: str
    countries: tuple[str, ...]


@cache
def load_regions(path: Path = POLICIES_DIR / "regions.yaml") -> tuple[Region, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("regions")
    if not isinstance(entries, dict) or not entries:
        raise PolicyFileError(f"{path}: expected a non-empty 'regions:' mapping")
    regions, seen = [], {}
    for name, body in entries.items():
        countries = tuple(str(c).upper() for c in (body or {}).get("countries", []))
        if not countries:
            raise PolicyFileError(f"{path}: region '{name}' lists no countries")
        for country in countries:
            if country in seen:
                raise PolicyFileError(
                    f"{path}: country {country} is in both '{seen[country]}' and '{name}'; "
                    "a country belongs to exactly one region"
                )
            seen[country] = name
        regions.append(Region(str(name), str((body or {}).get("description", "")), countries))
    return tuple(regions)


def region_names() -> list[str]:
    return [region.name for region in load_regions()]


def country_to_region() -> dict[str, str]:
    return {country: r.name for r in load_regions() for country in r.countries}
