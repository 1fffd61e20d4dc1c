"""A shared deployment under load: 1,000 declared sources, and 50 runs launched at once
through its run queue by `steward deployment start` over a PostgreSQL instance and warehouse.
Each run ingests one source over every region (none has a file yet, so the runs measure the
deployment, not the data). Reports whether every run completed with its materializations and
without a lock error, the queue wait p50/p95, runs per minute, and the daemon's peak memory,
alone and with the code servers and run processes it starts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg2
from dagster import AssetKey
from dagster_graphql import DagsterGraphQLClient

from bench.policy import project_with_sources
from orchestration.lib.operations.runner import PARTITION_RANGE_END, PARTITION_RANGE_START
from policies.regions import region_names
from tests.deployment_services import wait_until_serving
from tests.postgres_cluster import bench_cluster, free_port

SOURCES, RUNS = 1000, 50
# How DuckDB, PostgreSQL and SQLite say a writer was in the way.
LOCK_ERRORS = ("could not (obtain|set) lock|conflicting lock|database is locked|"
               "deadlock detected|lock timeout")
ENDS_WITHIN_SECONDS = 3600
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")  # the run statuses Dagster does not leave
STARTS_WITHIN_SECONDS = 600  # a code location of 1,000 sources loads slowly


def deployment_environment(root: Path, postgres, name: str, **settings: str
                           ) -> dict[str, str]:
    """A deployment's settings: its instance in a new database `<name>_instance` and its
    warehouse in databases `<name>_<store>` of the cluster, its files under `root`."""
    postgres.new_database(f"{name}_instance")
    return {**os.environ, "STEWARD_DATA_DIR": str(root / "data"),
            "STEWARD_STORE_DIR": str(root / "store"),
            "STEWARD_LANDING_DIR": str(root / "data" / "landing"),
            "STEWARD_WAREHOUSE": "postgres", "STEWARD_PG_DSN": postgres.dsn(f"{name}_{{store}}"),
            "DAGSTER_HOME": str(root / "dagster"), "STEWARD_DAGSTER_PG_HOST": "127.0.0.1",
            "STEWARD_DAGSTER_PG_PORT": str(postgres.port), "STEWARD_DAGSTER_PG_USER": "postgres",
            "STEWARD_DAGSTER_PG_PASSWORD": "", "STEWARD_DAGSTER_PG_DB": f"{name}_instance",
            **settings}


@contextmanager
def started_deployment(env: dict[str, str], log: Path, workers: int = 0,
                       starts_within: float = STARTS_WITHIN_SECONDS
                       ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`steward deployment start` on a free port, serving; its URL and process. Stopped after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        deployment = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "deployment", "start",
             "--port", str(port), "--workers", str(workers)],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(url, deployment, log, workers, within=starts_within)
        yield url, deployment
    finally:
        deployment.terminate()
        deployment.wait(timeout=120)


class PeakMemory:
    """The highest resident memory of the daemon alone, and of the daemon with everything it
    started (code servers, and the run processes they launch), sampled twice a second."""

    def __init__(self, deployment: psutil.Process) -> None:
        self.deployment, self._stop = deployment, threading.Event()
        self.daemon_mib = self.tree_mib = 0.0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for process in self.deployment.children(recursive=True):
                try:
                    if "dagster-daemon" not in " ".join(process.cmdline()):
                        continue
                    own = process.memory_info().rss
                    family = sum(child.memory_info().rss
                                 for child in process.children(recursive=True))
                except psutil.NoSuchProcess:
                    continue
                self.daemon_mib = max(self.daemon_mib, own / 2**20)
                self.tree_mib = max(self.tree_mib, (own + family) / 2**20)

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        return self.daemon_mib, self.tree_mib


def _finished(instance: str, run_ids: list[str]) -> list[tuple]:
    with psycopg2.connect(instance) as con, con.cursor() as cursor:
        cursor.execute(
            "SELECT status, start_time - extract(epoch FROM create_timestamp)::float8, "
            "end_time, extract(epoch FROM create_timestamp)::float8 FROM runs "
            "WHERE run_id = ANY(%s) AND status = ANY(%s)", [run_ids, list(FINISHED)])
        return cursor.fetchall()


def _count(instance: str, run_ids: list[str], event_type: str, mentioning: str = "") -> int:
    """Events of `event_type` in these runs whose text matches the regular expression."""
    with psycopg2.connect(instance) as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = ANY(%s) "
                       "AND dagster_event_type = %s AND event ~* %s",
                       [run_ids, event_type, mentioning])
        return cursor.fetchall()[0][0]


def first_failure(instance: str, run_ids: list[str]) -> str:
    """What first went wrong in these runs: a step's error and its cause, or else why a run
    failed (e.g. its job could not be loaded)."""
    error = "event::json #>> '{dagster_event,event_specific_data,error%s,message}'"
    with psycopg2.connect(instance) as con, con.cursor() as cursor:
        cursor.execute(
            f"SELECT dagster_event_type, step_key, concat_ws(' caused by: ', {error % ''}, "
            f"{error % ',cause'}) FROM event_logs WHERE run_id = ANY(%s) "
            f"AND {error % ''} IS NOT NULL ORDER BY id LIMIT 1", [run_ids])
        found = cursor.fetchall()
    return " ".join(str(part) for part in found[0] if part) if found else ""


def bench_deployment_load(root: Path, sources: int = SOURCES, runs: int = RUNS) -> None:
    with bench_cluster() as postgres:
        if postgres is None:
            return
        root.mkdir(parents=True, exist_ok=True)
        regions = region_names()
        env = deployment_environment(root, postgres, "load", STEWARD_DBT_PROJECT_DIR=str(
            project_with_sources(root, sources)))
        subprocess.run([sys.executable, "-c", "from orchestration.lib.dbt_manifest import "
                        "compile_manifest; compile_manifest()"], env=env, check=True)
        with started_deployment(env, root / "deployment.log",
                                starts_within=STARTS_WITHIN_SECONDS) as (url, deployment):
            memory = PeakMemory(psutil.Process(deployment.pid))
            tags = {PARTITION_RANGE_START: regions[0], PARTITION_RANGE_END: regions[-1]}
            port = int(url.rsplit(":", 1)[1])

            def launch(number: int) -> str:  # a client each: one connection per client
                client = DagsterGraphQLClient("127.0.0.1", port_number=port)
                return client.submit_job_execution(
                    "__ASSET_JOB", asset_selection=[AssetKey(["bulk", f"table_{number}"])],
                    tags=tags)

            with ThreadPoolExecutor(max_workers=runs) as pool:
                run_ids = list(pool.map(launch, range(runs)))
            deadline = time.monotonic() + ENDS_WITHIN_SECONDS
            instance = postgres.dsn("load_instance")
            while len(finished := _finished(instance, run_ids)) < runs:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{runs - len(finished)} runs did not end in time")
                time.sleep(2)
            daemon_mib, tree_mib = memory.stop()
        succeeded = sum(status == "SUCCESS" for status, *_ in finished)
        waits = sorted(wait for _, wait, *_ in finished)
        minutes = (max(end for *_, end, _ in finished)
                   - min(created for *_, created in finished)) / 60
        materialized = _count(instance, run_ids, "ASSET_MATERIALIZATION")
        locks = _count(instance, run_ids, "STEP_FAILURE", mentioning=LOCK_ERRORS)
        print(f"deployment load, {sources:,} declared sources, {runs} runs launched at once: "
              f"{succeeded}/{runs} succeeded, {materialized} materializations "
              f"(expected {runs * len(regions)}), {locks} lock errors; queue wait "
              f"p50 {statistics.median(waits):.1f} s, p95 "
              f"{waits[int(0.95 * (len(waits) - 1))]:.1f} s; {runs / minutes:.1f} runs/min; "
              f"peak RSS: daemon {daemon_mib:.0f} MiB, with its code servers and run "
              f"processes {tree_mib:.0f} MiB")
        if succeeded < runs:
            print(f"  first step failure: {first_failure(instance, run_ids)[:1500]}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="steward-bench-load-") as folder:
        bench_deployment_load(Path(folder),
                              sources=int(os.environ.get("BENCH_SOURCES", SOURCES)),
                              runs=int(os.environ.get("BENCH_RUNS", RUNS)))
