"""Quoting for the SQL Steward writes: identifiers refused unless plain, literals escaped.

Both are the same in DuckDB and PostgreSQL, so every backend and every caller shares them.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class UnsafeIdentifierError(ValueError):
    """A schema, table or column name that would need quoting tricks to be used in SQL."""


def quote_ident(name: str) -> str:
    """Quote a declared identifier; refuse anything that is not a plain SQL name."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise UnsafeIdentifierError(
            f"identifier {name!r} is not allowed: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 63 characters)"
        )
    return f'"{name}"'


def qualified(schema: str, table: str, catalog: str | None = None) -> str:
    parts = [catalog, schema, table] if catalog else [schema, table]
    return ".".join(quote_ident(part) for part in parts)


def sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"
