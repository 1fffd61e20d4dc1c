"""Effective tags per asset and column, propagated through column lineage.

A column is at least as sensitive as anything it is derived from, unless a declared
de-identifying transform lowers it; an asset keeps data no longer than its shortest-lived input;
residency follows the data. Every effective value carries the lineage path that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from policies.catalog import AssetFacts, Catalog
from policies.rules import RuleSet, retention_days


@dataclass(slots=True)
class ColumnTags:
    level: str
    rank: int
    source: tuple[str, str] | None = None  # the (asset, column) its level comes from
    transform: str | None = None  # the de-identifying transform that lowered it
    declared: bool = False
    mask: str | None = None  # how a read masks it: declared, or inherited with its level
    detected: bool = False  # its level is what a scan of its values found

    @property
    def reason(self) -> str:
        if self.declared:
            return "declared"
        if self.detected:
            return "found in its values"
        if self.transform:
            return f"{self.transform} of {self.source[0]}.{self.source[1]}"
        if self.source:
            return f"derived from {self.source[0]}.{self.source[1]}"
        return "no sensitive input"


@dataclass(slots=True)
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


def lineage_path(effective: dict[str, AssetTags], asset: str, column: str) -> tuple[str, ...]:
    """asset.column hops from a column back to where its level comes from."""
    hops: list[str] = []
    current = effective[asset].columns.get(column)
    while current is not None and current.source is not None and len(hops) < 1000:
        up_asset, up_column = current.source
        hops.append(f"{up_asset}.{up_column}")
        current = effective[up_asset].columns.get(up_column) if up_asset in effective else None
    return tuple(hops)


def _column_tags(rules: RuleSet, asset: AssetFacts,
                 known: dict[tuple[str, str], ColumnTags]) -> dict[str, ColumnTags]:
    """Tags of one asset's columns; `known` holds every upstream (asset, column) seen so far."""
    rank, levels, transforms = rules.ranks, rules.levels, rules.transforms
    no_input = ColumnTags(levels[0], 0)  # shared: most columns carry nothing sensitive
    lookup = known.get
    columns = {}
    for column in asset.columns.values():
        best, source = 0, None
        for pair in column.derived_from:
            found = lookup(pair)
            if found is not None and found.rank > best:
                best, source = found.rank, pair
        tags = ColumnTags(levels[best], best, source) if source else no_input
        if column.transform:
            transform = transforms.get(column.transform)
            if transform and best > rank[transform.yields]:
                tags = ColumnTags(transform.yields, rank[transform.yields], source,
                                  column.transform)
        if column.detected and rank[column.detected] > tags.rank:
            tags = ColumnTags(column.detected, rank[column.detected], detected=True)
        if column.declared and rank[column.declared] > tags.rank:
            tags = ColumnTags(column.declared, rank[column.declared], declared=True)
        # A mask follows a column copied under its own name (body → body); a column computed
        # from it (a queue predicted from a text) is not that text, so declares its own.
        mask = column.mask or (known[source].mask if source and source[1] == column.name
                               else None)
        if mask and tags.mask != mask:
            tags = replace(tags, mask=mask)
        columns[column.name] = tags
        known[(asset.key, column.name)] = tags
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
    known: dict[tuple[str, str], ColumnTags] = {}
    for asset in catalog.topological():
        columns = _column_tags(rules, asset, known)
        pii_column = max(columns, key=lambda c: columns[c].rank, default=None)
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
