"""The only module that opens the central store.

Each residency region has its own DuckDB file; quarantined input has its own file next to them.
Writers take an inter-process lock per file, so two runs against one store serialize instead of
failing on DuckDB's single-writer lock. Keeping every connection here lets another engine take
DuckDB's place later without touching the assets.
"""

from __future__ import annotations

import errno
import fcntl
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.lib.settings import get_settings

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LOCK_TIMEOUT_SECONDS = 600.0


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


def sql_text_list(values: list[str]) -> str:
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


def store_path(region: str) -> Path:
    quote_ident(region)
    return get_settings().region_store(region)


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


@contextmanager
def write_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked read-write connection to one store file."""
    with _file_lock(path), storage_errors_explained(path):
        con = _configure(duckdb.connect(str(path)))
        try:
            yield con
        finally:
            con.close()


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


def rows_if_present(path: Path, table: str, sql: str, params: list | tuple = (),
                    schema: str = "main") -> list[tuple]:
    """The rows `sql` reads from a bookkeeping table, or none while its store or the table
    has not been written yet."""
    if not path.exists():
        return []
    with reader(path) as con:
        if not table_exists(con, schema, table):
            return []
        return con.execute(sql, params).fetchall()


def held_in(regions: Iterable[str], relation: tuple[str, str]
            ) -> Iterator[tuple[str, duckdb.DuckDBPyConnection]]:
    """(region, read-only connection) for each region whose store holds `relation`; regions
    without the store or the table yet are skipped."""
    for region in regions:
        path = store_path(region)
        if not path.exists():
            continue
        with reader(path) as con:
            if table_exists(con, *relation):
                yield region, con


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 catalog: str | None = None) -> bool:
    """Whether `schema.table` exists (in the attached `catalog`, when given)."""
    [(count,)] = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
        " AND (? IS NULL OR table_catalog = ?)", [schema, table, catalog, catalog],
    ).fetchall()  # fetched to the end, so the connection is free for the next query
    return bool(count)
