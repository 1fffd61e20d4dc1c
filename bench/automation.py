"""Landing → fresh shared features with nobody running a command: the landing sensor and
declarative automation, timed on the sample estate (target ≤ 60 s), twice:

- embedded: `dagster-daemon` over the SQLite instance and the DuckDB stores;
- deployed: `steward deployment start` (webserver, daemon, two Celery workers) over a
  PostgreSQL instance and warehouse, every run going through its queue.

The estate is built once through the pipeline, and once the daemon has nothing left to do a new
export of web events is dropped into landing; the clock stops when `marts.customer_features`
shows the new events in every region. The deployed case also prints each run the drop set off:
how long it queued and how long it ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import psycopg2

from bench.deployment_load import (
    FINISHED,
    deployment_environment,
    first_failure,
    started_deployment,
)
from bench.scratch import scratch_env
from orchestration.lib.estate import TABLES, estate_connection, generate_estate, write_table
from orchestration.lib.settings import PROJECT_ROOT
from orchestration.lib.warehouse import Error, reader, store_path
from policies.regions import region_names
from tests.deployment_services import redis_server, redis_server_bin
from tests.postgres_cluster import bench_cluster

FIRST_TICK = "Sensor landing_files skipped"
TIMEOUT_SECONDS = 300
QUIET_SECONDS = 20  # four automation ticks


@contextmanager
def running_daemon(dagster_home: Path, env: dict[str, str], log: Path):
    """`dagster-daemon run` on this repository's workspace, stopped with its runs on exit."""
    with open(log, "w") as output:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w",
             "workspace.yaml"], cwd=PROJECT_ROOT, env={**env, "DAGSTER_HOME": str(dagster_home)},
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield daemon
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)


def events_30d() -> dict[str, int]:
    """Per region, the features' count of recent events, read through the store's lock: a bare
    read-only DuckDB connection would make a concurrent dbt build fail instead of wait."""
    counts = {}
    for region in region_names():
        with reader(store_path(region)) as con:
            counts[region] = con.execute(
                "SELECT sum(events_30d) FROM marts.customer_features").fetchall()[0][0] or 0
    return counts


def _wait_for(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except Error:  # a run holds the store for a moment
            pass
        time.sleep(1)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")


def wait_for_first_tick(log: Path) -> None:
    """Files there before the landing sensor first looked are not news to it."""
    _wait_for(lambda: FIRST_TICK in log.read_text(), TIMEOUT_SECONDS,
              "the landing sensor's first tick")


def drop_and_time(landing: Path, customers: int, timeout: float = TIMEOUT_SECONDS) -> float:
    """Drop new web events into landing (enough that a third, those of the last 30 days,
    reach every region); seconds until every region's features show them."""
    before = events_30d()
    con = estate_connection(seed=99, customers=customers)
    events = next(t for t in TABLES if t.table == "events")
    write_table(con, events, max(200, customers // 5), 1, landing / "web" / "events",
                first_id=10**12, prefix="fresh")
    con.close()
    return _wait_for(lambda: all(now > before[region] for region, now in events_30d().items()),
                     timeout, "fresh customer_features after a new landing file")


def _steward_run(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "orchestration.cli", "run"], env=env, check=True,
                   capture_output=True, cwd=PROJECT_ROOT)


def _embedded(root: Path, customers: int) -> float:
    env = scratch_env(root)
    generate_estate(root / "landing", customers=customers)
    _steward_run(env)
    log = root / "daemon.log"
    with running_daemon(root / "dagster", env, log), patch.dict(os.environ, env):
        wait_for_first_tick(log)
        return drop_and_time(root / "landing", customers)


def _runs(instance: str, since: float = 0.0) -> list[tuple]:
    """(id, what, queued s, ran s, status) of each run created after `since` (epoch
    seconds)."""
    with psycopg2.connect(instance) as con, con.cursor() as cursor:
        cursor.execute(
            "SELECT r.run_id, coalesce((SELECT string_agg(t.value, ' ' ORDER BY t.key) "
            "  FROM run_tags t WHERE t.run_id = r.run_id AND t.key IN ('dagster/sensor_name', "
            "  'dagster/schedule_name', 'steward/trigger', 'dagster/partition')), "
            "  r.pipeline_name), "
            "r.start_time - extract(epoch FROM r.create_timestamp)::float8, "
            "r.end_time - r.start_time, r.status FROM runs r "
            "WHERE extract(epoch FROM r.create_timestamp)::float8 > %s "
            "ORDER BY r.create_timestamp", [since])
        return cursor.fetchall()


def _wait_until_quiet(instance: str) -> None:
    """Until no run has been queued or in progress for QUIET_SECONDS; a TimeoutError should
    runs go on past TIMEOUT_SECONDS more than that."""
    quiet_since = started = time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS:
        if any(status not in FINISHED for *_, status in _runs(instance)):
            quiet_since = time.monotonic()
            if quiet_since - started > TIMEOUT_SECONDS:
                raise TimeoutError(f"the deployment's runs did not end within "
                                   f"{TIMEOUT_SECONDS}s")
        time.sleep(1)


def _deployed(root: Path, customers: int, postgres, broker: str
              ) -> tuple[float, list[tuple], str]:
    env = {**deployment_environment(root, postgres, "automation"),
           "STEWARD_EXECUTOR": "celery", "STEWARD_CELERY_BROKER": broker}
    instance = postgres.dsn("automation_instance")
    generate_estate(root / "data" / "landing", customers=customers)
    with started_deployment(env, root / "deployment.log", workers=2) as (url, _):
        _steward_run({**env, "STEWARD_DAGSTER_URL": url})
        _wait_until_quiet(instance)
        dropped = time.time()
        with patch.dict(os.environ, env):
            seconds = drop_and_time(root / "data" / "landing", customers)
        _wait_until_quiet(instance)
        runs = _runs(instance, since=dropped)
        failed = [run_id for run_id, *_, status in runs if status != "SUCCESS"]
        return seconds, runs, first_failure(instance, failed)


def bench_automation(root: Path, customers: int) -> None:
    print(f"\nlanding → fresh customer_features in every region, nobody running a command "
          f"({customers:,} customers; target ≤ 60s)")
    print(f"  embedded (daemon, SQLite instance, DuckDB stores): "
          f"{_embedded(root / 'embedded', customers):.1f}s")
    server = redis_server_bin()
    with bench_cluster() as postgres:
        if postgres is None:
            return
        if server is None:
            print("  deployed: skipped, install redis-server (.ci/run does)")
            return
        with redis_server(server) as broker:
            seconds, runs, failure = _deployed(root / "deployed", customers, postgres, broker)
    print(f"  deployed (PostgreSQL instance and warehouse, queued runs, two Celery workers): "
          f"{seconds:.1f}s; the runs it set off:")
    for _, what, queued, ran, status in runs:
        print(f"    {what:<40} queued {queued or 0:5.1f}s, ran {ran or 0:5.1f}s  {status}")
    if failure:
        print(f"  first step failure: {failure[:1500]}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="steward-bench-automation-") as folder:
        bench_automation(Path(folder), int(os.environ.get("BENCH_CUSTOMERS", 1000)))
