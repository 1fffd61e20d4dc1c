"""Dagster's SQLite event log, keeping one SQLAlchemy engine per database file it used last.

Dagster's `SqliteEventLogStorage` creates a new engine for every connection it opens: a tiny
estate's `steward run` (with DAGSTER_HOME, as `make run` keeps it) opens about 4,300, and a new
engine compiles each statement again, about 2 s of the run. Kept engines keep their compiled
statements. Connections are still opened and closed for each use (NullPool) under Dagster's
lock, as its own are, so the UI and the daemon see the same files in the same way.

This replaces `_connect` of dagster 1.13's storage, a private method;
tests/orchestration/test_sqlite_events.py fails if an upgrade changes what it relies on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

# Dagster's own names for the engine, pool and connection its storage uses: Steward's
# database drivers stay in the warehouse package, and this is Dagster's database.
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    Connection,
    Engine,
    NullPool,
    create_engine,
)

_ENGINES = "_steward_engines"  # on the storage object: its engines, the last used last
# The index and a run's own file are what a run writes; a process that runs many keeps the
# engines of the latest only.
KEPT_ENGINES = 8


def _engine(storage: sqlite_event_log.SqliteEventLogStorage, shard: str) -> Engine:
    engines: OrderedDict[str, Engine] = storage.__dict__.setdefault(
        _ENGINES, OrderedDict())
    if shard in engines:
        engines.move_to_end(shard)
        return engines[shard]
    engines[shard] = create_engine(
        storage.conn_string_for_shard(shard), poolclass=NullPool,
        connect_args={"timeout": sqlite_event_log.SQLITE_BUSY_TIMEOUT_SECONDS})
    if len(engines) > KEPT_ENGINES:
        engines.popitem(last=False)[1].dispose()
    return engines[shard]


@contextmanager
def _connect_with_kept_engine(storage: sqlite_event_log.SqliteEventLogStorage, shard: str
                              ) -> Iterator[Connection]:
    with storage._db_lock:
        engine = _engine(storage, shard)
        if shard not in storage._initialized_dbs:
            storage._initdb(engine)
            storage._initialized_dbs.add(shard)
        with engine.connect() as connection, connection.begin():
            yield connection


def keep_engines() -> None:
    """Make every SQLite event log of this process keep its engines."""
    sqlite_event_log.SqliteEventLogStorage._connect = _connect_with_kept_engine
