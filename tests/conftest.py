"""Shared fixtures: every test gets its own data folder, so stores never leak between tests."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path

import pytest

# Tests move the clock and swap rule files, which Steward honours only in its test mode; set
# here so the commands the tests start inherit it.
os.environ["STEWARD_TEST_MODE"] = "1"

TINY_CUSTOMERS = 120
TESTS = Path(__file__).parent
# Whose outcome depends on the date (retention, purge, freshness, SLOs, kept-model age,
# telemetry windows): marked `clock`, and run again on three more days by `make test-dates`.
DATE_SENSITIVE = (
    "test_dates.py", "policies/test_slo.py", "policies/test_audit_chain.py",
    "orchestration/test_estate.py", "orchestration/test_ingest_incremental.py",
    "orchestration/test_retention_erasure.py", "orchestration/test_consumers.py",
    "orchestration/test_platform_metrics.py", "orchestration/test_alerts.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).as_posix() in DATE_SENSITIVE:
            item.add_marker(pytest.mark.clock)


def use_data_dir(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(path))
    monkeypatch.setenv("STEWARD_STORE_DIR", str(path / "store"))
    monkeypatch.setenv("STEWARD_LANDING_DIR", str(path / "landing"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private STEWARD_DATA_DIR (landing + stores) for one test."""
    return use_data_dir(tmp_path, monkeypatch)


@pytest.fixture
def landing(data_dir: Path) -> Path:
    return data_dir / "landing"


def write_tiny_estate(landing: Path) -> Path:
    from orchestration.lib.estate import generate_estate

    generate_estate(landing, customers=TINY_CUSTOMERS, files=2, seed=11)
    return landing


@pytest.fixture
def tiny_estate(landing: Path) -> Path:
    return write_tiny_estate(landing)


@pytest.fixture(scope="module")
def module_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """A data folder shared by one module's tests, e.g. over one full pipeline run."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield use_data_dir(tmp_path_factory.mktemp("steward"), monkeypatch)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """A manifest compiled from the models on disk (compiles serialize across workers)."""
    from orchestration.lib.dbt_manifest import compile_manifest

    return compile_manifest()


@pytest.fixture(scope="session")
def built_estate(tmp_path_factory: pytest.TempPathFactory, dbt_manifest):
    """A tiny estate run once through the whole pipeline, consumers included: (data folder,
    success, outcomes). Tests may read it and append to its audit log, never change its data."""
    path = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_data_dir(path, monkeypatch)
        (path / "dagster").mkdir()
        monkeypatch.setenv("DAGSTER_HOME", str(path / "dagster"))  # runs kept, SLIs measured
        write_tiny_estate(path / "landing")
        from orchestration.definitions import build_definitions
        from orchestration.defs.ingest.assets import build_ingest_assets
        from orchestration.lib.operations.runner import run_pipeline

        keys = [key for asset in build_ingest_assets() for key in asset.keys]
        success, outcomes = run_pipeline(build_definitions(), ["eu", "us"], keys)
    return path, success, outcomes


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on loopback for this session (one per test worker).
    Without the server here the tests that need it skip, saying how to enable them; CI sets
    STEWARD_REQUIRE_POSTGRES=1, which makes that a failure."""
    from tests.postgres_cluster import ENABLE, server_bin, start_cluster

    if server_bin() is None:
        if os.environ.get("STEWARD_REQUIRE_POSTGRES"):
            pytest.fail(f"STEWARD_REQUIRE_POSTGRES is set but no server is installed: {ENABLE}")
        pytest.skip(ENABLE)
    # Not under pytest's temporary folder: the server's user must be able to reach its files.
    folder = Path(tempfile.mkdtemp(prefix="steward-postgres-"))
    cluster = start_cluster(folder)
    yield cluster
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def redis_url():
    """A throwaway Redis server on loopback for this module, the deployment's broker; its URL.
    Skipped without the server, a failure when STEWARD_REQUIRE_REDIS is set (CI sets it)."""
    from tests.deployment_services import ENABLE_REDIS, redis_server, redis_server_bin

    server = redis_server_bin()
    if server is None:
        if os.environ.get("STEWARD_REQUIRE_REDIS"):
            pytest.fail(f"STEWARD_REQUIRE_REDIS is set but no server is installed: "
                        f"{ENABLE_REDIS}")
        pytest.skip(ENABLE_REDIS)
    with redis_server(server) as url:
        yield url


def _new_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    server = os.environ["STEWARD_PG_DSN"].rsplit("/", 1)[0]
    monkeypatch.setenv("STEWARD_PG_DSN", f"{server}/t{uuid.uuid4().hex[:10]}_{{store}}")


def fresh_stores(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point Steward at new, empty stores: files under `folder`, or, on PostgreSQL, databases
    under a new prefix on the same server."""
    monkeypatch.setenv("STEWARD_STORE_DIR", str(folder))
    if os.environ.get("STEWARD_WAREHOUSE") == "postgres":
        _new_databases(monkeypatch)


@pytest.fixture
def on_postgres(postgres, monkeypatch: pytest.MonkeyPatch):
    """This test's stores are databases of the throwaway server, dropped after it."""
    monkeypatch.setenv("STEWARD_WAREHOUSE", "postgres")
    monkeypatch.setenv("STEWARD_PG_DSN", postgres.dsn("{store}"))
    _new_databases(monkeypatch)
    yield postgres
    postgres.drop_test_databases()


@pytest.fixture(params=["duckdb", "postgres"])
def each_warehouse(request):
    """Runs a test once on DuckDB files and once on PostgreSQL (`usefixtures` it)."""
    if request.param == "postgres":
        request.getfixturevalue("on_postgres")
    return request.param


@pytest.fixture(scope="module")
def pipeline_run(built_estate):
    """The built estate's (success, outcomes), with this module's settings pointing at it."""
    path, success, outcomes = built_estate
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_data_dir(path, monkeypatch)
        yield success, outcomes


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A copy of the shipped rule files, to edit."""
    from policies.rules import POLICIES_DIR

    for path in POLICIES_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def sigterm_ignored_and_blocked() -> None:
    """A child's start (preexec_fn) as by a parent that ignores and blocks SIGTERM: both
    survive exec, and a test worker can be left so by what ran in it before."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def steward_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of a Steward process on the data folder `data`, with no Dagster home."""
    import os

    environment = {**os.environ, "STEWARD_DATA_DIR": str(data),
                   "STEWARD_STORE_DIR": str(data / "store"),
                   "STEWARD_LANDING_DIR": str(data / "landing"), **extra}
    environment.pop("DAGSTER_HOME", None)
    return environment


@pytest.fixture
def built_copy(built_estate, tmp_path, monkeypatch) -> Path:
    """The built estate's landing, stores and keys, copied to change them."""
    for folder in ("landing", "store", "keys"):
        shutil.copytree(built_estate[0] / folder, tmp_path / folder)
    return use_data_dir(tmp_path, monkeypatch)


@pytest.fixture
def read_service():
    """The governed read service on a free loopback port, in this process, so it serves this
    test's data folder and rules: its URL."""
    import threading

    from orchestration.lib.governance.read_service import service

    server = service("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_steward(args: list[str], data: Path, **env: str):
    """A command (`steward ...` when args start with a subcommand) in a fresh process, on the
    data folder `data`, with extra environment variables (STEWARD_POLICIES_DIR=...)."""
    import subprocess
    import sys

    command = args if args[0] == sys.executable else [sys.executable, "-m",
                                                      "orchestration.cli", *args]
    return subprocess.run(command, env=steward_env(data, **env), capture_output=True, text=True,
                          timeout=600)


def sandbox_project(folder: Path, files: dict[str, str]) -> Path:
    """A copy of the dbt project with extra files under models/marts/sandbox/."""
    from tests.dbt_cli import project_copy

    project = project_copy(folder)
    sandbox = project / "models" / "marts" / "sandbox"
    sandbox.mkdir()
    for name, text in files.items():
        (sandbox / name).write_text(text)
    return project
