"""The shared warehouse: PostgreSQL, one database per store, reached over ADBC.

A store is a database: the one `settings.postgres_dsn` names for the store's name (its file's
stem in the embedded profile: `eu`, `quarantine`, `audit`), or a DSN given as is. Steward's
bookkeeping tables sit in a schema `main`, as in a DuckDB file, which a connection searches
first. ADBC moves Arrow in and out without a row-by-row conversion (about 1M rows/s into a
table here, where COPY through CSV manages 0.4M). The server serializes writers itself, so
there are no file locks.

Steward's SQL takes `?` placeholders, as DuckDB does; a connection numbers them (`$1`, `$2`, …)
the way the server expects, leaving quoted text and identifiers alone.

Kept whole: it is the one backend's implementation of the warehouse interface; split, each
part would be half of a backend.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot

from orchestration.lib.settings import postgres_dsn
from orchestration.lib.warehouse.regex import postgres_regex
from orchestration.lib.warehouse.sql import qualified, quote_ident, sql_literal

if TYPE_CHECKING:  # imported by _connect, at the first connection
    import adbc_driver_postgresql.dbapi as adbc

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


_CREATE_IF_MISSING = re.compile(r"^\s*CREATE\b[^;]*?\bIF\s+NOT\s+EXISTS\s+([^\s(]+)",
                                re.IGNORECASE | re.DOTALL)


def _one_creator_at_a_time(sql: str) -> str:
    """`CREATE … IF NOT EXISTS x` as one creator of `x` at a time: PostgreSQL's own check is
    not safe against a concurrent creator (the second fails on the catalog's unique index),
    and steps on several workers create the same tables at once. The lock is held until the
    creator's transaction ends, so whoever waited finds `x` made."""
    created = _CREATE_IF_MISSING.match(sql)
    if not created:
        return sql
    return (f"DO $steward$ BEGIN PERFORM pg_advisory_xact_lock(hashtext("
            f"{sql_literal(created[1])})); EXECUTE {sql_literal(sql)}; END $steward$")


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
            self._cursor.execute(_one_creator_at_a_time(sql))
        return self._cursor

    def executemany(self, sql: str, rows: list) -> None:
        self._cursor.executemany(numbered_placeholders(sql), rows)

    @property
    def cursor(self) -> adbc.Cursor:
        return self._cursor

    def close(self) -> None:
        self._cursor.close()
        self._raw.close()


Store = Path | str  # a store's file in the embedded profile, whose stem names it, or a DSN
_SEARCH_PATH = "main,public"
# SQLSTATEs of a CREATE DATABASE race: the database was made meanwhile (the catalog's unique
# index may say it first), or the template is being copied for another.
MADE_MEANWHILE, OBJECT_IN_USE = {"42P04", "23505"}, "55006"
CREATE_ATTEMPTS = 20


def dsn_of(store: Store) -> str:
    return store if isinstance(store, str) else postgres_dsn(store.stem)


def _database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _database_missing(error: Error, dsn: str) -> bool:
    """Whether connecting failed because the database does not exist (libpq reports that as
    text, with no SQLSTATE)."""
    return f'database "{_database_of(dsn)}" does not exist' in str(error)


def _create_database(dsn: str) -> None:
    """Create the database `dsn` names, connecting to the server's `postgres` database (a
    region's database appears on its first load, as a DuckDB file does). Steps running at
    once may all find it missing: whoever comes second finds it made, or waits while the
    server copies its template for another (CREATE DATABASE refuses a busy template)."""
    server = urlunsplit(urlsplit(dsn)._replace(path="/postgres"))
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            with contextlib.closing(_connect(server)) as raw, \
                    raw.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {quote_ident(_database_of(dsn))}")
            return
        except Error as error:
            if error.sqlstate in MADE_MEANWHILE:
                return
            if error.sqlstate != OBJECT_IN_USE or attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)


class StoreUnreachable(RuntimeError):
    """The server a store's DSN names does not answer (down, wrong host or port, refused)."""


class LoginRefused(PermissionError):
    """The server refused a consumer role's login: no or a wrong password, or no CONNECT right
    on the database."""


def _server_said(error: Error) -> str:
    """The server's or libpq's own words from a failed connection, without the address."""
    return str(error).split("failed:")[-1].strip().splitlines()[0].removeprefix("FATAL:").strip()


def _connect(dsn: str) -> adbc.Connection:
    # Imported at the first connection: its DB-API module loads pyarrow.dataset and pandas
    # (half a second), which a process on DuckDB files never needs.
    import adbc_driver_postgresql.dbapi

    return adbc_driver_postgresql.dbapi.connect(dsn, autocommit=True)


def _open(dsn: str, create: bool) -> Connection:
    try:
        return Connection(_connect(dsn))
    except Error as error:
        if _database_missing(error, dsn) and create:
            _create_database(dsn)
            return Connection(_connect(dsn))
        if _database_missing(error, dsn) or "Failed to connect" not in str(error):
            raise
        where = urlsplit(dsn)
        if "FATAL:" in str(error) or "fe_sendauth" in str(error):  # the server answered
            raise LoginRefused(f"PostgreSQL refused {unquote(where.username or '')!r} on "
                               f"{_database_of(dsn)}: {_server_said(error)}") from None
        raise StoreUnreachable(
            f"cannot reach the PostgreSQL server of store {_database_of(dsn)} at "
            f"{where.hostname}:{where.port or 5432}: {_server_said(error)}. Start the server, "
            "or point STEWARD_PG_DSN (or STEWARD_PG_DSN_<STORE>) at one") from None


@contextmanager
def _connection(store: Store, read_only: bool) -> Iterator[Connection]:
    con = _open(dsn_of(store), create=not read_only)
    try:
        if not read_only:
            con.execute("CREATE SCHEMA IF NOT EXISTS main")
        con.execute(f"SET search_path TO {_SEARCH_PATH}")
        if read_only:
            con.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        yield con
    finally:
        con.close()


def login_dsn(store: Store, role: str, password: str | None) -> str:
    """The store's DSN with `role` logging in instead, with `password` (or none, for libpq to
    find: PGPASSFILE, a certificate)."""
    parts = urlsplit(dsn_of(store))
    login = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.netloc.rpartition('@')[2]}"))


def write_connection(store: Store) -> contextlib.AbstractContextManager[Connection]:
    """A read-write connection to one store, whose database is created on first use."""
    return _connection(store, read_only=False)


def reader(store: Store) -> contextlib.AbstractContextManager[Connection]:
    """A connection whose every transaction is read-only: a write fails, whatever the role."""
    return _connection(store, read_only=True)


def connect(store: Store, write: bool = False) -> contextlib.AbstractContextManager[Connection]:
    """`write_connection` when the caller will write, else `reader` (a dry run only reads)."""
    return _connection(store, read_only=not write)


def locked(store: Store) -> contextlib.AbstractContextManager[Store]:
    """Nothing to hold: the server serializes writers to a database itself."""
    return nullcontext(store)


def exists(store: Store) -> bool:
    """Whether the store's database exists; a server that cannot be reached is an error, not
    an empty store."""
    try:
        with _connection(store, read_only=True):
            return True
    except Error as error:
        if _database_missing(error, dsn_of(store)):
            return False
        raise


class StoreLink:
    """A store beside the scratch engine: rows move between them as Arrow, into a temporary
    table of the store's session or a view of the engine."""

    at = ""  # bookkeeping tables are found through the search path

    def __init__(self, scratch: duckdb.DuckDBPyConnection, con: Connection) -> None:
        self._scratch = scratch
        self._con = con

    def relation(self, schema: str, table: str) -> str:
        return qualified(schema, table)

    def execute(self, sql: str, params: list | tuple = ()) -> adbc.Cursor:
        return self._con.execute(sql, params)

    def table_columns(self, schema: str, table: str) -> dict[str, str]:
        return table_columns(self._con, schema, table)

    def table_exists(self, schema: str, table: str) -> bool:
        return table_exists(self._con, schema, table)

    def to_store(self, name: str, query: str) -> str:
        """What the scratch engine's `query` selects, streamed into a temporary table `name`
        of this store's session."""
        rows = self._scratch.sql(query).to_arrow_reader()
        return self.arrow_to_store(name, rows)

    def arrow_to_store(self, name: str, data: pa.Table | pa.RecordBatchReader) -> str:
        self._con.execute(f"DROP TABLE IF EXISTS pg_temp.{quote_ident(name)}")
        self._con.cursor.adbc_ingest(name, data, mode="create", temporary=True)
        return f"pg_temp.{quote_ident(name)}"

    def to_scratch(self, name: str, query: str) -> str:
        """What this store's `query` selects, as a view `name` of the scratch engine."""
        self._scratch.register(name, select_arrow(self._con, query))
        return quote_ident(name)

    def holds_any(self, relation: str, rows: str, match: str) -> bool:
        """Whether `relation` has any row at all: which of them `match` pairs with `rows` (a
        query of the scratch engine) would take sending the rows' keys to the server first,
        and comparing sends the rows anyway."""
        del rows, match
        [(found,)] = self._con.execute(
            f"SELECT EXISTS (SELECT 1 FROM {relation})").fetchall()
        return bool(found)

    def insert(self, relation: str, select: str, params: list | tuple = ()) -> int:
        """Insert what `select` (a column list, then a query) gives; returns the rows added."""
        [(count,)] = self._con.execute(
            f"WITH added AS (INSERT INTO {relation} {select} RETURNING 1) "
            "SELECT count(*) FROM added", params).fetchall()
        return int(count)

    def append(self, schema: str, table: str, query: str) -> int:
        """Stream the rows the scratch engine's `query` selects into `schema.table` (COPY in
        binary, no staging table), its columns matched by name; returns the rows added."""
        rows = self._scratch.sql(query).to_arrow_reader()
        return int(self._con.cursor.adbc_ingest(table, rows, mode="append",
                                                db_schema_name=schema))

    def delete_where(self, relation: str, condition: str) -> int:
        return delete_where(self._con, relation, condition)

    def column_type(self, declared: str) -> str:
        return column_type(declared)


@functools.cache
def column_type(declared: str) -> str:
    """A declared type (DuckDB's spelling) as PostgreSQL spells it: DOUBLE is DOUBLE
    PRECISION."""
    return sqlglot.exp.DataType.build(declared, dialect="duckdb").sql(dialect="postgres")


@contextmanager
def link(scratch: duckdb.DuckDBPyConnection, store: Store, name: str,
         read_only: bool = False) -> Iterator[StoreLink]:
    """The store beside the scratch engine (`name` only names it there on DuckDB)."""
    del name
    with _connection(store, read_only=read_only) as con:
        yield StoreLink(scratch, con)


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
                  params: list | tuple = (), drop_views: bool = False) -> None:
    """Create `relation` (already quoted) anew from `definition`, a column list in parentheses
    or `AS SELECT ...`, dropping what it held before. Inside the caller's transaction the swap
    is atomic; without one a reader may find the table missing for a moment. A view over the
    table (a consumer's masking view) refuses the drop, unless `drop_views`: then the views go
    with it, for the caller to restore."""
    con.execute(f"DROP TABLE IF EXISTS {relation}{' CASCADE' if drop_views else ''}")
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


def update_where(con: Connection, relation: str, assignments: str, condition: str,
                 params: list | tuple = (), count_only: bool = False,
                 set_params: list | tuple = ()) -> int:
    """As on DuckDB (see `duckdb.update_where`); the count of changed rows comes back
    through RETURNING."""
    if count_only:
        return delete_where(con, relation, condition, params, count_only=True)
    [(count,)] = con.execute(
        f"WITH changed AS (UPDATE {relation} SET {assignments} WHERE {condition} RETURNING 1) "
        "SELECT count(*) FROM changed", [*set_params, *params]).fetchall()
    return int(count)


def text_columns(con: Connection) -> list[tuple[str, str, str]]:
    """(schema, table, column) of every text column of every table in the database, the
    server's own catalogs and Steward's grants apart."""
    return [tuple(row) for row in con.execute(
        "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_type = 'BASE TABLE' AND c.data_type IN ('character varying', 'text') "
        "AND c.table_schema NOT IN ('pg_catalog', 'information_schema', '_steward_grants') "
        "ORDER BY 1, 2, 3").fetchall()]


def stage_arrow(con: Connection, name: str, data: object) -> None:
    """Make Arrow (or pandas) data queryable as `name`: a temporary table of this session."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data)
    con.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
    con.cursor.adbc_ingest(name, table, mode="create", temporary=True)


def _numeric_type(field: pa.Field, texts: pa.ChunkedArray) -> pa.DataType:
    """The Arrow type of a NUMERIC column: its declared precision and scale, or, undeclared
    (a sum, say), the widest scale among its values; a column holding NaN or infinities is
    float64, which alone can hold them."""
    typmod = int((field.metadata or {}).get(b"POSTGRESQL:typmod", b"-1"))
    if typmod >= 4:  # PostgreSQL keeps (precision << 16 | scale) + 4
        return pa.decimal128((typmod - 4) >> 16, (typmod - 4) & 0xFFFF)
    if pc.all(pc.match_substring_regex(texts, r"^-?[0-9]+(\.[0-9]+)?$")).as_py() is False:
        return pa.float64()
    point = pc.find_substring(texts, ".")
    scales = pc.if_else(pc.less(point, 0), 0,
                        pc.subtract(pc.subtract(pc.utf8_length(texts), point), 1))
    return pa.decimal128(38, pc.max(scales).as_py() or 0)


def _numbers(table: pa.Table) -> pa.Table:
    """NUMERIC columns as numbers: the driver hands them over as text, to lose nothing."""
    for index, field in enumerate(table.schema):
        if isinstance(field.type, pa.OpaqueType) and field.type.type_name == "numeric":
            texts = pa.chunked_array([chunk.storage for chunk in table.column(index).chunks],
                                    field.type.storage_type)
            number = _numeric_type(field, texts)
            table = table.set_column(index, pa.field(field.name, number, field.nullable),
                                     texts.cast(number))
    return table


def select_arrow(con: Connection, query: str, params: list | tuple = ()) -> pa.Table:
    """What `query` selects, as Arrow, straight from the wire format (NUMERIC as decimals)."""
    return _numbers(con.execute(query, params).fetch_arrow_table())


def great_expectations_source(store: Store) -> contextlib.AbstractContextManager[
        tuple[str, dict]]:
    """How Great Expectations' SQL data source opens the store: a URL, nothing more to pass
    `create_engine`. The driver is named: since SQLAlchemy 2.1 a bare postgresql:// means
    psycopg 3, which is not installed."""
    return nullcontext(
        (urlunsplit(urlsplit(dsn_of(store))._replace(scheme="postgresql+psycopg2")), {}))


def dbt_connection(store: Store) -> tuple[str, dict[str, str], str]:
    """The dbt target that builds in the store's database, the environment it reads and that
    database: the `postgres` target of profiles.yml takes its connection from STEWARD_PG_*."""
    parts = urlsplit(dsn_of(store))
    database = _database_of(dsn_of(store))
    return "postgres", {
        "STEWARD_PG_HOST": parts.hostname or "127.0.0.1",
        "STEWARD_PG_PORT": str(parts.port or 5432),
        "STEWARD_PG_USER": unquote(parts.username or ""),
        "STEWARD_PG_PASSWORD": unquote(parts.password or ""),
        "STEWARD_PG_DBNAME": database}, database


def row_hash(columns: Iterable[str]) -> str:
    """An expression hashing the (quoted) `columns` of a row to a number, to sum."""
    return f"hashtextextended(ROW({', '.join(columns)})::text, 0)"


def regex_match(expression: str) -> str:
    """A condition: `expression` matches the pattern bound to its `?` (see `regex`)."""
    return f"({expression} ~ ?)"


def regex(pattern: str) -> str:
    """A policy pattern (RE2) as the server's regular expressions (ARE) read it."""
    return postgres_regex(pattern)


def distinct_count(column: str) -> str:
    """An expression counting the distinct values of the (quoted) `column`, exactly (the
    server has no approximate count)."""
    return f"count(DISTINCT {column})"


def translated(sql: str) -> str:
    """Steward's SQL (written in DuckDB's dialect) in PostgreSQL's: `regexp_matches(a, p)` is
    `a ~ p`, `INTERVAL 1 HOUR` is `INTERVAL '1 HOUR'`."""
    return sqlglot.transpile(sql, read="duckdb", write="postgres")[0]


def lineage_address(store: Store) -> tuple[str, str]:
    """Where OpenLineage finds the store's datasets, by its naming of PostgreSQL: the server
    (`postgres://host:port`) and the database before a dataset's `schema.table`."""
    parts = urlsplit(dsn_of(store))
    return (f"postgres://{parts.hostname}:{parts.port or 5432}",
            f"{_database_of(dsn_of(store))}.")


def insertion_order(key: str) -> str:
    """An ORDER BY giving a table's rows in the order they were inserted: `key`, the column
    that numbers them. Where a row lies in the heap is no guide: each connection fills its own
    last page, so rows of concurrent writers interleave out of order."""
    return quote_ident(key)


def serialize_writers(con: Connection, relation: str) -> None:
    """Make writers of `relation` (already quoted) take turns until this transaction ends,
    while readers go on: an append that reads the last row before writing the next needs
    that, where a DuckDB writer holds the file's lock."""
    con.execute(f"LOCK TABLE {relation} IN SHARE ROW EXCLUSIVE MODE")


def sample(relation: str, rows: int) -> str:
    """A FROM item reading at most `rows` rows of `relation`, the same ones on every call while
    the rows do not change (ordered by a hash of each row)."""
    return (f"(SELECT * FROM {relation} AS sampled ORDER BY hashtext(sampled::text) "
            f"LIMIT {int(rows)}) AS sampled")
