"""The only module that opens the central store.

Each residency region has its own DuckDB file; quarantined input has its own file next to them.
Writers take an inter-process lock per file, so two runs against one store serialize instead of
failing on DuckDB's single-writer lock. Keeping every connection here lets another engine take
DuckDB's place later without touching the assets.
"""

from __future__ import annotations

import fcntl
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.lib.settings import get_settings

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LOCK_TIMEOUT_SECONDS = 600.0


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


def _configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    settings = get_settings()
    spill_dir = settings.store_dir / ".spill"
    spill_dir.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = {sql_literal(settings.duckdb_memory_limit)}")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    con.execute(f"SET temp_directory = {sql_literal(str(spill_dir))}")
    return con


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock_path = path.with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
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


def store_path(region: str) -> Path:
    quote_ident(region)
    return get_settings().region_store(region)


@contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold the writer lock of one store file (also used around dbt, which opens it itself)."""
    with _file_lock(path):
        yield path


@contextmanager
def write_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked read-write connection to one store file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path):
        con = _configure(duckdb.connect(str(path)))
        try:
            yield con
        finally:
            con.close()


@contextmanager
def quarantine_writer() -> Iterator[duckdb.DuckDBPyConnection]:
    with write_connection(get_settings().quarantine_store) as con:
        yield con


@contextmanager
def reader(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; waits for a writer to finish rather than failing on its lock."""
    with _file_lock(path):
        con = _configure(duckdb.connect(str(path), read_only=True))
        try:
            yield con
        finally:
            con.close()


def scratch_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory engine for parsing and routing; it spills to the store's spill folder."""
    return _configure(duckdb.connect())


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    [(count,)] = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()  # fetched to the end, so the connection is free for the next query
    return bool(count)
