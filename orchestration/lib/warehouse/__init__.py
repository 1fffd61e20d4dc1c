"""The warehouse boundary: the only package that knows which engine holds the stores.

Every other module opens stores, asks what exists and moves rows through the names below, and
never imports a database driver. A store is named by its path in the embedded profile
(`store_path`, `Settings.quarantine_store`, …); `STEWARD_WAREHOUSE` chooses the backend that
path leads to, on each call: the DuckDB file itself, or the PostgreSQL database of that name
(`warehouse/postgres.py`). The interface:

- connect and lock: `reader`, `write_connection`, `connect` (either), `locked` (held around
  dbt, which connects itself), `dbt_connection` (the dbt target, its environment and the
  database its models land in), `pipeline_lock`, `store_path`;
- ask: `exists` (the store), `table_exists`, `table_columns`, `table_if_present` (the store
  opened when it holds a table), `rows_if_present`, `held_in`, `columns_or_null` (columns a
  table written by an older Steward may lack);
- evolve a bookkeeping table: `add_missing_column`;
- read and write: `select_arrow`, `stage_arrow` (Arrow data as a relation), `insert_rows`
  (many rows in one statement), `replace_table`,
  `delete_where` and `update_where` (or count, for a dry run), `text_columns`, `sample` (a
  FROM item), `insertion_order` (an ORDER BY key), `content_digest` (a table's rows and a
  digest of their values), `distinct_count`, `serialize_writers` (of one table, in a transaction),
  `storage_errors_explained`;
- the in-process engine that parses landing files and analyses Arrow data on every backend:
  `engine`, `scratch_connection`, `link` (a store beside it, rows moving either way),
  `sql_text_list`;
- reading for a consumer where the database holds the policy itself (PostgreSQL):
  `enforced_in_database`, `read_as` (logged in as the consumer's role), `LoginRefused`,
  `NotGranted`;
- `Connection`, `Error` (either driver's), `dialect()` (sqlglot's name for the SQL spoken),
  `translated` (SQL written in DuckDB's dialect, in the chosen backend's), `column_type` (a
  declared type, likewise), `regex_match` and `regex` (a policy pattern, matched in the
  backend's dialect), `great_expectations_source` (how GE's SQL data source opens a store, held
  meanwhile),
  `lineage_address` (where OpenLineage names a store's datasets).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import adbc_driver_manager
import pyarrow as pa

from orchestration.lib.settings import chosen_warehouse, get_settings
from orchestration.lib.warehouse import duckdb, postgres
from orchestration.lib.warehouse.duckdb import (
    LOCK_TIMEOUT_SECONDS,
    StoreWriteError,
    engine,
    pipeline_lock,
    scratch_connection,
    sql_text_list,
    storage_errors_explained,
)
from orchestration.lib.warehouse.grants import NotGranted, read_as
from orchestration.lib.warehouse.postgres import LoginRefused, StoreUnreachable
from orchestration.lib.warehouse.sql import (
    UnsafeIdentifierError,
    qualified,
    quote_ident,
    sql_literal,
)

Connection = Any  # a DuckDB connection, or warehouse.postgres.Connection
Error = (duckdb.Error, adbc_driver_manager.Error)  # what either driver raises


def _backend() -> ModuleType:
    return postgres if chosen_warehouse() == "postgres" else duckdb


def _each_backend(name: str) -> Callable:
    """`name` of the backend chosen when it is called (tests switch it between calls)."""

    @functools.wraps(getattr(duckdb, name))
    def dispatched(*args, **kwargs):
        return getattr(_backend(), name)(*args, **kwargs)

    return dispatched


def _connections_backend(name: str) -> Callable:
    """`name` of the backend its first argument, a connection, belongs to: the in-process
    DuckDB engine serves every backend, so a DuckDB connection is not always a store's."""

    @functools.wraps(getattr(duckdb, name))
    def dispatched(con, *args, **kwargs):
        backend = postgres if isinstance(con, postgres.Connection) else duckdb
        return getattr(backend, name)(con, *args, **kwargs)

    return dispatched


reader = _each_backend("reader")
write_connection = _each_backend("write_connection")
connect = _each_backend("connect")
locked = _each_backend("locked")
link = _each_backend("link")
exists = _each_backend("exists")
great_expectations_source = _each_backend("great_expectations_source")
dbt_connection = _each_backend("dbt_connection")
sample = _each_backend("sample")
translated = _each_backend("translated")
row_hash = _each_backend("row_hash")
distinct_count = _each_backend("distinct_count")
regex_match = _each_backend("regex_match")
regex = _each_backend("regex")
column_type = _each_backend("column_type")
insertion_order = _each_backend("insertion_order")
lineage_address = _each_backend("lineage_address")
table_exists = _connections_backend("table_exists")
table_columns = _connections_backend("table_columns")
select_arrow = _connections_backend("select_arrow")
stage_arrow = _connections_backend("stage_arrow")
replace_table = _connections_backend("replace_table")
delete_where = _connections_backend("delete_where")
update_where = _connections_backend("update_where")
text_columns = _connections_backend("text_columns")
serialize_writers = _connections_backend("serialize_writers")


def dialect() -> str:
    """sqlglot's name for the SQL the chosen backend speaks."""
    return _backend().DIALECT


def enforced_in_database() -> bool:
    """Whether the chosen backend holds the policy itself (roles, column grants, masking views,
    row security): a read for a consumer then logs in as its role, rather than masking in
    Steward."""
    return chosen_warehouse() == "postgres"


def store_path(region: str) -> Path:
    """Where a region's store is; on PostgreSQL its stem names the region's database."""
    quote_ident(region)
    return get_settings().region_store(region)


@contextlib.contextmanager
def table_if_present(path: Path, schema: str, table: str, write: bool = False
                     ) -> Iterator[Connection | None]:
    """The store at `path` opened (for writing when `write`) when it holds schema.table, else
    None: a store or table not written yet has nothing to read or change."""
    if not exists(path):
        yield None
        return
    with connect(path, write=write) as con:
        yield con if table_exists(con, schema, table) else None


def rows_if_present(path: Path, table: str, sql: str, params: list | tuple = (),
                    schema: str = "main") -> list[tuple]:
    """The rows `sql` reads from a bookkeeping table, or none while its store or the table
    has not been written yet."""
    with table_if_present(path, schema, table) as con:
        return [] if con is None else con.execute(sql, params).fetchall()



def columns_or_null(con: Connection, schema: str, table: str, columns: Iterable[str]) -> str:
    """A SELECT list of `columns`, NULL standing for each that schema.table lacks: a table an
    older Steward wrote reads as if a newer column were empty until a write adds it."""
    present = table_columns(con, schema, table)
    return ", ".join(quote_ident(column) if column in present else "NULL"
                     for column in columns)


def add_missing_column(con: Connection, schema: str, table: str, column: str, kind: str
                       ) -> None:
    """Give schema.table, written by an older Steward, the `column` it lacks. A table that has
    it is not altered: on PostgreSQL an ALTER TABLE waits for every reader of the table and
    holds back every later one, even when it changes nothing."""
    if column not in table_columns(con, schema, table):
        con.execute(f"ALTER TABLE {qualified(schema, table)} ADD COLUMN IF NOT EXISTS "
                    f"{quote_ident(column)} {kind}")

# The Arrow type of each column type Steward's own bookkeeping tables declare.
_ARROW_TYPES = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "BIGINT": pa.int64(),
                "INTEGER": pa.int32(), "DOUBLE PRECISION": pa.float64(), "BOOLEAN": pa.bool_()}


def insert_rows(con: Connection, relation: str, declared: str, rows: list[tuple]) -> None:
    """Insert `rows` into `relation` in one statement: tuples in the order of `declared`, a
    column list like "name VARCHAR, at TIMESTAMP". Row by row, the drivers take seconds for
    the thousands of rows a run at scale writes."""
    columns = [column.split(maxsplit=1) for column in declared.split(", ")]
    if unknown := sorted({kind for _, kind in columns} - set(_ARROW_TYPES)):
        raise ValueError(f"insert_rows cannot stage the column type(s) {', '.join(unknown)}; "
                         f"it knows {', '.join(_ARROW_TYPES)}")
    stage_arrow(con, "steward_inserted", pa.table({
        name: pa.array([row[i] for row in rows], _ARROW_TYPES[kind])
        for i, (name, kind) in enumerate(columns)}))
    names = ", ".join(name for name, _ in columns)
    con.execute(f"INSERT INTO {relation} ({names}) SELECT {names} FROM steward_inserted")


def content_digest(con: Connection, schema: str, table: str, columns: Iterable[str]
                   ) -> tuple[int, str]:
    """How many rows `schema.table` holds and a digest of their `columns`, in one scan: the
    same rows give the same digest in any order, a changed value another."""
    count, total = con.execute(
        f"SELECT count(*), CAST(coalesce(sum({row_hash(map(quote_ident, columns))}), 0) AS "
        f"VARCHAR) FROM {qualified(schema, table)}").fetchone()
    return count, total


def held_in(regions: Iterable[str], relation: tuple[str, str]
            ) -> Iterator[tuple[str, Connection]]:
    """(region, read-only connection) for each region whose store holds `relation`; regions
    without the store or the table yet are skipped."""
    for region in regions:
        with table_if_present(store_path(region), *relation) as con:
            if con is not None:
                yield region, con


__all__ = [
    "LOCK_TIMEOUT_SECONDS",
    "Connection",
    "Error",
    "LoginRefused",
    "NotGranted",
    "StoreUnreachable",
    "StoreWriteError",
    "UnsafeIdentifierError",
    "add_missing_column",
    "column_type",
    "columns_or_null",
    "connect",
    "content_digest",
    "dbt_connection",
    "delete_where",
    "dialect",
    "distinct_count",
    "enforced_in_database",
    "engine",
    "exists",
    "great_expectations_source",
    "held_in",
    "insert_rows",
    "insertion_order",
    "lineage_address",
    "link",
    "locked",
    "pipeline_lock",
    "qualified",
    "quote_ident",
    "read_as",
    "reader",
    "regex",
    "regex_match",
    "replace_table",
    "rows_if_present",
    "sample",
    "scratch_connection",
    "select_arrow",
    "serialize_writers",
    "sql_literal",
    "sql_text_list",
    "stage_arrow",
    "storage_errors_explained",
    "store_path",
    "table_columns",
    "table_exists",
    "table_if_present",
    "text_columns",
    "translated",
    "update_where",
    "write_connection",
]
