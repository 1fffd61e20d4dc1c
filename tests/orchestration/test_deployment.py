"""Steward as a shared deployment (`steward deployment start`, `make serve`): one code server,
Dagster's webserver and daemon over an instance in PostgreSQL, and two Celery workers taking
the steps, with Redis as the broker, all on loopback. `steward run` submits the pipeline's
runs to the deployment's queue, and a worker killed in the middle of a dbt build costs nothing:
the step is handed to another worker, and the models equal, table by table, those of an
embedded run.

The module's tests share one deployment and go in order (`--dist loadfile`).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
import pytest
import yaml
from dagster import AssetKey
from dagster_graphql import DagsterGraphQLClient
from jsonschema import Draft202012Validator

from orchestration.lib.deployment import processes
from orchestration.lib.settings import PROJECT_ROOT, postgres_dsn
from tests.conftest import run_steward, sigterm_ignored_and_blocked, steward_env
from tests.deployment_services import wait_until_serving
from tests.postgres_cluster import clock_of, free_port, model_differences

REGIONS = ["eu", "us"]
# The broker hands a lost worker's step to another after this long, unless the deployment has
# handed it back already (it should, at once). It must be longer than any step takes, or the
# broker hands a running step out again: the longest steps take 15-17 s here beside another
# test module, and took over 30 s on a slower machine.
REDELIVER_SECONDS = 90


def test_an_executor_steward_cannot_use_stops_every_command_saying_why(tmp_path):
    unknown = run_steward(["run"], tmp_path, STEWARD_EXECUTOR="dask")
    assert unknown.returncode == 2 and "choose one of in_process, celery" in unknown.stderr
    on_files = run_steward(["run"], tmp_path, STEWARD_EXECUTOR="celery")
    assert on_files.returncode == 2 and "set STEWARD_WAREHOUSE=postgres" in on_files.stderr
    assert not (tmp_path / "landing").exists()  # stopped before any work


def test_a_deployment_without_a_shared_instance_does_not_start(tmp_path):
    nowhere = run_steward(["deployment", "start"], tmp_path)
    assert nowhere.returncode == 2 and "set DAGSTER_HOME" in nowhere.stderr
    started = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "deployment", "start"],
        env={**steward_env(tmp_path), "DAGSTER_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 2 and "STEWARD_DAGSTER_PG_HOST is not set" in started.stderr


def test_a_process_that_never_serves_stops_the_deployment_saying_which(tmp_path):
    # A code server that hangs while loading: up, never answering. serve() is run in its own
    # process, as `steward deployment start` runs it, so a serve that waits for ever fails here
    # on the timeout instead of hanging the suite.
    pid_file, after = tmp_path / "hanging.pid", tmp_path / "started"
    hanging = ("import os, pathlib, time; "
               f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(300)")
    script = (
        "import sys\n"
        "from orchestration.lib.deployment.processes import Process, serve\n"
        f"hanging = Process('code server', [sys.executable, '-c', {hanging!r}],\n"
        "                  ready=lambda: False)\n"
        f"later = Process('webserver', ['touch', {str(after)!r}])\n"
        "sys.exit(serve([hanging, later], say=print, ready_within=5))\n")
    served = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=PROJECT_ROOT)
    assert served.returncode == 1, served.stderr
    assert served.stdout == "the code server did not serve within 5 s: stopping the deployment\n"
    assert not after.exists()  # what comes after it never started
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_deployment_stops_on_sigterm_though_its_parent_blocked_it(tmp_path):
    # serve() in its own process, as `steward deployment start` runs it, started as by a
    # supervisor's parent that ignores and blocks SIGTERM: the supervisor's SIGTERM still stops
    # it, and it stops what it started.
    pid_file = tmp_path / "webserver.pid"
    serving = ("import os, pathlib, time; "
               f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(300)")
    script = (
        "import sys\n"
        "from orchestration.lib.deployment.processes import Process, serve\n"
        f"webserver = Process('webserver', [sys.executable, '-c', {serving!r}])\n"
        "sys.exit(serve([webserver], say=print))\n")
    deployment = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                                  preexec_fn=sigterm_ignored_and_blocked)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid_file.exists(), "the webserver never started"
        deployment.terminate()
        assert deployment.wait(timeout=60) == 0
    finally:
        if deployment.poll() is None:  # it did not stop: neither did what it started
            deployment.kill()
            if pid_file.exists():
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_instance_tables_exist_before_its_processes_race_to_make_them(
        postgres, tmp_path, monkeypatch):
    instance = postgres.new_database("fresh_instance")
    for name, value in {"DAGSTER_HOME": str(tmp_path / "home"),
                        "STEWARD_DAGSTER_PG_HOST": "127.0.0.1",
                        "STEWARD_DAGSTER_PG_PORT": str(postgres.port),
                        "STEWARD_DAGSTER_PG_USER": "postgres", "STEWARD_DAGSTER_PG_PASSWORD": "",
                        "STEWARD_DAGSTER_PG_DB": "fresh_instance"}.items():
        monkeypatch.setenv(name, value)
    processes.prepare_home()
    with psycopg2.connect(instance) as con, con.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables "
                       "WHERE table_schema = 'public'")
        tables = {name for (name,) in cursor.fetchall()}
    assert {"runs", "run_tags", "event_logs", "jobs", "instance_info"} <= tables


def test_a_run_for_a_deployment_it_cannot_use_stops_saying_why(tmp_path):
    away = {"STEWARD_DAGSTER_URL": "http://127.0.0.1:1"}
    unfollowed = run_steward(["run", "--customers", "50"], tmp_path, **away)
    assert unfollowed.returncode == 2 and "DAGSTER_HOME is not set" in unfollowed.stderr
    (tmp_path / "home").mkdir()
    down = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={**steward_env(tmp_path, **away), "DAGSTER_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=300)
    assert down.returncode == 2 and "Traceback" not in down.stderr
    assert "the deployment at http://127.0.0.1:1 did not take the run" in down.stderr
    assert "Connection refused" in down.stderr


def _helm_values() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "deploy" / "helm" / "values.yaml").read_text())


def test_the_helm_values_are_what_dagsters_chart_accepts():
    schema = json.loads((Path(__file__).parents[1] / "helm_values.schema.json").read_text())
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(_helm_values())) == []
    misspelt = _helm_values()
    misspelt["runLauncher"]["config"]["k8sRunLauncher"]["envVar"] = ["STEWARD_WAREHOUSE"]
    assert [error.message for error in validator.iter_errors(misspelt)] == [
        "Additional properties are not allowed ('envVar' was unexpected)"]


def test_the_helm_values_describe_the_deployment_make_serve_starts():
    values = _helm_values()
    instance = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster" / "dagster.yaml").read_text())
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert queue["dequeueIntervalSeconds"] == instance["run_coordinator"]["config"][
        "dequeue_interval_seconds"]
    assert queue["tagConcurrencyLimits"] == instance["concurrency"]["runs"][
        "tag_concurrency_limits"]
    assert values["additionalInstanceConfig"]["concurrency"]["pools"] == instance[
        "concurrency"]["pools"]
    [location] = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())["load_from"]
    [code] = values["dagster-user-deployments"]["deployments"]
    assert code["dagsterApiGrpcArgs"] == ["--module-name", location["python_module"][
        "module_name"]]
    # Secrets come from Kubernetes secrets, never from the file; every variable set is one
    # the README documents.
    assert values["postgresql"]["postgresqlPassword"] == ""
    readme = (PROJECT_ROOT / "README.md").read_text()
    for name in code["env"]:
        assert not any(word in name for word in ("PASSWORD", "KEY", "DSN", "TOKEN")), name
        assert f"| `{name}` |" in readme, name


@dataclass
class Deployed:
    process: subprocess.Popen
    env: dict[str, str]
    url: str
    home: Path
    instance: str  # the DSN of Dagster's own database
    log: Path

    def failures(self) -> str:
        """What went wrong in the deployment's runs, to show when a test fails."""
        return "\n".join(f"{run} {step}: {event[:3000]}" for run, step, event in self.query(
            "SELECT run_id, step_key, event FROM event_logs WHERE dagster_event_type IN "
            "('STEP_FAILURE', 'RUN_FAILURE')"))

    def step_seconds(self) -> list[tuple]:
        """Each step's run, key and seconds from its start to its end, longest first: a step
        longer than REDELIVER_SECONDS is handed out again while it runs."""
        return self.query(
            "SELECT run_id, step_key, max(timestamp) - min(timestamp) AS spent FROM event_logs "
            "WHERE dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') "
            "GROUP BY run_id, step_key ORDER BY spent DESC")

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg2.connect(self.instance) as con, con.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


@pytest.fixture(scope="module")
def deployment(built_estate, postgres, redis_url, tmp_path_factory):
    """The deployment over the built estate's landing files, storing in PostgreSQL databases
    owned by Steward's role without superuser rights."""
    built, success, _ = built_estate
    assert success
    data = tmp_path_factory.mktemp("deployed")
    shutil.copytree(built / "landing", data / "landing")
    home = data / "dagster"
    instance = postgres.new_database("deployment_instance")
    port = free_port()
    env = steward_env(
        data, STEWARD_DAGSTER_PG_HOST="127.0.0.1",
        STEWARD_DAGSTER_PG_PORT=str(postgres.port), STEWARD_DAGSTER_PG_USER="postgres",
        STEWARD_DAGSTER_PG_PASSWORD="", STEWARD_DAGSTER_PG_DB="deployment_instance",
        STEWARD_WAREHOUSE="postgres",
        STEWARD_PG_DSN=postgres.dsn("deployed_{store}", user=postgres.owner()),
        STEWARD_EXECUTOR="celery", STEWARD_CELERY_BROKER=redis_url,
        STEWARD_CELERY_REDELIVER_SECONDS=str(REDELIVER_SECONDS),
        # The embedded run's clock, so retention and the models' as_of() see the same moment.
        STEWARD_NOW=clock_of(built / "store" / "eu.duckdb"))
    env["DAGSTER_HOME"] = str(home)  # steward_env leaves it out
    log = data / "deployment.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "deployment", "start",
             "--port", str(port), "--workers", "2"],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    deployed = Deployed(process, env, f"http://127.0.0.1:{port}", home, instance, log)
    wait_until_serving(deployed.url, process, log, workers=2)
    yield deployed
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _kill_the_worker_of_the_first_model_build(deployed: Deployed, run: subprocess.Popen
                                              ) -> str:
    """Wait for a worker to start building the models in a run `steward run` submitted, and
    kill that worker's whole process group (SIGKILL: it acknowledges nothing); its name."""
    while run.poll() is None:
        started = deployed.query(
            "SELECT e.event FROM event_logs e JOIN run_tags t ON t.run_id = e.run_id "
            "WHERE t.key = 'steward/trigger' AND e.step_key = 'dbt_models' "
            "AND e.dagster_event_type = 'ENGINE_EVENT' AND e.event LIKE %s",
            "%in celery worker%")
        if started:
            worker = "steward-worker-" + started[0][0].split("steward-worker-")[1][0]
            [wrapper] = subprocess.run(
                ["pgrep", "-f", f"dagster-celery worker start .*-n {worker} "],
                capture_output=True, text=True).stdout.split()
            os.killpg(int(wrapper), signal.SIGKILL)
            return worker
        time.sleep(0.2)
    pytest.fail("the run ended before any model build started")


@pytest.fixture(scope="module")
def submitted(deployment):
    """`steward run` through the deployment, with one worker killed mid-build: (the run, the
    killed worker's name)."""
    run = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={**deployment.env, "STEWARD_DAGSTER_URL": deployment.url},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = _kill_the_worker_of_the_first_model_build(deployment, run)
    output, _ = run.communicate(timeout=900)
    return subprocess.CompletedProcess(run.args, run.returncode, output), killed


def test_the_pipeline_across_two_workers_equals_an_embedded_run_despite_a_killed_worker(
        built_estate, deployment, submitted):
    ran, killed = submitted
    assert ran.returncode == 0, ran.stdout[-3000:] + deployment.failures()
    assert f"queued {deployment.url}/runs/" in ran.stdout
    for region in REGIONS:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("STEWARD_PG_DSN", deployment.env["STEWARD_PG_DSN"])
            dsn = postgres_dsn(region)
        assert model_differences(built_estate[0] / "store" / f"{region}.duckdb", dsn) == {}
    # Every run `steward run` submitted succeeded, and none of the automation's failed.
    statuses = dict(deployment.query(
        "SELECT r.status, count(*) FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
        "WHERE t.key = 'steward/trigger' GROUP BY r.status"))
    assert statuses == {"SUCCESS": 5}, deployment.failures()
    assert deployment.query("SELECT count(*) FROM runs WHERE status = 'FAILURE'") == [(0,)], \
        deployment.failures()
    # The killed step was handed out again, in the same run, and the run went on.
    builds = deployment.query(
        "SELECT e.run_id, count(*) FROM event_logs e JOIN run_tags t ON t.run_id = e.run_id "
        "WHERE t.key = 'steward/trigger' AND e.step_key = 'dbt_models' "
        "AND e.dagster_event_type = 'ENGINE_EVENT' AND e.event LIKE %s GROUP BY e.run_id",
        "%in celery worker%")
    assert sorted(count for _, count in builds) == [1, 2], (builds, deployment.step_seconds())
    log = deployment.log.read_text()
    assert f"{killed} stopped (exit -9): starting it again" in log
    # ... at once, not after the broker's visibility timeout: the deployment handed it back.
    [rebuilt] = [run for run, count in builds if count == 2]
    started = [at for (at,) in deployment.query(
        "SELECT timestamp FROM event_logs WHERE run_id = %s AND step_key = 'dbt_models' "
        "AND dagster_event_type = 'ENGINE_EVENT' AND event LIKE %s ORDER BY timestamp",
        rebuilt, "%in celery worker%")]
    assert (started[1] - started[0]).total_seconds() < REDELIVER_SECONDS, started
    assert "steps the lost worker held, handed back to the queue: 1" in log
    # Only the lost step ran twice: no step a live worker held was handed out again.
    repeated = deployment.query(
        "SELECT e.step_key, count(*) FROM event_logs e JOIN run_tags t ON t.run_id = e.run_id "
        "WHERE t.key = 'steward/trigger' AND e.dagster_event_type = 'ENGINE_EVENT' "
        "AND e.event LIKE %s GROUP BY e.run_id, e.step_key HAVING count(*) > 1",
        "%in celery worker%")
    assert repeated == [("dbt_models", 2)], repeated


def test_steps_are_spread_over_both_workers_and_hand_each_other_nothing_through_files(
        deployment, submitted):
    workers = {event.split("steward-worker-")[1][0] for (event,) in deployment.query(
        "SELECT event FROM event_logs WHERE dagster_event_type = 'ENGINE_EVENT' "
        "AND event LIKE %s", "%in celery worker%")}
    assert workers == {"1", "2"}
    # Steps read and write the warehouse: no output was stored for another step to load,
    # so workers on other machines need no shared file store (only their logs are kept).
    run_folders = [folder for folder in (deployment.home / "storage").iterdir()
                   if folder.name != "__repository__"]
    assert run_folders
    stored = [path for folder in run_folders for path in folder.rglob("*")
              if path.is_file() and "compute_logs" not in path.parts]
    assert stored == []


def test_two_teams_building_one_region_at_once_queue_one_behind_the_other(deployment,
                                                                          submitted):
    client = DagsterGraphQLClient("127.0.0.1", port_number=int(deployment.url.rsplit(":")[-1]))
    launched = [client.submit_job_execution(
        "__ASSET_JOB", asset_selection=[AssetKey(["staging", "stg_crm__customers"])],
        tags={"dagster/partition": "eu", "team": team}) for team in ("sales", "support")]
    deadline = time.monotonic() + 300
    while any(client.get_run_status(run).value not in ("SUCCESS", "FAILURE")
              for run in launched):
        assert time.monotonic() < deadline
        time.sleep(1)
    assert [client.get_run_status(run).value for run in launched] == ["SUCCESS", "SUCCESS"]
    # Every run of a region, these and the pipeline's: one at a time, none overlapping.
    runs = deployment.query(
        "SELECT t.value, r.start_time, r.end_time FROM runs r JOIN run_tags t "
        "ON t.run_id = r.run_id WHERE t.key = 'dagster/partition' ORDER BY r.start_time")
    for region in REGIONS:
        spans = [(start, end or float("inf")) for value, start, end in runs
                 if value == region and start is not None]  # a run in progress has no end
        assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def _processes_of(home: Path) -> dict[int, str]:
    """Every process whose DAGSTER_HOME is `home`, with its command line."""
    found = {}
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"DAGSTER_HOME={home}\0".encode() in environ.read_bytes():
                command = (environ.parent / "cmdline").read_bytes()
                found[int(environ.parent.name)] = command.replace(b"\0", b" ").decode()[:200]
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def test_one_code_server_loads_the_definitions_for_the_webserver_and_the_daemon(
        deployment, submitted):
    # Minutes after the start: the daemon, loading the module itself, would by now have
    # started a server of its own and replaced it each minute, beside the webserver's.
    commands = _processes_of(deployment.home).values()
    assert sum(" code-server start " in command for command in commands) == 1
    assert sum(" api grpc " in command for command in commands) == 1, commands
    workspace = yaml.safe_load((deployment.home / "workspace.yaml").read_text())
    [served] = workspace["load_from"]
    assert served["grpc_server"]["location_name"] == "orchestration.definitions"


def test_stopping_the_deployment_stops_every_process_it_started(deployment, submitted):
    # The command, the code server, the webserver, the daemon and the workers.
    assert len(_processes_of(deployment.home)) >= 6
    deployment.process.send_signal(signal.SIGTERM)
    assert deployment.process.wait(timeout=60) == 0
    assert _processes_of(deployment.home) == {}
