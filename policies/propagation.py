"""Effective tags per asset and column, propagated through column lineage.

A column is at least as sensitive as anything it is derived from, unless a declared
de-identifying transform lowers it; an asset keeps data no longer than its shortest-lived input;
residency follows the data. Every effective value carries the lineage path that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies.catalog import AssetFacts, Catalog
from policies.rules import RuleSet, retention_days


@dataclass
class ColumnTags:
    level: str
    path: tuple[str, ...]  # asset.column hops from this column to where its level comes from
    reason: str


@dataclass
class AssetTags:
    key: str
    owner: str | None
    retention: str | None
    retention_days: int | None
    retention_source: str
    inputs_retention_days: int | None
    inputs_retention_source: str | None
    region: str | None
    pii: str
    pii_column: str | None
    columns: dict[str, ColumnTags] = field(default_factory=dict)


def _column_tags(rules: RuleSet, asset: AssetFacts, effective: dict[str, AssetTags]
                 ) -> dict[str, ColumnTags]:
    columns = {}
    for column in asset.columns.values():
        inherited = ColumnTags(rules.levels[0], (), "no sensitive input")
        for up_asset, up_column in column.derived_from:
            upstream = effective.get(up_asset)
            found = upstream.columns.get(up_column) if upstream else None
            if found and rules.rank(found.level) > rules.rank(inherited.level):
                inherited = ColumnTags(found.level, (f"{up_asset}.{up_column}", *found.path),
                                       f"derived from {up_asset}.{up_column}")
        if column.transform in rules.transforms:
            yields = rules.transforms[column.transform].yields
            if rules.rank(inherited.level) > rules.rank(yields):
                inherited = ColumnTags(yields, inherited.path,
                                       f"{column.transform} of {inherited.level} input")
        if column.declared and rules.rank(column.declared) > rules.rank(inherited.level):
            inherited = ColumnTags(column.declared, (), "declared")
        columns[column.name] = inherited
    return columns


def _retention(asset: AssetFacts, effective: dict[str, AssetTags]
               ) -> tuple[int | None, str | None]:
    shortest, source = None, None
    for up in asset.upstream:
        days = effective[up].retention_days if up in effective else None
        if days is not None and (shortest is None or days < shortest):
            shortest, source = days, up
    return shortest, source


def _region(asset: AssetFacts, effective: dict[str, AssetTags]) -> str | None:
    if asset.region:
        return asset.region
    inherited = {effective[up].region for up in asset.upstream if up in effective}
    return inherited.pop() if len(inherited) == 1 else None


def propagate(rules: RuleSet, catalog: Catalog) -> dict[str, AssetTags]:
    effective: dict[str, AssetTags] = {}
    for asset in catalog.topological():
        columns = _column_tags(rules, asset, effective)
        pii_column = max(columns, key=lambda c: rules.rank(columns[c].level), default=None)
        inputs_days, inputs_source = _retention(asset, effective)
        declared_days = _days(asset.retention)
        if declared_days is not None:
            retention, days, source = asset.retention, declared_days, "declared"
        elif inputs_days is not None:
            retention, days = effective[inputs_source].retention, inputs_days
            source = f"inherited from {inputs_source}"
        else:
            retention, days, source = None, None, "not declared"
        effective[asset.key] = AssetTags(
            key=asset.key, owner=asset.owner, retention=retention, retention_days=days,
            retention_source=source, inputs_retention_days=inputs_days,
            inputs_retention_source=inputs_source, region=_region(asset, effective),
            pii=columns[pii_column].level if pii_column else rules.levels[0],
            pii_column=pii_column, columns=columns,
        )
    return effective


def _days(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return retention_days(value)
    except ValueError:
        return None
