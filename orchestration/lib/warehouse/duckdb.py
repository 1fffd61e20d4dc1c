"""The embedded warehouse: one DuckDB file per store, and DuckDB as the in-process engine.

Each residency region has its own file; quarantine, audit, credentials, erasures and operations
have theirs next to them. Writers take an inter-process lock per file, so two runs against one
store serialize instead of failing on DuckDB's single-writer lock. The same engine, in memory,
parses landing files during ingest and serves analyses over Arrow data (`engine`).

Kept whole: it is the one backend's implementation of the warehouse interface; split, each
part would be half of a backend.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse.sql import qualified, quote_ident, sql_literal

LOCK_TIMEOUT_SECONDS = 600.0
DIALECT = "duckdb"  # sqlglot's name for the SQL this backend speaks
Connection = duckdb.DuckDBPyConnection
Error = duckdb.Error


# How a full disk, a read-only file system or a missing permission reads in OS and DuckDB errors.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                   errno.EDQUOT}
_STORAGE_MESSAGES = ("No space left", "File too large", "Read-only file system",
                     "Permission denied", "Disk quota", "Operation not permitted")


class StoreWriteError(RuntimeError):
    """A store that cannot be written: full disk, read-only file system, missing permission."""


@contextmanager
def storage_errors_explained(path: Path) -> Iterator[None]:
    """Turn a failed write into one clear error naming the store and what to do; the
    transaction did not commit, so the store keeps its last good version."""
    try:
        yield
    except (OSError, duckdb.Error) as error:
        if getattr(error, "errno", None) not in _STORAGE_ERRNOS and not any(
                text in str(error) for text in _STORAGE_MESSAGES):
            raise
        raise StoreWriteError(
            f"cannot write the store {path}: {str(error).splitlines()[0]}. Nothing was "
            "committed, so it keeps its last good version; free disk space or make the store "
            "writable, then run again") from error


def sql_text_list(values: list[str]) -> str:
    """A DuckDB list of text literals (the scratch engine's syntax)."""
    return "[" + ", ".join(sql_literal(v) for v in values) + "]::VARCHAR[]"


def _configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    settings = get_settings()
    spill_dir = settings.store_dir / ".spill"
    spill_dir.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = {sql_literal(settings.duckdb_memory_limit)}")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    con.execute(f"SET temp_directory = {sql_literal(str(spill_dir))}")
    # Instants arriving with an offset are converted to UTC, whatever the machine's zone is.
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock_path = path.with_suffix(".lock")
    with storage_errors_explained(path):
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")  # noqa: SIM115 - closed below, after the lock is let go
    with handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"store {path} is locked by another run for over "
                        f"{LOCK_TIMEOUT_SECONDS:.0f}s; wait for it to finish or stop it"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold the writer lock of one store file (also used around dbt, which opens it itself)."""
    with _file_lock(path):
        yield path


@contextmanager
def pipeline_lock() -> Iterator[None]:
    """One whole pipeline run at a time on one set of stores: a second run waits for the
    first, rather than interleaving its steps (each of which locks its stores in turn)."""
    with _file_lock(get_settings().store_dir / "pipeline"):
        yield


_hosts: dict[tuple, duckdb.DuckDBPyConnection] = {}


def _host_key() -> tuple:
    """Which instance serves this call: one per process (a forked worker makes its own) and
    per settings, which tests change between calls."""
    settings = get_settings()
    return (os.getpid(), settings.duckdb_memory_limit, settings.duckdb_threads,
            settings.store_dir)


def _host() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB instance, which each store is attached to while it is open. Making
    an instance costs about 20 ms (its catalog of built-in functions); attaching a file to one
    costs about 1 ms, and a first run opens its stores some 270 times."""
    key = _host_key()
    if key not in _hosts:
        _hosts[key] = _configure(duckdb.connect())
    return _hosts[key]


@contextmanager
def _attached(path: Path, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose default database is the store at `path`, attached for as long as it
    is open; detaching checkpoints it and lets the file go, as closing an instance would. The
    caller holds the store's lock, so no other thread of this process has it attached."""
    host = _host()
    alias = quote_ident("store_" + hashlib.sha1(str(path).encode()).hexdigest()[:16])
    con = host.cursor()
    try:
        con.execute(f"ATTACH {sql_literal(str(path))} AS {alias}"
                    + (" (READ_ONLY)" if read_only else ""))
    except BaseException:
        con.close()
        raise
    try:
        con.execute(f"USE {alias}")
        yield con
    finally:
        con.close()  # rolls back what the caller left open, so the store can be detached
        try:
            with host.cursor() as detaching:
                detaching.execute(f"DETACH {alias}")
        except duckdb.Error:
            # Its last checkpoint failed (a full disk, say): the instance is let go, which
            # drops the store with it once its other connections close, and the next open
            # makes a new one.
            if _hosts.get(key := _host_key()) is host:
                del _hosts[key]
            host.close()
            raise


@contextmanager
def write_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked read-write connection to one store file."""
    with _file_lock(path), storage_errors_explained(path), _attached(path, False) as con:
        yield con


@contextmanager
def reader(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; waits for a writer to finish rather than failing on its lock."""
    with _file_lock(path), _attached(path, True) as con:
        yield con


def engine() -> duckdb.DuckDBPyConnection:
    """A plain in-memory engine, for analyses over Arrow and pandas data and writing files."""
    return duckdb.connect()


class StoreLink:
    """A store beside the scratch engine, attached to it: statements reach both, so moving
    rows either way costs nothing and a store relation is named through its catalog."""

    def __init__(self, scratch: duckdb.DuckDBPyConnection, catalog: str) -> None:
        self._scratch = scratch
        self._catalog = catalog
        self.at = f"{quote_ident(catalog)}."  # put before a bookkeeping table's name

    def relation(self, schema: str, table: str) -> str:
        return qualified(schema, table, catalog=self._catalog)

    def execute(self, sql: str, params: list | tuple = ()) -> duckdb.DuckDBPyConnection:
        return self._scratch.execute(sql, params)

    def table_columns(self, schema: str, table: str) -> dict[str, str]:
        return table_columns(self._scratch, schema, table, catalog=self._catalog)

    def table_exists(self, schema: str, table: str) -> bool:
        return table_exists(self._scratch, schema, table, catalog=self._catalog)

    def to_store(self, name: str, query: str) -> str:
        """What the scratch engine's `query` selects, as a temporary table `name` this store's
        statements can read and change."""
        self._scratch.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS {query}")
        return quote_ident(name)

    def arrow_to_store(self, name: str, data: pa.Table) -> str:
        self._scratch.register(name, data)
        return quote_ident(name)

    def to_scratch(self, name: str, query: str) -> str:
        """What this store's `query` selects, readable by the scratch engine's statements."""
        del name  # attached: the scratch engine reads the store in place
        return f"({query})"

    def holds_any(self, relation: str, rows: str, match: str) -> bool:
        """Whether `relation` (as `t`) has a row that `match` pairs with one of `rows` (as `b`),
        a query of the scratch engine: one join, the store read in place."""
        [(found,)] = self._scratch.execute(
            f"SELECT EXISTS (SELECT 1 FROM {rows} b WHERE EXISTS "
            f"(SELECT 1 FROM {relation} t WHERE {match}))").fetchall()
        return bool(found)

    def insert(self, relation: str, select: str, params: list | tuple = ()) -> int:
        """Insert what `select` (a column list, then a query) gives; returns the rows added."""
        [(count,)] = self._scratch.execute(f"INSERT INTO {relation} {select}", params).fetchall()
        return int(count)

    def append(self, schema: str, table: str, query: str) -> int:
        """Add the rows the scratch engine's `query` selects to `schema.table`, its columns
        matched by name (one missing is empty); returns the rows added."""
        return self.insert(self.relation(schema, table), f"BY NAME {query}")

    def delete_where(self, relation: str, condition: str) -> int:
        return delete_where(self._scratch, relation, condition)

    def column_type(self, declared: str) -> str:
        return column_type(declared)


@contextmanager
def link(scratch: duckdb.DuckDBPyConnection, path: Path, name: str,
         read_only: bool = False) -> Iterator[StoreLink]:
    """The store at `path` beside the scratch engine, as catalog `name`, with its writer lock
    held meanwhile (an ingest commits every region's rows from one engine). The store is let go
    before the lock: another process that takes the lock must find the file free."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path):
        scratch.execute(f"ATTACH {sql_literal(str(path))} AS {quote_ident(name)}"
                        + (" (READ_ONLY)" if read_only else ""))
        try:
            yield StoreLink(scratch, name)
        finally:
            try:
                scratch.execute(f"DETACH {quote_ident(name)}")
            except duckdb.Error:  # e.g. a failed transaction refuses it: closing lets go too
                scratch.close()


def connect(path: Path, write: bool = False
            ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """`write_connection` when the caller will write, else `reader` (a dry run only reads)."""
    return write_connection(path) if write else reader(path)


def scratch_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory engine for parsing and routing; it spills to the store's spill folder."""
    return _configure(engine())


@contextmanager
def great_expectations_source(path: Path) -> Iterator[tuple[str, dict]]:
    """How Great Expectations' SQL data source opens the store, read-only and locked, while
    this is held: a URL and `create_engine` arguments, once GE's DuckDB fix is in. Each
    connection GE asks for is a new one to the attached store, not a new instance."""
    from duckdb_engine import ConnectionWrapper
    from sqlalchemy.pool import NullPool

    from orchestration.lib.warehouse import gx_duckdb

    gx_duckdb.apply()
    with reader(path) as con:
        [(database,)] = con.execute("SELECT current_database()").fetchall()

        def connection() -> ConnectionWrapper:
            opened = con.cursor()
            opened.execute(f"USE {quote_ident(database)}")
            return ConnectionWrapper(opened)

        yield "duckdb:///:memory:", {"creator": connection, "poolclass": NullPool}


def exists(path: Path) -> bool:
    """Whether the store has been written at all (a reader of a missing one would create it)."""
    return path.exists()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 catalog: str | None = None) -> bool:
    """Whether `schema.table`, a table or a view, exists (in the attached `catalog`, when
    given). DuckDB's own catalog functions answer in half the time information_schema
    takes, which matters at some 350 lookups a run."""
    [(count,)] = con.execute(
        "SELECT count(*) FROM (SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        "UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views()) "
        "WHERE schema_name = ? AND table_name = ? "
        "AND database_name = coalesce(?, current_database())", [schema, table, catalog],
    ).fetchall()  # fetched to the end, so the connection is free for the next query
    return bool(count)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str,
            catalog: str | None = None) -> dict[str, str]:
    """Column name → type of `schema.table` (in the attached `catalog`, when given), in
    table order; empty when the table does not exist."""
    return dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? "
        "AND table_name = ? AND database_name = coalesce(?, current_database()) "
        "ORDER BY column_index", [schema, table, catalog]).fetchall())


def replace_table(con: duckdb.DuckDBPyConnection, relation: str, definition: str,
                  params: list | tuple = (), drop_views: bool = False) -> None:
    """Create `relation` (already quoted) anew from `definition`, a column list in parentheses
    or `AS SELECT ...`, dropping what it held before. (A DuckDB view names its tables, not
    holds them: `drop_views` has nothing to drop here.)"""
    con.execute(f"CREATE OR REPLACE TABLE {relation} {definition}", params)


def delete_where(con: duckdb.DuckDBPyConnection, relation: str, condition: str,
                 params: list | tuple = (), count_only: bool = False) -> int:
    """Delete the rows of `relation` (already quoted) that match `condition` and say how many;
    with `count_only`, count them and delete nothing (a dry run)."""
    verb = "SELECT count(*)" if count_only else "DELETE"
    [(count,)] = con.execute(f"{verb} FROM {relation} WHERE {condition}", params).fetchall()
    return int(count)


def update_where(con: duckdb.DuckDBPyConnection, relation: str, assignments: str,
                 condition: str, params: list | tuple = (), count_only: bool = False,
                 set_params: list | tuple = ()) -> int:
    """`UPDATE relation SET assignments WHERE condition` and how many rows it changed, with
    `set_params` bound in the assignments and `params` in the condition; with `count_only`,
    count the rows it would change and change nothing (a dry run)."""
    if count_only:
        return delete_where(con, relation, condition, params, count_only=True)
    [(count,)] = con.execute(f"UPDATE {relation} SET {assignments} WHERE {condition}",
                             [*set_params, *params]).fetchall()
    return int(count)


def text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, table, column) of every text column of every table in the store."""
    return con.execute(
        "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_catalog = current_database() AND t.table_type = 'BASE TABLE' "
        "AND c.data_type = 'VARCHAR' "
        "ORDER BY 1, 2, 3").fetchall()


def stage_arrow(con: duckdb.DuckDBPyConnection, name: str, data: object) -> None:
    """Make Arrow (or pandas) data queryable as `name` in this connection's statements."""
    con.register(name, data)


def select_arrow(con: duckdb.DuckDBPyConnection, query: str,
                 params: list | tuple = ()) -> pa.Table:
    """What `query` selects, as Arrow; DuckDB hands its buffers over without a cursor's copy."""
    return con.sql(query, params=params).to_arrow_table()


def dbt_connection(path: Path) -> tuple[str, dict[str, str], str]:
    """The dbt target that builds in the store at `path`, the environment it reads and the
    database its models land in: the `local` target opens `$STEWARD_STORE_DIR/<region>.duckdb`,
    which DuckDB names after the file."""
    return "local", {"STEWARD_STORE_DIR": str(path.parent)}, path.stem


def column_type(declared: str) -> str:
    """A declared type as this backend spells it (declarations use DuckDB's spelling)."""
    return declared


def row_hash(columns: Iterable[str]) -> str:
    """An expression hashing the (quoted) `columns` of a row to a number, to sum."""
    return f"hash({', '.join(columns)})"


def regex_match(expression: str) -> str:
    """A condition: `expression` matches the pattern bound to its `?` (see `regex`)."""
    return f"regexp_matches({expression}, ?)"


def regex(pattern: str) -> str:
    """A policy pattern (RE2) as this engine's regular expressions read it: as is."""
    return pattern


def distinct_count(column: str) -> str:
    """An expression counting the distinct values of the (quoted) `column`: approximate, in
    one pass (HyperLogLog), which is close enough to tell few values from many."""
    return f"approx_count_distinct({column})"


def translated(sql: str) -> str:
    """Steward's SQL is written in DuckDB's dialect: nothing to translate."""
    return sql


def lineage_address(store: Path) -> tuple[str, str]:
    """Where OpenLineage finds the store's datasets: (namespace, what goes before a dataset's
    `schema.table`)."""
    return f"duckdb://steward/{store.stem}", ""


def insertion_order(key: str) -> str:
    """An ORDER BY giving a table's rows in the order they were inserted: the rows' order in
    the file (`key`, the column that should agree, is not needed), so a reordering shows."""
    return "rowid"


def serialize_writers(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Nothing to do: a writer holds the store file's lock already."""
    del con, relation


def sample(relation: str, rows: int) -> str:
    """A FROM item reading a uniform sample of at most `rows` rows of `relation`."""
    return f"{relation} USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE (7)"
