"""Whether a source table's foreign keys lead somewhere.

A column declared with `references: source.table.column` is checked against that table across
every region's store: a key may point to a row kept in another region, but not to nothing.
Empty keys and keys found nowhere are counted, never fixed: a late export of the referenced
table resolves them on a later run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from orchestration.lib.sources import SourceTable, load_source_tables
from orchestration.lib.warehouse import (
    exists,
    link,
    quote_ident,
    scratch_connection,
    store_path,
)


@dataclass(frozen=True)
class ReferenceReport:
    column: str
    references: str
    rows: int
    empty: int  # rows whose key is missing or blank
    orphans: int  # rows whose key is in no region's referenced table

    @property
    def holds(self) -> bool:
        return not self.empty and not self.orphans


def _union(spec: SourceTable, column: str, stores: dict) -> str | None:
    """`column` of `spec`'s table in every region store that holds it, as one relation of the
    scratch engine."""
    parts = ["SELECT v FROM " + store.to_scratch(
        f"{region}_{spec.table}_{column}", f"SELECT {quote_ident(column)} AS v FROM "
                                           f"{store.relation(spec.schema, spec.table)}")
             for region, store in stores.items() if store.table_exists(spec.schema, spec.table)]
    return " UNION ALL ".join(parts) or None


def check_references(spec: SourceTable, regions: list[str]) -> list[ReferenceReport]:
    """One report per declared foreign key of `spec`, over all of `regions`' stores."""
    declared = {s.name: s for s in load_source_tables()}
    keys = [c for c in spec.columns if c.references]
    if not keys:
        return []
    reports = []
    with contextlib.ExitStack() as stack:
        con = scratch_connection()
        stack.callback(con.close)
        stores = {region: stack.enter_context(link(con, store_path(region), region,
                                                    read_only=True))
                  for region in regions if exists(store_path(region))}
        for column in keys:
            target, _, target_column = column.references.rpartition(".")
            rows = _union(spec, column.name, stores)
            known = _union(declared[target], target_column, stores)
            if rows is None:
                reports.append(ReferenceReport(column.name, column.references, 0, 0, 0))
                continue
            blank = "v IS NULL OR trim(v::VARCHAR) = ''"
            # NULLs kept out of the list: `v IN (…, NULL)` is unknown, never false.
            found = f"v IN (SELECT v FROM ({known}) WHERE v IS NOT NULL)" if known else "false"
            total, empty, orphans = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {blank}), "
                f"count(*) FILTER (WHERE NOT ({blank}) AND NOT ({found})) FROM ({rows})"
            ).fetchall()[0]
            reports.append(ReferenceReport(column.name, column.references, total, empty, orphans))
    return reports
