"""Dagster's own instance on PostgreSQL: with deploy/dagster/dagster.yaml in DAGSTER_HOME,
`steward run` keeps its runs, events and check results in the server, writes no SQLite
storage, and `steward slo` measures from that history."""

from __future__ import annotations

import shutil
import subprocess
import sys

import psycopg2

from orchestration.lib.settings import PROJECT_ROOT
from tests.conftest import steward_env

INSTANCE_YAML = PROJECT_ROOT / "deploy" / "dagster" / "dagster.yaml"


def test_steward_run_keeps_its_history_in_a_postgres_instance(postgres, tmp_path):
    instance = postgres.new_database("dagster_instance")
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    env = {**steward_env(tmp_path / "data"), "DAGSTER_HOME": str(home),
           "STEWARD_DAGSTER_PG_HOST": "127.0.0.1", "STEWARD_DAGSTER_PG_PORT": str(postgres.port),
           "STEWARD_DAGSTER_PG_USER": "postgres", "STEWARD_DAGSTER_PG_PASSWORD": "",
           "STEWARD_DAGSTER_PG_DB": "dagster_instance"}

    def steward(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], env=env,
                              capture_output=True, text=True, timeout=900)

    ran = steward("run", "--customers", "200")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    with psycopg2.connect(instance) as con, con.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM runs GROUP BY status")
        runs = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = "
                       "'ASSET_CHECK_EVALUATION'")
        [(checks,)] = cursor.fetchall()
    assert runs and set(runs) == {"SUCCESS"}, runs
    assert checks > 0
    assert not (home / "history").exists() and not (home / "schedules").exists()
    slo = steward("slo")
    assert "marts/customer_features" in slo.stdout and "runs" in slo.stdout, (
        slo.stdout + slo.stderr)
