"""What the engine knows about the asset graph: declared tags, columns and column lineage.

Adapters build this from source declarations and the dbt manifest; the engine never imports
Dagster or dbt, so it can be tested and benchmarked on any synthetic graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ColumnFacts:
    name: str
    declared: str | None = None  # declared classification; None means "not declared"
    transform: str | None = None  # a declared de-identifying transform, e.g. "redaction"
    derived_from: tuple[tuple[str, str], ...] = ()  # (asset, column) pairs from lineage
    mask: str | None = None  # how a read above clearance masks it: "redaction" for free text
    subject: str | None = None  # the kind of data subject it identifies, e.g. "customer"
    detected: str | None = None  # the level its values show, from a PII scan of data as shipped


@dataclass(frozen=True, slots=True)
class AssetFacts:
    key: str  # e.g. "crm/customers", "marts/customer_features"
    owner: str | None = None
    retention: str | None = None
    region: str | None = None  # "regional" (one partition per region), a region, or "global"
    pii: str | None = None  # declared asset-level ceiling
    columns: dict[str, ColumnFacts] = field(default_factory=dict)
    upstream: tuple[str, ...] = ()
    declared_in: str = ""  # the file a person edits to change this asset's governance
    contract: bool = False  # a shared dataset whose columns must all be classified
    event_time: str | None = None  # the column whose age retention is measured by
    stored: bool = True  # False for a view: it holds no rows of its own
    direct_reads: tuple[str, ...] = ()  # storage it opens itself (ATTACH, read_parquet, ...)
    problem: str | None = None  # why its governance could not be evaluated (it is then blocked)


@dataclass(frozen=True)
class Catalog:
    assets: dict[str, AssetFacts]

    def topological(self) -> list[AssetFacts]:
        """Upstream before downstream; an edge to an unknown asset is ignored here."""
        order, state = [], {}
        for root in self.assets:
            stack = [(root, False)]
            while stack:
                key, expanded = stack.pop()
                if expanded:
                    state[key] = 2
                    order.append(self.assets[key])
                    continue
                if state.get(key) or key not in self.assets:
                    continue
                state[key] = 1
                stack.append((key, True))
                stack.extend((up, False) for up in self.assets[key].upstream
                             if up in self.assets and not state.get(up))
        return order
