"""The shared warehouse: PostgreSQL, one database per store, reached over ADBC.

A store is a database named by its DSN. ADBC moves Arrow in and out without a row-by-row
conversion (about 1M rows/s into a table here, where COPY through CSV manages 0.4M). The
server serializes writers itself, so there are no file locks.

Steward's SQL takes `?` placeholders, as DuckDB does; a connection numbers them (`$1`, `$2`, …)
the way the server expects, leaving quoted text and identifiers alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

DIALECT = "postgres"  # sqlglot's name for the SQL this backend speaks
Error = adbc_driver_manager.Error

# Type names as the catalog spells them → as Steward's declarations (and DuckDB) spell them.
_TYPE_NAMES = {
    "character varying": "VARCHAR", "text": "VARCHAR", "bigint": "BIGINT",
    "integer": "INTEGER", "smallint": "SMALLINT", "double precision": "DOUBLE",
    "real": "FLOAT", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
}


def numbered_placeholders(sql: str) -> str:
    """`?` placeholders as `$1`, `$2`, … outside quoted text and quoted identifiers."""
    out, number, quote = [], 0, None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    return "".join(out)


class Connection:
    """One connection to a store, in autocommit mode: a caller's `BEGIN` … `COMMIT` makes a
    transaction, as on DuckDB. `execute` answers with the cursor, to fetch from."""

    def __init__(self, raw: adbc.Connection) -> None:
        self._raw = raw
        self._cursor = raw.cursor()

    def execute(self, sql: str, params: list | tuple = ()) -> adbc.Cursor:
        # Only a statement that binds values has placeholders to number: one without (a
        # function body, say) goes to the server exactly as written.
        if params:
            self._cursor.execute(numbered_placeholders(sql), list(params))
        else:
            self._cursor.execute(sql)
        return self._cursor

    def executemany(self, sql: str, rows: list) -> None:
        self._cursor.executemany(numbered_placeholders(sql), rows)

    @property
    def cursor(self) -> adbc.Cursor:
        return self._cursor

    def close(self) -> None:
        self._cursor.close()
        self._raw.close()


@contextmanager
def _connection(dsn: str, read_only: bool) -> Iterator[Connection]:
    con = Connection(adbc.connect(dsn, autocommit=True))
    try:
        if read_only:
            con.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        yield con
    finally:
        con.close()


def write_connection(dsn: str) -> contextlib.AbstractContextManager[Connection]:
    """A read-write connection to one store."""
    return _connection(dsn, read_only=False)


def reader(dsn: str) -> contextlib.AbstractContextManager[Connection]:
    """A connection whose every transaction is read-only: a write fails, whatever the role."""
    return _connection(dsn, read_only=True)


def connect(dsn: str, write: bool = False) -> contextlib.AbstractContextManager[Connection]:
    """`write_connection` when the caller will write, else `reader` (a dry run only reads)."""
    return _connection(dsn, read_only=not write)


def exists(dsn: str) -> bool:
    """Whether the store's database exists and answers."""
    try:
        with _connection(dsn, read_only=True):
            return True
    except Error:
        return False


def table_exists(con: Connection, schema: str, table: str, catalog: str | None = None) -> bool:
    """Whether `schema.table` (a table or a view) exists in this store; `catalog`, when given,
    must be this store's own database."""
    [(count,)] = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND "
        "table_name = ? AND (CAST(? AS text) IS NULL OR table_catalog = ?)",
        [schema, table, catalog, catalog]).fetchall()
    return bool(count)


def _steward_type(catalog_type: str) -> str:
    if catalog_type.startswith("numeric("):
        return "DECIMAL" + catalog_type.removeprefix("numeric").replace(" ", "")
    if catalog_type.endswith("[]"):
        return _steward_type(catalog_type[:-2]) + "[]"
    return _TYPE_NAMES.get(catalog_type, catalog_type.upper())


def table_columns(con: Connection, schema: str, table: str,
                  catalog: str | None = None) -> dict[str, str]:
    """Column name → type of `schema.table`, in table order, with the type spelled as Steward
    declares it (VARCHAR, DOUBLE, DECIMAL(18,2)); empty when the table does not exist."""
    del catalog  # one database per store: a relation is never in another catalog
    rows = con.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ? AND c.relname = ? AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum", [schema, table]).fetchall()
    return {name: _steward_type(kind) for name, kind in rows}


def replace_table(con: Connection, relation: str, definition: str,
                  params: list | tuple = ()) -> None:
    """Create `relation` (already quoted) anew from `definition`, a column list in parentheses
    or `AS SELECT ...`, dropping what it held before. Inside the caller's transaction the swap
    is atomic; without one a reader may find the table missing for a moment."""
    con.execute(f"DROP TABLE IF EXISTS {relation}")
    con.execute(f"CREATE TABLE {relation} {definition}", params)


def delete_where(con: Connection, relation: str, condition: str, params: list | tuple = (),
                 count_only: bool = False) -> int:
    """Delete the rows of `relation` (already quoted) that match `condition` and say how many;
    with `count_only`, count them and delete nothing (a dry run)."""
    matched = (f"SELECT 1 FROM {relation} WHERE {condition}" if count_only else
               f"DELETE FROM {relation} WHERE {condition} RETURNING 1")
    [(count,)] = con.execute(f"WITH matched AS ({matched}) SELECT count(*) FROM matched",
                             params).fetchall()
    return int(count)


def stage_arrow(con: Connection, name: str, data: object) -> None:
    """Make Arrow (or pandas) data queryable as `name`: a temporary table of this session."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data)
    con.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
    con.cursor.adbc_ingest(name, table, mode="create", temporary=True)


def select_arrow(con: Connection, query: str, params: list | tuple = ()) -> pa.Table:
    """What `query` selects, as Arrow, straight from the wire format."""
    return con.execute(query, params).fetch_arrow_table()


def sample(relation: str, rows: int) -> str:
    """A FROM item reading at most `rows` rows of `relation`, the same ones on every call while
    the rows do not change (ordered by a hash of each row)."""
    return (f"(SELECT * FROM {relation} AS sampled ORDER BY hashtext(sampled::text) "
            f"LIMIT {int(rows)}) AS sampled")
