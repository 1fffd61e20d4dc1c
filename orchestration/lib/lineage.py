"""Column lineage of dbt models, read from their compiled SQL with sqlglot.

For every output column of a model, the (relation, column) pairs it is computed from, found by
walking sqlglot's lineage graph down to the tables the query reads — never guessed from names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

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


class KeptLineage:
    """Column lineage kept in a file, so that the next process loading the definitions reads
    it instead of walking the SQL again (sqlglot's walk of this project's models costs about
    0.7 s in each). A result is found by a digest of all it depends on: sqlglot's version, the
    dialect, the model's SQL and the columns known of the relations it reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.kept = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or torn: everything is walked again
            self.kept = {}
        self.used: dict[str, list] = {}

    def column_lineage(self, sql: str, schema: Mapping) -> dict[str, set[tuple[str, str]]]:
        """As `column_lineage`, from the file when it holds this very question."""
        key = hashlib.sha256(json.dumps([sqlglot.__version__, dialect(), sql, schema],
                                        sort_keys=True).encode()).hexdigest()
        found = self.kept.get(key)
        if found is None:
            found = [[column, [list(source) for source in sorted(sources)]]
                     for column, sources in column_lineage(sql, schema).items()]
        self.used[key] = found
        return {column: {tuple(source) for source in sources} for column, sources in found}

    def save(self) -> None:
        """Keep what this process used (and only that), unless the file holds it already."""
        if self.used == self.kept:
            return
        written = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            written.write_text(json.dumps(self.used), encoding="utf-8")
            written.replace(self.path)
        except OSError:  # a full disk or a read-only project: the next process walks again
            with contextlib.suppress(OSError):
                written.unlink(missing_ok=True)
