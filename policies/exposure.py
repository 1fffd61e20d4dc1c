"""What each consumer may see, dataset by dataset and column by column: the read decisions laid
out for a database to enforce on its own (roles, column grants, masking views), so the policy
holds for any client, not only Steward's read path.

A column is exposed as the read path would serve it when asked for alone: raw, or masked
(keyed hash, redaction). A column that no mask brings down to what the consumer may see is
withheld, where a read naming it would be denied. A dataset the consumer may not read at all
(undeclared, outside its purpose or its regions) is not exposed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from policies.access import ColumnAccess, decide
from policies.propagation import AssetTags
from policies.rules import RuleSet


@dataclass(frozen=True)
class Exposure:
    consumer: str
    dataset: str
    regions: tuple[str, ...]
    columns: tuple[ColumnAccess, ...]  # in the dataset's column order
    withheld: tuple[str, ...] = ()


def exposures(rules: RuleSet, effective: Mapping[str, AssetTags]) -> list[Exposure]:
    """Every (consumer, dataset) the policy lets through, with each column's treatment."""
    found = []
    for name, consumer in sorted(rules.consumers.items()):
        for dataset in consumer.datasets:
            tags = effective.get(dataset)
            columns, withheld, regions = [], [], ()
            for column in tags.columns if tags else ():
                decision = decide(rules, consumer, dataset, tags, (column,))
                if decision.allowed:
                    columns.extend(decision.columns)
                    regions = decision.regions
                else:
                    withheld.append(column)
            if columns:
                found.append(Exposure(name, dataset, regions, tuple(columns), tuple(withheld)))
    return found
