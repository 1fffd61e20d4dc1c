"""Column lineage of dbt models, read from their compiled SQL with sqlglot.

For every output column of a model, the (relation, column) pairs it is computed from, found by
walking sqlglot's lineage graph down to the tables the query reads — never guessed from names.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

from orchestration.lib.warehouse import dialect


def relation_name(table: exp.Table) -> str:
    """`"eu"."raw_crm"."customers"` → `raw_crm.customers` (catalog dropped: it is the region)."""
    return f"{table.db}.{table.name}".lower()


def column_lineage(sql: str, schema: Mapping[str, Mapping[str, Mapping[str, Mapping[str, str]]]]
                   ) -> dict[str, set[tuple[str, str]]]:
    """{output column: {(schema.table, column), ...}} for one model's compiled SQL."""
    expression = qualify(sqlglot.parse_one(sql, dialect=dialect()), schema=schema,
                         dialect=dialect(), validate_qualify_columns=False)
    scope = build_scope(expression)  # built once: lineage() would rebuild it for every column
    result: dict[str, set[tuple[str, str]]] = {}
    for column in expression.named_selects:
        node = lineage(column, expression, schema=schema, dialect=dialect(), scope=scope,
                       copy=False)
        sources = set()
        for leaf in node.walk():
            if isinstance(leaf.expression, exp.Table) and not leaf.downstream:
                column_name = leaf.name.split(".")[-1].strip('"').lower()
                sources.add((relation_name(leaf.expression), column_name))
        result[column] = sources
    return result
