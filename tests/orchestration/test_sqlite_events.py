"""Dagster's SQLite event log with its engines kept (operations/sqlite_events.py): every event
is stored and read back as Dagster's own storage does, by this process and by another
instance on the same files, with one engine per database file however many events, kept for
the files used last."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.lib.operations.sqlite_events import KEPT_ENGINES, keep_engines


@dg.asset
def counted() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 1})


@pytest.fixture
def instance(tmp_path, monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    keep_engines()
    with dg.DagsterInstance.get() as opened:
        yield opened


def test_events_are_stored_and_read_back_through_engines_kept_for_the_latest_files(instance):
    runs = [dg.materialize([counted], instance=instance).run_id for _ in range(3)]
    storage = instance.event_log_storage
    # The index and each run's own file: an engine each, kept across every event of the runs.
    assert set(storage._steward_engines) == {"index", *runs}
    more = [dg.materialize([counted], instance=instance).run_id for _ in range(KEPT_ENGINES)]
    # A process that runs many keeps the engines of the files it used last.
    kept = set(storage._steward_engines)
    assert len(kept) == KEPT_ENGINES and {"index", more[-1]} <= kept and runs[0] not in kept
    runs += more
    with dg.DagsterInstance.from_ref(instance.get_ref()) as another:
        records = another.fetch_materializations(counted.key, limit=100).records
        assert sorted(record.run_id for record in records) == sorted(runs)
        assert len(another.all_logs(runs[0])) == len(instance.all_logs(runs[0])) > 5
