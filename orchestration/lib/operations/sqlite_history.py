"""Dagster's SQLite history (the event log and the run storage), keeping an engine and its open
connection for each database file it used last.

Dagster's SQLite storages create a new engine for every connection they open and close the
connection after each use: a tiny estate's `steward run` (with DAGSTER_HOME, as `make run`
keeps it) opens about 4,300 on the event log and 600 on the runs. A new engine compiles each
statement again, and closing the last connection to a database in WAL mode (as Dagster makes
them) checkpoints it: the log is written back into the file and synced, once per event. A kept
engine keeps its compiled statements and its pooled connection. Each use still commits as
before, so the UI and the daemon, in their own processes, see every event and run at once.

The kept connections are closed when the process exits, which checkpoints each file: the
history is left whole in its `.db` files, as Dagster leaves it, not partly in `-wal` logs (a
killed process leaves those; SQLite replays them at the next open).

Commits sync the log only at checkpoints (`synchronous=NORMAL`, what SQLite advises for WAL):
a process killed mid-run loses nothing it committed; a power cut or a crash of the machine may
lose the latest events, never the database. This history is Dagster's record of its runs;
Steward's own evidence (audit log, quality history, load reports) is in its stores.

This replaces `SqliteEventLogStorage._connect` and `has_table`, and `SqliteRunStorage.connect`
of dagster 1.13; tests/orchestration/test_sqlite_history.py fails if an upgrade changes what it
relies on.
"""

from __future__ import annotations

import atexit
import functools
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

# Dagster's own names for the engine and connection its storages use: Steward's database
# drivers stay in the warehouse package, and this is Dagster's database.
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    Connection,
    Engine,
    create_engine,
)
from dagster._core.storage.runs.sqlite import sqlite_run_storage

if TYPE_CHECKING:
    import sqlite3

# Attributes on the storage objects: the event log's engines, the last used last; the engine
# its table lookups use; the run storage's one engine.
_ENGINES, _TABLES_ENGINE, _RUNS_ENGINE = (
    "_steward_engines", "_steward_tables_engine", "_steward_engine")
# The index and a run's own file are what a run writes; a process that runs many keeps the
# engines, and their open files, of the latest only.
KEPT_ENGINES = 8
_OPEN: weakref.WeakSet[Engine] = weakref.WeakSet()  # every kept engine of this process


def _sync_at_checkpoints(connection: sqlite3.Connection, _record: object) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def _new_engine(url: str, **connect_args: float) -> Engine:
    # SQLAlchemy's default pool for a database file: a connection closed stays open for the
    # next use, which Dagster's NullPool does not.
    engine = create_engine(url, connect_args=connect_args)
    sqlite_event_log.db.event.listen(engine, "connect", _sync_at_checkpoints)
    _OPEN.add(engine)
    return engine


def _close_all() -> None:
    for engine in list(_OPEN):
        engine.dispose()


@functools.cache
def _close_at_exit() -> None:
    atexit.register(_close_all)


def _event_log_engine(storage: sqlite_event_log.SqliteEventLogStorage, shard: str) -> Engine:
    engines: OrderedDict[str, Engine] = storage.__dict__.setdefault(_ENGINES, OrderedDict())
    if shard in engines:
        engines.move_to_end(shard)
        return engines[shard]
    engines[shard] = _new_engine(storage.conn_string_for_shard(shard),
                                 timeout=sqlite_event_log.SQLITE_BUSY_TIMEOUT_SECONDS)
    if len(engines) > KEPT_ENGINES:
        engines.popitem(last=False)[1].dispose()
    return engines[shard]


@contextmanager
def _event_log_connection(storage: sqlite_event_log.SqliteEventLogStorage, shard: str
                          ) -> Iterator[Connection]:
    with storage._db_lock:
        engine = _event_log_engine(storage, shard)
        if shard not in storage._initialized_dbs:
            storage._initdb(engine)
            storage._initialized_dbs.add(shard)
        with engine.connect() as connection, connection.begin():
            yield connection


def _own_engine(storage: object, attribute: str, url: str, **connect_args: float) -> Engine:
    """The one engine kept on `storage` under `attribute`, made at first use."""
    if attribute not in storage.__dict__:
        storage.__dict__[attribute] = _new_engine(url, **connect_args)
    return storage.__dict__[attribute]


def _has_table(storage: sqlite_event_log.SqliteEventLogStorage, table: str) -> bool:
    """Whether the index has `table`, asked for each asset event. Not under Dagster's lock,
    which the caller may hold: so through an engine of its own, not the kept ones."""
    engine = _own_engine(storage, _TABLES_ENGINE,
                         storage.conn_string_for_shard(sqlite_event_log.INDEX_SHARD_NAME),
                         timeout=sqlite_event_log.SQLITE_BUSY_TIMEOUT_SECONDS)
    with engine.connect() as connection:
        return bool(engine.dialect.has_table(connection, table))


@contextmanager
def _run_storage_connection(storage: sqlite_run_storage.SqliteRunStorage
                            ) -> Iterator[Connection]:
    engine = _own_engine(storage, _RUNS_ENGINE, storage._conn_string)
    with engine.connect() as connection, connection.begin():
        yield connection


def keep_engines() -> None:
    """Make every SQLite event log and run storage of this process keep its engines."""
    _close_at_exit()
    sqlite_event_log.SqliteEventLogStorage._connect = _event_log_connection
    sqlite_event_log.SqliteEventLogStorage.has_table = _has_table
    sqlite_run_storage.SqliteRunStorage.connect = _run_storage_connection
