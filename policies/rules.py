"""The typed model of the rule files in `policies/`, loaded with errors that say where and why.

Kept whole: every rule file is cross-checked against the others (a consumer's purpose, an
approval's consumer, an audit's model), so they load in one place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from policies import overrides
from policies.approvals import NOBODY_APPROVED, DecisionRights, load_decision_rights
from policies.drift import DriftWatch, load_drift
from policies.review import ReviewRule, load_review
from policies.yaml_source import Located, PolicyFileError, load_located

POLICIES_DIR = Path(__file__).resolve().parent
_DURATION = re.compile(r"^(\d{1,4})([dwmy])$")
_DAYS_PER_UNIT = {"d": 1, "w": 7, "m": 30, "y": 365}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_DATASET = re.compile(r"^[a-z][a-z0-9_]{0,62}(/[a-z][a-z0-9_]{0,62}){1,3}$")


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
    # A keyed hash of a column with fewer distinct values than this is reversible by counting.
    min_distinct_values: int | None = None


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
    datasets: tuple[str, ...] = ()  # purpose limitation: the only datasets it may use


@dataclass(frozen=True)
class Consumer:
    name: str
    team: str
    owner: str
    purpose: str
    regions: tuple[str, ...]
    clearance: str
    datasets: tuple[str, ...]
    legal_basis: str | None


@dataclass(frozen=True)
class FairnessAudit:
    name: str
    model: str  # the asset whose outcome is audited
    outcome: str  # a boolean column: the decision that favours a person
    consumer: str  # who reads the protected attributes, under its own purpose
    subjects: str  # the dataset holding the protected attributes
    key: str  # the column joining the model's rows to their subjects
    attributes: tuple[str, ...]
    min_disparate_impact: float
    max_positive_rate_gap: float
    min_group_size: int
    on_breach: str  # "warn" or "error"
    # A gate (an approval requiring the audit) holds scores back only for a breach beyond
    # sampling error at this confidence; the check reports every breach measured.
    confidence: float = 0.95


@dataclass(frozen=True)
class Slo:
    dataset: str
    freshness_hours: float
    success_rate: float
    latency_p95_seconds: float
    check_pass_rate: float


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
    fairness: dict[str, FairnessAudit] = field(default_factory=dict)
    age_bands: tuple[int, ...] = (18, 30, 45, 60)  # lower bounds of the age bands
    slos: dict[str, Slo] = field(default_factory=dict)
    slo_window_days: int = 7
    # Who may approve what, and what is approved (approvals.yaml); by default nothing is.
    decision_rights: DecisionRights = field(default_factory=lambda: NOBODY_APPROVED)
    drift: dict[str, DriftWatch] = field(default_factory=dict)  # model → its watch
    drift_bins: int = 10
    drift_min_rows: int = 100  # fewer rows scored: drift is measured, not judged
    review: dict[str, ReviewRule] = field(default_factory=dict)  # model → when it defers

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


def _datasets(doc: Located, value: object, *where: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error("'datasets' must list asset keys like marts/customer_features", *where)
    for i, key in enumerate(value):
        if not isinstance(key, str) or not _DATASET.match(key):
            raise doc.error(f"{key!r} is not an asset key like marts/customer_features",
                            *where, i)
    return tuple(value)


def _mapping(doc: Located, key: str) -> dict:
    value = (doc.data or {}).get(key) if isinstance(doc.data, dict) else None
    if not isinstance(value, dict) or not value:
        raise doc.error(f"expected a non-empty '{key}:' mapping", key)
    return value


def _at_least_two(doc: Located, value, *where: str) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 2):
        raise doc.error(f"{where[-1]} must be an integer of at least 2", *where)
    return value


def _levels_and_transforms(doc: Located) -> tuple[tuple[str, ...], dict[str, Transform]]:
    levels = doc.data.get("levels") if isinstance(doc.data, dict) else None
    if not isinstance(levels, list) or len(levels) < 2 or len(set(levels)) != len(levels):
        raise doc.error("'levels' must list at least two distinct levels, weakest first", "levels")
    transforms = {}
    for name, body in (doc.data.get("transforms") or {}).items():
        body = body or {}
        yields = _one_of(doc, body.get("yields"), levels, "level", "transforms", name, "yields")
        size, distinct = (_at_least_two(doc, body.get(field), "transforms", name, field)
                          for field in ("min_group_size", "min_distinct_values"))
        transforms[_name(doc, name, "transforms", name)] = Transform(name, yields, size,
                                                                     distinct)
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
            owner=_name(doc, body.get("owner"), *where, "owner"),
            purpose=purpose,
            regions=tuple(chosen),
            clearance=_one_of(doc, body.get("clearance"), levels, "level", *where, "clearance"),
            datasets=_datasets(doc, body.get("datasets"), *where, "datasets"),
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


def _fraction(doc: Located, value: object, *where: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise doc.error(f"{value!r} is not a fraction between 0 and 1", *where)
    return float(value)


def _confidence(doc: Located, value: object, *where: object) -> float:
    if _fraction(doc, value, *where) >= 1:
        raise doc.error("a confidence is below 1 (0.95: breaches beyond sampling error at 95%)",
                        *where)
    return float(value)


def _fairness(doc: Located, consumers: dict[str, Consumer]) -> dict[str, FairnessAudit]:
    audits = {}
    for name, body in _mapping(doc, "audits").items():
        where = ("audits", name)
        if not isinstance(body, dict):
            raise doc.error("an audit is a mapping (model, outcome, consumer, attributes)", *where)
        model = _datasets(doc, [body.get("model")], *where, "model")[0]
        attributes = body.get("attributes")
        if not isinstance(attributes, list) or not attributes:
            raise doc.error("list the protected attributes to audit by", *where, "attributes")
        size = body.get("min_group_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise doc.error("min_group_size must be a positive integer", *where, "min_group_size")
        audits[_name(doc, name, *where)] = FairnessAudit(
            name=name, model=model,
            outcome=_name(doc, body.get("outcome"), *where, "outcome"),
            consumer=_one_of(doc, body.get("consumer"), list(consumers), "consumer",
                             *where, "consumer"),
            subjects=_datasets(doc, [body.get("subjects")], *where, "subjects")[0],
            key=_name(doc, body.get("key"), *where, "key"),
            attributes=tuple(_name(doc, a, *where, "attributes", i)
                             for i, a in enumerate(attributes)),
            min_disparate_impact=_fraction(doc, body.get("min_disparate_impact"),
                                           *where, "min_disparate_impact"),
            max_positive_rate_gap=_fraction(doc, body.get("max_positive_rate_gap"),
                                            *where, "max_positive_rate_gap"),
            min_group_size=size,
            on_breach=_one_of(doc, body.get("on_breach", "warn"), ["warn", "error"], "severity",
                              *where, "on_breach"),
            confidence=_confidence(doc, body.get("confidence", 0.95), *where, "confidence"),
        )
    return audits


def _age_bands(doc: Located) -> tuple[int, ...]:
    bands = doc.data.get("age_bands") if isinstance(doc.data, dict) else None
    if (not isinstance(bands, list) or not bands or not all(isinstance(b, int) for b in bands)
            or bands != sorted(set(bands))):
        raise doc.error("'age_bands' must list increasing whole ages (lower bounds)", "age_bands")
    return tuple(bands)


def _positive(doc: Located, value: object, *where: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise doc.error(f"{value!r} must be a positive number", *where)
    return float(value)


def _slos(doc: Located) -> tuple[dict[str, Slo], int]:
    window = doc.data.get("window_days", 7) if isinstance(doc.data, dict) else None
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise doc.error("window_days must be a whole number of days", "window_days")
    slos = {}
    for dataset, body in _mapping(doc, "slos").items():
        where = ("slos", dataset)
        _datasets(doc, [dataset], *where)
        if not isinstance(body, dict):
            raise doc.error("an SLO is a mapping of objectives", *where)
        slos[dataset] = Slo(
            dataset,
            _positive(doc, body.get("freshness_hours"), *where, "freshness_hours"),
            _fraction(doc, body.get("success_rate"), *where, "success_rate"),
            _positive(doc, body.get("latency_p95_seconds"), *where, "latency_p95_seconds"),
            _fraction(doc, body.get("check_pass_rate"), *where, "check_pass_rate"))
    return slos, window


def policies_dir() -> Path:
    """The rule files in use: the repository's, or STEWARD_POLICIES_DIR's in the test mode."""
    return Path(overrides.honoured("STEWARD_POLICIES_DIR") or POLICIES_DIR).resolve()


def load_rules(directory: Path | None = None) -> RuleSet:
    """Read and cross-check every rule file; the first problem raises PolicyFileError. What was
    read is kept until a file changes, so a long-lived process (the read service, a code
    server) decides under the rules as they are now."""
    folder = directory or policies_dir()
    with os.scandir(folder) as files:
        stamps = sorted((file.name, file.stat().st_mtime_ns, file.stat().st_size)
                        for file in files if file.name.endswith(".yaml"))
    return _load_rules(folder, tuple(stamps))


def read_rules(directory: Path) -> RuleSet:
    """The rule files in `directory` as they are now (load_rules keeps what it read)."""
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
            _datasets(purposes_doc, body.get("datasets"), "purposes", name, "datasets"),
        )
    consumers_doc = load_located(directory / "consumers.yaml")
    consumers = _consumers(consumers_doc, levels, regions, purposes)
    fairness_doc = load_located(directory / "fairness.yaml")
    slos, window = _slos(load_located(directory / "slos.yaml"))
    fairness = _fairness(fairness_doc, consumers)
    approvals_doc = load_located(directory / "approvals.yaml")
    rights = load_decision_rights(approvals_doc, consumers)
    audited = {audit.model for audit in fairness.values()}
    for model, approval in rights.models.items():
        if approval.fairness_audited and model not in audited:
            raise approvals_doc.error(f"{model} must be fairness-audited, but fairness.yaml "
                                      "has no audit of it", "models", model, "requires")
    bins, min_rows, drift = load_drift(load_located(directory / "drift.yaml"))
    return RuleSet(levels, transforms, tuple(classes), regions, tuple(flows), purposes, consumers,
                   country_regions, fairness, _age_bands(fairness_doc), slos, window, rights,
                   drift, bins, min_rows, load_review(load_located(directory / "review.yaml")))


@lru_cache(maxsize=8)
def _load_rules(directory: Path, _files: tuple) -> RuleSet:
    return read_rules(directory)


__all__ = ["PolicyFileError", "RuleSet", "load_rules", "policies_dir", "read_rules",
           "retention_days"]
