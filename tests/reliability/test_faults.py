"""Faults: a run, a purge or an erasure killed part-way and run again ends exactly where an
unbroken one does (no duplicates, no loss, no half-written table); two runs at once serialize;
a full disk or a read-only store is one clear error and the store keeps its last good version.

Every state is compared with a reference reached without the fault, table by table."""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.clock import moment
from tests.conftest import steward_env, write_tiny_estate

STORES = ("eu", "us", "quarantine")


def _tables(data: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(store, schema.table) → (rows, distinct rows) for every table of every store, the load
    log included (a file loaded twice would show)."""
    found = {}
    for store in STORES:
        path = data / "store" / f"{store}.duckdb"
        with duckdb.connect(str(path), read_only=True) as con:
            # Every table but the quality history, which grows with each validation by design,
            # and the review queues, which keep every row a scoring ever deferred (how many
            # depends on the scores, and so on the moment each run scored).
            tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                 "WHERE table_type = 'BASE TABLE' AND table_name NOT IN "
                                 "('quality_results', 'quarantine', 'refused_files') "
                                 "AND table_schema <> 'review'").fetchall()
            for schema, table in tables:
                relation = f'"{schema}"."{table}"'
                found[(store, f"{schema}.{table}")] = con.execute(
                    f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT * FROM {relation}))"
                    f" FROM {relation}").fetchone()
    return found


def _killed(command: list[str], env: dict[str, str], marker: str, delay: float) -> str:
    """Start `command`, kill it (and its dbt) `delay` seconds after `marker` shows in its
    output; returns the output up to the kill."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            time.sleep(delay)
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert any(marker in line for line in seen), f"never reached {marker!r}:\n{''.join(seen)}"
    return "".join(seen)


STEWARD_RUN = [sys.executable, "-m", "orchestration.cli", "run"]


@pytest.fixture(scope="module")
def reference(built_estate) -> dict:
    return _tables(built_estate[0])


@pytest.mark.parametrize("marker", [
    'Started execution of step "support__tickets"',  # mid-ingest
    "START sql table model marts.customer_features",  # mid-dbt
    'Started execution of step "marts__customer_features_quality__customer_features"',  # checks
])
def test_a_run_killed_part_way_then_rerun_equals_an_unbroken_run(marker, reference, tmp_path,
                                                                 dbt_manifest):
    write_tiny_estate(tmp_path / "landing")
    env = steward_env(tmp_path)
    _killed(STEWARD_RUN, env, marker, random.Random(marker).uniform(0, 0.5))
    rerun = subprocess.run(STEWARD_RUN, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    after = _tables(tmp_path)
    assert after == reference
    assert all(rows == distinct for rows, distinct in after.values())


def test_two_runs_at_once_serialize_and_corrupt_nothing(reference, tmp_path, dbt_manifest):
    write_tiny_estate(tmp_path / "landing")
    env = steward_env(tmp_path)
    # Output to files, not pipes: a run waiting its turn must not block the other's output.
    logs = [tmp_path / f"run{i}.log" for i in range(2)]
    runs = [subprocess.Popen(STEWARD_RUN, env=env, stdout=log.open("w"),
                             stderr=subprocess.STDOUT) for log in logs]
    codes = [run.wait(timeout=900) for run in runs]
    outputs = [log.read_text() for log in logs]
    # Both finish, or one stops with a clear message; the stores are never corrupt.
    assert codes == [0, 0] or (0 in codes and any("locked" in out for out in outputs)), outputs
    assert _tables(tmp_path) == reference


def _copy_estate(source: Path, target: Path) -> Path:
    for folder in ("store", "landing", "keys"):
        shutil.copytree(source / folder, target / folder,
                        ignore=shutil.ignore_patterns("*.lock", ".spill"))
    return target


PURGE = ("from orchestration.lib.governance.retention import purge; print('ready', flush=True); "
         "purge()")
ERASE = ("import sys; from orchestration.lib.governance.erasure import erase; "
         "print('ready', flush=True); erase(sys.argv[1])")


def _subject(data: Path) -> str:
    with duckdb.connect(str(data / "store" / "eu.duckdb"), read_only=True) as con:
        return str(con.execute("SELECT customer_id FROM raw_support.tickets GROUP BY 1 "
                               "ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0])


@pytest.mark.parametrize("script", [PURGE, ERASE], ids=["purge", "erasure"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_purge_or_erasure_killed_part_way_then_rerun_equals_an_unbroken_one(
        script, seed, built_estate, tmp_path, dbt_manifest):
    clean = _copy_estate(built_estate[0], tmp_path / "clean")
    broken = _copy_estate(built_estate[0], tmp_path / "broken")
    command = [sys.executable, "-c", script, _subject(clean)]
    env = {"STEWARD_NOW": moment(400).isoformat()}  # much expires
    done = subprocess.run(command, env=steward_env(clean, **env), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _killed(command, steward_env(broken, **env), "ready", random.Random(seed).uniform(0.05, 1.5))
    again = subprocess.run(command, env=steward_env(broken, **env), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert _tables(broken) == _tables(clean)
    assert sorted(p.name for p in (broken / "landing").rglob("*")) == sorted(
        p.name for p in (clean / "landing").rglob("*"))


# Written ahead to a log file of their own (the store's WAL) before they reach the store, the
# new rows must take more room than the largest store for a full disk to refuse them: 30,000
# took 4.9 MB beside stores of 5.0 MB, so there are twice as many.
NEW_CUSTOMERS = 60_000
LOAD = ("from orchestration.lib.ingest.loader import load_table; "
        "from orchestration.lib.sources import load_source_tables; "
        "spec = next(s for s in load_source_tables() if s.name == 'crm.customers'); "
        "print(load_table(spec, ['eu', 'us']).table_rows)")


def _load(data: Path, **options) -> subprocess.CompletedProcess:
    """The customers' ingest in a process of its own."""
    return subprocess.run([sys.executable, "-c", LOAD], env=steward_env(data),
                          capture_output=True, text=True, **options)


def _new_export(data: Path) -> None:
    from tests.orchestration.ingest_helpers import customer_row, write_customers

    write_customers(data / "landing", "customers_more.csv",
                    [customer_row(100_000 + i) for i in range(NEW_CUSTOMERS)])


def _customers(data: Path) -> int:
    return sum(t[0] for (store, name), t in _tables(data).items()
               if name == "raw_crm.customers")


def _assert_refused_then_recovers(data: Path, result: subprocess.CompletedProcess,
                                  before: int) -> None:
    assert result.returncode != 0
    assert "cannot write the store" in result.stderr and "run again" in result.stderr, (
        result.stderr[-2000:])
    assert _customers(data) == before  # the last good version, readable
    retried = _load(data)
    assert retried.returncode == 0, retried.stderr
    assert _customers(data) == before + NEW_CUSTOMERS


def test_a_full_disk_is_a_clear_error_and_the_store_keeps_its_last_good_version(
        built_estate, tmp_path, dbt_manifest):
    data = _copy_estate(built_estate[0], tmp_path)
    for region in ("eu", "us"):
        _compact(data / "store" / f"{region}.duckdb")
    before = _customers(data)
    _new_export(data)
    largest = max(path.stat().st_size for path in (data / "store").glob("*.duckdb"))

    def disk_full_soon() -> None:  # no file of this process may grow past the largest store
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 64 * 1024,) * 2)

    result = _load(data, preexec_fn=disk_full_soon)
    _assert_refused_then_recovers(data, result, before)


def _compact(store: Path) -> None:
    """Rewrite a store without free blocks, so new rows have to grow the file."""
    compact = store.with_suffix(".compact")
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{store}' AS old (READ_ONLY)")
        con.execute(f"ATTACH '{compact}' AS new")
        con.execute("COPY FROM DATABASE old TO new")
    compact.replace(store)


def _can_mount_read_only() -> bool:
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def test_a_read_only_store_is_a_clear_error_and_loses_nothing(built_estate, tmp_path,
                                                              dbt_manifest):
    if not _can_mount_read_only():
        pytest.skip("needs `unshare -m` (root with CAP_SYS_ADMIN) to mount the store read-only")
    data = _copy_estate(built_estate[0], tmp_path)
    before = _customers(data)
    _new_export(data)
    store = data / "store"
    # The store folder as a read-only file system, for this process alone.
    script = (f"mount --bind {store} {store} && mount -o remount,bind,ro {store} && "
              f"exec {sys.executable} -c \"{LOAD}\"")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], env=steward_env(data),
                            capture_output=True, text=True)
    _assert_refused_then_recovers(data, result, before)
