"""Landing → fresh shared features with nobody running a command: the Dagster daemon's
landing sensor and declarative automation, timed on the sample estate (target ≤ 60 s).

The estate is built once through the pipeline (recorded in a Dagster instance), the daemon is
started, and once its sensor has taken its first look a new export of web events is dropped
into landing; the clock stops when `marts.customer_features` shows the new events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.lib.estate import TABLES, estate_connection, write_table
from orchestration.lib.settings import PROJECT_ROOT
from orchestration.lib.warehouse import reader

FIRST_TICK = "Sensor landing_files skipped"


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


def events_30d(store_dir: Path) -> int:
    """Through the store's lock: a bare read-only DuckDB connection would hold a file lock that
    makes a concurrent dbt build fail instead of wait."""
    total = 0
    for region in ("eu", "us"):
        with reader(store_dir / f"{region}.duckdb") as con:
            total += con.execute("SELECT sum(events_30d) FROM marts.customer_features"
                                 ).fetchone()[0] or 0
    return total


def _wait_for(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except duckdb.Error:  # a run holds the store for a moment
            pass
        time.sleep(1)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")


def drop_and_time(landing: Path, store_dir: Path, log: Path, customers: int,
                  timeout: float = 300) -> float:
    """Wait for the sensor's first tick, drop new web events, return seconds to fresh features."""
    _wait_for(lambda: FIRST_TICK in log.read_text(), timeout, "the landing sensor's first tick")
    before = events_30d(store_dir)
    con = estate_connection(seed=99, customers=customers)
    events = next(t for t in TABLES if t.table == "events")
    write_table(con, events, max(20, customers // 5), 1, landing / "web" / "events",
                first_id=10**12, prefix="fresh")
    con.close()
    return _wait_for(lambda: events_30d(store_dir) > before, timeout,
                     "fresh customer_features after a new landing file")


def bench_automation(root: Path, customers: int) -> None:
    from orchestration.lib.estate import generate_estate

    env = {**os.environ, "STEWARD_DATA_DIR": str(root), "STEWARD_STORE_DIR": str(root / "store"),
           "STEWARD_LANDING_DIR": str(root / "landing"), "DAGSTER_HOME": str(root / "dagster")}
    (root / "dagster").mkdir(parents=True, exist_ok=True)
    generate_estate(root / "landing", customers=customers)
    subprocess.run([sys.executable, "-m", "orchestration.cli", "run"], env=env, check=True,
                   capture_output=True, cwd=PROJECT_ROOT)
    with running_daemon(root / "dagster", env, root / "daemon.log"):
        seconds = drop_and_time(root / "landing", root / "store", root / "daemon.log",
                                customers)
    print(f"\nlanding → fresh customer_features, nobody running a command ({customers:,} "
          f"customers): {seconds:.1f}s (target ≤ 60s)")
