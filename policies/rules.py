"""The typed model of the rule files in `policies/`, loaded with errors that say where and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from policies.yaml_source import Located, PolicyFileError, load_located

POLICIES_DIR = Path(__file__).resolve().parent
_DURATION = re.compile(r"^(\d{1,4})([dwmy])$")
_DAYS_PER_UNIT = {"d": 1, "w": 7, "m": 30, "y": 365}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def retention_days(value: str) -> int:
    """'90d' → 90, '7y' → 2555; raises ValueError on anything else."""
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"retention {value!r} is not a duration like 30d, 12w, 6m or 7y")
    return int(match.group(1)) * _DAYS_PER_UNIT[match.group(2)]


@dataclass(frozen=True)
class Transform:
    name: str
    yields: str
    min_group_size: int | None = None


@dataclass(frozen=True)
class Flow:
    source: str
    target: str
    max_level: str


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    max_level: str
    requires_legal_basis: bool


@dataclass(frozen=True)
class Consumer:
    name: str
    team: str
    purpose: str
    regions: tuple[str, ...]
    clearance: str
    datasets: tuple[str, ...]
    legal_basis: str | None


@dataclass(frozen=True)
class RuleSet:
    levels: tuple[str, ...]
    transforms: dict[str, Transform]
    retention_classes: tuple[str, ...]
    regions: tuple[str, ...]
    flows: tuple[Flow, ...]
    purposes: dict[str, Purpose]
    consumers: dict[str, Consumer]
    country_regions: dict[str, str]  # ISO country code → the region its rows are routed to

    @property
    def ranks(self) -> dict[str, int]:
        """Level → position, weakest 0; a plain dict because propagation asks millions of times."""
        return _ranks(self.levels)

    def rank(self, level: str) -> int:
        return self.ranks[level]

    def max_level(self, levels) -> str:
        return max(levels, key=self.rank, default=self.levels[0])


@cache
def _ranks(levels: tuple[str, ...]) -> dict[str, int]:
    return {level: i for i, level in enumerate(levels)}


def _name(doc: Located, value: object, *where: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise doc.error(f"{value!r} is not a valid name (lowercase letters, digits, _ or -)",
                        *where)
    return value


def _one_of(doc: Located, value: object, allowed, what: str, *where: object) -> str:
    if value not in allowed:
        raise doc.error(f"unknown {what} {value!r}; use one of: {', '.join(allowed)}", *where)
    return str(value)


def _mapping(doc: Located, key: str) -> dict:
    value = (doc.data or {}).get(key) if isinstance(doc.data, dict) else None
    if not isinstance(value, dict) or not value:
        raise doc.error(f"expected a non-empty '{key}:' mapping", key)
    return value


def _levels_and_transforms(doc: Located) -> tuple[tuple[str, ...], dict[str, Transform]]:
    levels = doc.data.get("levels") if isinstance(doc.data, dict) else None
    if not isinstance(levels, list) or len(levels) < 2 or len(set(levels)) != len(levels):
        raise doc.error("'levels' must list at least two distinct levels, weakest first", "levels")
    transforms = {}
    for name, body in (doc.data.get("transforms") or {}).items():
        body = body or {}
        yields = _one_of(doc, body.get("yields"), levels, "level", "transforms", name, "yields")
        size = body.get("min_group_size")
        if size is not None and (not isinstance(size, int) or size < 2):
            raise doc.error("min_group_size must be an integer of at least 2",
                            "transforms", name, "min_group_size")
        transforms[_name(doc, name, "transforms", name)] = Transform(name, yields, size)
    return tuple(levels), transforms


def _consumers(doc: Located, levels, regions, purposes: dict[str, Purpose]) -> dict[str, Consumer]:
    consumers = {}
    for name, body in _mapping(doc, "consumers").items():
        where = ("consumers", name)
        if not isinstance(body, dict):
            raise doc.error("a consumer is a mapping (team, purpose, regions, clearance)", *where)
        purpose = _one_of(doc, body.get("purpose"), list(purposes), "purpose", *where, "purpose")
        chosen = body.get("regions")
        if not isinstance(chosen, list) or not chosen:
            raise doc.error("list the regions this consumer may read", *where, "regions")
        for i, region in enumerate(chosen):
            _one_of(doc, region, regions, "region", *where, "regions", i)
        consumer = Consumer(
            name=_name(doc, name, *where),
            team=_name(doc, body.get("team"), *where, "team"),
            purpose=purpose,
            regions=tuple(chosen),
            clearance=_one_of(doc, body.get("clearance"), levels, "level", *where, "clearance"),
            datasets=tuple(body.get("datasets") or ()),
            legal_basis=body.get("legal_basis"),
        )
        if purposes[purpose].requires_legal_basis and not consumer.legal_basis:
            raise doc.error(f"purpose {purpose} requires a recorded legal_basis", *where)
        consumers[name] = consumer
    return consumers


def _country_regions(doc: Located) -> dict[str, str]:
    """Every country routes to exactly one region."""
    routed: dict[str, str] = {}
    for region, body in _mapping(doc, "regions").items():
        countries = (body or {}).get("countries") if isinstance(body, dict) else None
        if not isinstance(countries, list) or not countries:
            raise doc.error(f"region '{region}' lists no countries", "regions", region)
        for i, country in enumerate(countries):
            code = str(country).upper()
            if code in routed:
                raise doc.error(f"country {code} is in both '{routed[code]}' and '{region}'; a "
                                "country belongs to exactly one region",
                                "regions", region, "countries", i)
            routed[code] = region
    return routed


@cache
def load_rules(directory: Path = POLICIES_DIR) -> RuleSet:
    """Read and cross-check every rule file; the first problem raises PolicyFileError."""
    classifications = load_located(directory / "classifications.yaml")
    levels, transforms = _levels_and_transforms(classifications)
    retention = load_located(directory / "retention.yaml")
    classes = retention.data.get("classes") if isinstance(retention.data, dict) else None
    if not isinstance(classes, list) or not classes:
        raise retention.error("'classes' must list the allowed retentions", "classes")
    for i, value in enumerate(classes):
        try:
            retention_days(value)
        except ValueError as error:
            raise retention.error(str(error), "classes", i) from None
    regions_doc = load_located(directory / "regions.yaml")
    regions = tuple(_name(regions_doc, n, "regions", n) for n in _mapping(regions_doc, "regions"))
    country_regions = _country_regions(regions_doc)
    flows = []
    for i, flow in enumerate(regions_doc.data.get("flows") or []):
        where = ("flows", i)
        source = _one_of(regions_doc, flow.get("from"), regions, "region", *where, "from")
        target = _name(regions_doc, flow.get("to"), *where, "to")
        level = _one_of(regions_doc, flow.get("max_level"), levels, "level", *where, "max_level")
        flows.append(Flow(source, target, level))
    purposes_doc = load_located(directory / "purposes.yaml")
    purposes = {}
    for name, body in _mapping(purposes_doc, "purposes").items():
        body = body or {}
        purposes[_name(purposes_doc, name, "purposes", name)] = Purpose(
            name, str(body.get("description", "")),
            _one_of(purposes_doc, body.get("max_level"), levels, "level",
                    "purposes", name, "max_level"),
            bool(body.get("requires_legal_basis", False)),
        )
    consumers_doc = load_located(directory / "consumers.yaml")
    consumers = _consumers(consumers_doc, levels, regions, purposes)
    return RuleSet(levels, transforms, tuple(classes), regions, tuple(flows), purposes, consumers,
                   country_regions)


__all__ = ["PolicyFileError", "RuleSet", "load_rules", "retention_days"]
