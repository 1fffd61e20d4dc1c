"""A run with nothing to do is skipped, and any change to what a run reads makes the next one
run: a landing file, a store, a rule file, an expectation, a setting, a package, or the hour
passing. The dbt project is compiled again only when it changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orchestration.lib import file_state
from orchestration.lib.dbt_manifest import compile_manifest
from orchestration.lib.operations.last_run import record_healthy_run, unchanged_since
from policies.rules import POLICIES_DIR
from tests.clock import stamp
from tests.dbt_cli import project_copy


@pytest.fixture
def recorded(data_dir: Path, tmp_path_factory, monkeypatch) -> Path:
    """A data folder with a landing file and a store, its rules and expectations copies the
    test may change, at a fixed moment, as a healthy run left it."""
    (data_dir / "landing" / "crm" / "customers").mkdir(parents=True)
    (data_dir / "landing" / "crm" / "customers" / "customers_1.csv").write_text("id\n1\n")
    (data_dir / "store").mkdir()
    (data_dir / "store" / "eu.duckdb").write_bytes(b"a store")
    copies = tmp_path_factory.mktemp("inputs")
    shutil.copytree(POLICIES_DIR, copies / "policies")
    (copies / "expectations").mkdir()
    (copies / "expectations" / "crm_customers.yaml").write_text("expectations: []\n")
    monkeypatch.setenv("STEWARD_POLICIES_DIR", str(copies / "policies"))
    monkeypatch.setenv("STEWARD_EXPECTATIONS_DIR", str(copies / "expectations"))
    monkeypatch.setenv("STEWARD_NOW", stamp(days=-30 / 24))
    record_healthy_run()
    assert unchanged_since() is not None
    return copies


def _touched(path: Path) -> None:
    """The same bytes written again: only the modification time says it changed."""
    stat = path.stat()
    path.write_bytes(path.read_bytes())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_nothing_changed_means_nothing_to_do(recorded, data_dir):
    assert unchanged_since() is not None
    assert unchanged_since() is not None  # asking changes nothing


@pytest.mark.parametrize("change", [
    "a landing file rewritten", "a new landing file", "a store written", "a rule file edited",
    "an expectation edited", "a setting", "a package upgraded", "an hour later"])
def test_any_change_to_what_a_run_reads_makes_the_next_run_run(recorded, data_dir, change,
                                                               monkeypatch):
    landing = data_dir / "landing" / "crm" / "customers"
    if change == "a landing file rewritten":
        _touched(landing / "customers_1.csv")
    elif change == "a new landing file":
        (landing / "customers_2.csv").write_text("id\n2\n")
    elif change == "a store written":
        _touched(data_dir / "store" / "eu.duckdb")
    elif change == "a rule file edited":
        _touched(recorded / "policies" / "retention.yaml")
    elif change == "an expectation edited":
        _touched(recorded / "expectations" / "crm_customers.yaml")
    elif change == "a setting":
        monkeypatch.setenv("STEWARD_CELERY_WORKERS", "3")
    elif change == "a package upgraded":
        upgraded = [*file_state.installed(), "dbt-core==99.0"]
        monkeypatch.setattr(file_state, "installed", lambda: upgraded)
    else:
        monkeypatch.setenv("STEWARD_NOW", stamp(days=-29 / 24))
    assert unchanged_since() is None
    record_healthy_run()  # the next healthy run takes the change in
    assert unchanged_since() is not None


def test_on_postgresql_every_run_runs(recorded, monkeypatch):
    monkeypatch.setenv("STEWARD_WAREHOUSE", "postgres")
    record_healthy_run()
    assert unchanged_since() is None


def test_the_dbt_project_is_compiled_again_only_when_it_changed(tmp_path, monkeypatch):
    project = project_copy(tmp_path)
    monkeypatch.setenv("STEWARD_DBT_PROJECT_DIR", str(project))
    manifest = compile_manifest()

    def compiled_at() -> int:
        return manifest.stat().st_mtime_ns

    first = compiled_at()
    compile_manifest()
    assert compiled_at() == first  # nothing changed: the manifest stands
    _touched(project / "models" / "marts" / "customers" / "customer_features.sql")
    compile_manifest()
    after_an_edit = compiled_at()
    assert after_an_edit != first
    manifest.write_text(manifest.read_text(encoding="utf-8"), encoding="utf-8")
    compile_manifest()  # another tool wrote the manifest: it is compiled again
    assert compiled_at() not in (first, after_an_edit)
