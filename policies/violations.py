"""The rules an asset graph must satisfy; each finding says what, where, why and how to fix."""

from __future__ import annotations

from dataclasses import dataclass

from policies.access import decide
from policies.approvals import consumer_refusal
from policies.catalog import AssetFacts, Catalog
from policies.propagation import AssetTags, lineage_path
from policies.rules import Consumer, RuleSet

TAGS_MISSING = "tags.missing"
RETENTION_UNKNOWN = "retention.unknown_class"
RETENTION_EXCEEDS_INPUTS = "retention.exceeds_inputs"
RETENTION_NO_EVENT_TIME = "retention.no_event_time"
PII_WEAKER_THAN_LINEAGE = "pii.weaker_than_lineage"
PII_UNCLASSIFIED = "pii.unclassified_column"
PII_DETECTED = "pii.undeclared_detected"
REGION_FLOW = "region.flow_not_allowed"
REGION_ROWS_OUTSIDE = "region.rows_outside_region"  # found in a store's data
REGION_DIRECT_READ = "region.direct_read"
RETENTION_ROWS_PAST = "retention.rows_past_limit"  # found in a store's data
GOVERNANCE_UNEVALUATED = "governance.unevaluated"
ACCESS_GRANTED_BEYOND = "access.granted_beyond_policy"  # found in a database's grants
PLACEHOLDER = "TODO"  # written by `steward add source` where only a person can decide


@dataclass(frozen=True)
class Violation:
    rule: str
    asset: str
    message: str
    fix: str
    column: str | None = None
    path: tuple[str, ...] = ()
    declared_in: str = ""

    def where(self) -> str:
        return f"{self.asset}.{self.column}" if self.column else self.asset


def _missing_tags(asset: AssetFacts, tags: AssetTags) -> list[Violation]:
    missing = [name for name, value in
               (("owner", tags.owner), ("retention", tags.retention), ("region", tags.region))
               if not value or value == PLACEHOLDER]
    if not missing:
        return []
    placeholders = [name for name in missing if getattr(asset, name) == PLACEHOLDER]
    unset = [name for name in missing if name not in placeholders]
    said = [f"no {', '.join(unset)} declared or inherited"] if unset else []
    said += [f"{', '.join(placeholders)} still {PLACEHOLDER}"] if placeholders else []
    return [Violation(TAGS_MISSING, asset.key, "; ".join(said),
                      f"declare {', '.join(missing)} under config.meta.steward",
                      declared_in=asset.declared_in)]


def _retention(rules: RuleSet, asset: AssetFacts, tags: AssetTags) -> list[Violation]:
    found = []
    if asset.retention not in (None, PLACEHOLDER, *rules.retention_classes):
        found.append(Violation(RETENTION_UNKNOWN, asset.key,
                               f"retention {asset.retention!r} is not a retention class",
                               f"use one of {', '.join(rules.retention_classes)}",
                               declared_in=asset.declared_in))
    if asset.retention and asset.stored and not asset.upstream and not asset.event_time:
        found.append(Violation(RETENTION_NO_EVENT_TIME, asset.key,
                               f"keeps data {asset.retention} but declares no event_time, so "
                               "nothing tells which rows have expired",
                               "declare event_time: <its timestamp column> under "
                               "config.meta.steward", declared_in=asset.declared_in))
    inputs = tags.inputs_retention_days
    if asset.retention and tags.retention_days and inputs is not None and (
            tags.retention_days > inputs):
        source = tags.inputs_retention_source
        found.append(Violation(
            RETENTION_EXCEEDS_INPUTS, asset.key,
            f"keeps data {asset.retention} but its input {source} may only keep it "
            f"{inputs} days", f"declare a retention of at most {inputs} days",
            path=(asset.key, source or ""), declared_in=asset.declared_in))
    return found


def _pii(rules: RuleSet, asset: AssetFacts, tags: AssetTags,
         effective_all: dict[str, AssetTags]) -> list[Violation]:
    found = []
    for column in asset.columns.values():
        effective = tags.columns[column.name]
        if (column.declared and effective.detected
                and rules.rank(column.declared) < rules.rank(effective.level)):
            found.append(Violation(
                PII_DETECTED, asset.key,
                f"declared {column.declared} but its values hold {effective.level} data",
                f"classify it {effective.level}, or remove that data from it",
                column=column.name, declared_in=asset.declared_in))
        elif column.declared and rules.rank(column.declared) < rules.rank(effective.level):
            found.append(Violation(
                PII_WEAKER_THAN_LINEAGE, asset.key,
                f"declared {column.declared} but lineage makes it {effective.level} "
                f"({effective.reason})",
                f"classify it {effective.level}, or de-identify it and declare the transform "
                f"({', '.join(rules.transforms)})",
                column=column.name, path=lineage_path(effective_all, asset.key, column.name),
                declared_in=asset.declared_in))
        elif asset.contract and column.declared is None and effective.level != rules.levels[0]:
            found.append(Violation(
                PII_UNCLASSIFIED, asset.key,
                f"is {effective.level} through lineage but has no declared classification",
                f"declare config.meta.classification: {effective.level}",
                column=column.name, path=lineage_path(effective_all, asset.key, column.name),
                declared_in=asset.declared_in))
    if asset.pii and rules.rank(asset.pii) < rules.rank(tags.pii):
        column = tags.pii_column
        found.append(Violation(
            PII_WEAKER_THAN_LINEAGE, asset.key,
            f"declared pii: {asset.pii} but column {column} is {tags.pii} "
            f"({tags.columns[column].reason})",
            f"hash, redact or aggregate {column}, or declare pii: {tags.pii}",
            column=column, path=lineage_path(effective_all, asset.key, column),
            declared_in=asset.declared_in))
    return found


def _regions(rules: RuleSet, catalog: Catalog, asset: AssetFacts, tags: AssetTags,
             effective: dict[str, AssetTags]) -> list[Violation]:
    found = []
    if asset.direct_reads:
        found.append(Violation(
            REGION_DIRECT_READ, asset.key,
            f"opens storage itself ({', '.join(asset.direct_reads)}), which can reach another "
            "region's store", "read only through ref() and source(): each run sees its own "
            "region's store and nothing else", declared_in=asset.declared_in))
    for up in asset.upstream:
        source = effective.get(up)
        if not source or not source.region or not tags.region or source.region == tags.region:
            continue
        origins = rules.regions if source.region == "regional" else (source.region,)
        for origin in origins:
            flow = next((f for f in rules.flows
                         if f.source == origin and f.target == tags.region), None)
            if flow is None or rules.rank(tags.pii) > rules.rank(flow.max_level):
                allowed = f"only {flow.max_level} data" if flow else "nothing"
                found.append(Violation(
                    REGION_FLOW, asset.key,
                    f"moves {tags.pii} data from {origin} ({up}) to {tags.region}; "
                    f"policies/regions.yaml allows {allowed} to flow there",
                    f"keep it in {origin} or aggregate it to none before it leaves",
                    path=(asset.key, up), declared_in=asset.declared_in))
    return found


def consumer_violations(rules: RuleSet, consumer: Consumer, catalog: Catalog,
                        effective: dict[str, AssetTags]) -> list[Violation]:
    """Every declared dataset the consumer would be denied: the static check of its edges."""
    unapproved = consumer_refusal(rules.decision_rights, consumer.name)
    if unapproved:  # one violation, not one per dataset it would be denied
        return [Violation(unapproved.rule, f"consumer:{consumer.name}", unapproved.reason,
                          unapproved.fix, declared_in="policies/approvals.yaml")]
    found = []
    for dataset in consumer.datasets:
        decision = decide(rules, consumer, dataset, effective.get(dataset))
        if not decision.allowed:
            found.append(Violation(decision.rule, f"consumer:{consumer.name}",
                                   decision.reason, decision.fix,
                                   declared_in="policies/consumers.yaml"))
    return found


def _unevaluated(catalog: Catalog) -> dict[str, Violation]:
    """Assets whose governance could not be evaluated, and everything derived from them: what
    lineage would have told about them is unknown, so each is held back with the reason."""
    found: dict[str, Violation] = {}
    if not any(asset.problem for asset in catalog.assets.values()):
        return found  # the usual case: no second walk of the whole graph
    for asset in catalog.topological():
        if asset.problem:
            found[asset.key] = Violation(
                GOVERNANCE_UNEVALUATED, asset.key, f"its governance could not be evaluated: "
                f"{asset.problem}", "fix the cause above; until then it and everything built "
                "from it are blocked", declared_in=asset.declared_in)
        elif unknown := next((up for up in asset.upstream if up in found), None):
            found[asset.key] = Violation(
                GOVERNANCE_UNEVALUATED, asset.key, f"it is built from {unknown}, whose "
                "governance could not be evaluated", f"fix {unknown} first",
                path=(asset.key, unknown), declared_in=asset.declared_in)
    return found


def asset_violations(rules: RuleSet, catalog: Catalog,
                     effective: dict[str, AssetTags]) -> list[Violation]:
    unevaluated = _unevaluated(catalog)
    found = list(unevaluated.values())
    for asset in catalog.assets.values():
        tags = effective[asset.key]
        found += _missing_tags(asset, tags)
        found += _retention(rules, asset, tags)
        found += _pii(rules, asset, tags, effective)
        found += _regions(rules, catalog, asset, tags, effective)
    return found
