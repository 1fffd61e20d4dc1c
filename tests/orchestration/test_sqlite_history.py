"""Dagster's SQLite history with its engines kept (operations/sqlite_history.py): every event
and run is stored and read back as Dagster's own storages do, by this process and by another
instance on the same files, with one engine per database file however many events, its
connections kept open, for the files used last."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import dagster as dg
import pytest

from orchestration.lib.operations.sqlite_history import KEPT_ENGINES, keep_engines
from orchestration.lib.settings import PROJECT_ROOT

SYNC_NORMAL = 1  # SQLite's number for synchronous=NORMAL; FULL, its default, is 2


@dg.asset
def counted() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 1})


@pytest.fixture
def instance(tmp_path, monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    keep_engines()
    with dg.DagsterInstance.get() as opened:
        yield opened


def test_history_is_stored_and_read_back_through_engines_kept_for_the_latest_files(instance):
    runs = [dg.materialize([counted], instance=instance).run_id for _ in range(3)]
    storage = instance.event_log_storage
    # The index and each run's own file: an engine each, kept across every event of the runs,
    # each with its connection open for the next use.
    assert set(storage._steward_engines) == {"index", *runs}
    assert all(engine.pool.checkedin() for engine in storage._steward_engines.values())
    assert instance.run_storage._steward_engine.pool.checkedin()
    more = [dg.materialize([counted], instance=instance).run_id for _ in range(KEPT_ENGINES)]
    # A process that runs many keeps the engines of the files it used last.
    kept = set(storage._steward_engines)
    assert len(kept) == KEPT_ENGINES and {"index", more[-1]} <= kept and runs[0] not in kept
    runs += more
    with dg.DagsterInstance.from_ref(instance.get_ref()) as another:
        records = another.fetch_materializations(counted.key, limit=100).records
        assert sorted(record.run_id for record in records) == sorted(runs)
        assert len(another.all_logs(runs[0])) == len(instance.all_logs(runs[0])) > 5
        assert {run.run_id for run in another.get_runs()} == set(runs)


def test_commits_sync_at_checkpoints_and_tables_are_looked_up_under_dagsters_lock(instance):
    run_id = dg.materialize([counted], instance=instance).run_id
    storage = instance.event_log_storage
    for connection in (storage.run_connection(run_id), storage.index_connection(),
                       instance.run_storage.connect()):
        with connection as opened:
            assert opened.exec_driver_sql("PRAGMA synchronous").scalar() == SYNC_NORMAL
    # Dagster asks whether a table exists while it holds the event log's lock.
    found: list[bool] = []
    with storage.index_connection():
        asking = threading.Thread(target=lambda: found.extend(
            [storage.has_table("event_logs"), storage.has_table("no_such_table")]))
        asking.start()
        asking.join(timeout=10)
        assert not asking.is_alive(), "has_table waited for the lock its caller holds"
    assert found == [True, False]


def test_a_process_leaves_its_history_whole_in_the_database_files_when_it_exits(tmp_path):
    script = ("import dagster as dg\n"
              "from orchestration.lib.operations.sqlite_history import keep_engines\n"
              "from tests.orchestration.test_sqlite_history import counted\n"
              "keep_engines()\n"
              "dg.materialize([counted], instance=dg.DagsterInstance.get())\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, text=True,
                          capture_output=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    history = sorted(path.name for path in (tmp_path / "history").rglob("*.db*"))
    assert history and all(name.endswith(".db") for name in history), history
