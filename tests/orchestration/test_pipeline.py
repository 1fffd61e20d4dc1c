"""Real materializations: ingest and `dbt build` on a tiny generated estate in temporary stores."""

from __future__ import annotations

import subprocess
import sys

from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import store_path
from tests.orchestration.ingest_helpers import store_rows


def test_every_asset_materializes_in_every_region(pipeline_run):
    success, outcomes = pipeline_run
    assert success
    by_asset = {(o.asset, o.region): o for o in outcomes}
    assert len(by_asset) == 15 * 2 + 3 + 23  # 5 source tables + 10 dbt models, 2 regions;
    # 3 consumer models; 9 telemetry tables, their 9 staging views and 5 platform models in
    # the global store
    assert all(o.checks_failed == 0 for o in outcomes)
    features = [by_asset[("marts/customer_features", r)].rows for r in ("eu", "us")]
    customers = [by_asset[("crm/customers", r)].rows for r in ("eu", "us")]
    assert features == customers and sum(features) == 120


def test_dbt_builds_in_this_process_and_leaves_every_store_free_for_others(pipeline_run):
    # The pipeline ran in this test process, dbt with it: no store may stay open after it.
    for region in ("eu", "us", "global"):
        opened = subprocess.run([sys.executable, "-c", "import duckdb, sys; "
                                 "duckdb.connect(sys.argv[1]).close()", str(store_path(region))],
                                capture_output=True, text=True)
        assert opened.returncode == 0, opened.stderr
    assert "dbt.cli.main" in sys.modules  # built here, not in a dbt process of its own


def test_dbt_logs_each_store_s_builds_at_info_level_unless_asked_for_more(pipeline_run):
    # Writing every debug event (each query) cost a tiny build a fifth of its time; dbt's own
    # DBT_LOG_LEVEL_FILE asks for them (test_main_job.py does).
    log = (get_settings().dbt_target("eu") / "dbt.log").read_text()
    assert "[info ]" in log and "Completed successfully" in log
    assert "[debug]" not in log


def test_marts_hold_only_their_regions_rows(pipeline_run):
    us = store_rows("us", "SELECT DISTINCT country_code FROM marts.customer_features")
    eu = store_rows("eu", "SELECT DISTINCT country_code FROM marts.invoice_features")
    assert us == [("US",)]
    assert eu and ("US",) not in eu


def test_ticket_features_carry_no_raw_contact_details(pipeline_run):
    for region in ("eu", "us"):
        leaks = store_rows(region, r"""
            SELECT count(*) FROM marts.ticket_features
            WHERE regexp_matches(body_redacted, '@|\d{4} \d{4} \d{4} \d{4}|555-\d{4}')""")
        assert leaks == [(0,)]
    assert get_settings().quarantine_store.exists()


def test_each_run_measures_the_slis_of_the_shared_datasets(pipeline_run):
    from orchestration.lib.operations.slis import history

    latest = {row[1]: row for row in history()}
    assert set(latest) == {"marts/customer_features", "marts/ticket_features",
                           "marts/invoice_features"}
    for _, _, runs, success_rate, _, p95, lag, check_rate, breaches in latest.values():
        assert runs >= 1 and success_rate == 1.0 and p95 > 0
        assert 0 <= lag < 1 and check_rate == 1.0 and breaches == ""


def test_steward_slo_reads_the_kept_history(pipeline_run, built_estate):
    from tests.conftest import run_steward

    result = run_steward(["slo"], built_estate[0])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("  ok") == 3 and "marts/ticket_features" in result.stdout
    missing = run_steward(["slo"], built_estate[0] / "nowhere")
    assert missing.returncode == 2 and "run `make run` first" in missing.stderr


def test_a_dbt_that_stops_fails_the_step_with_its_reason(built_copy, tmp_path):
    # The store's target still holds the last good build's results; a dbt that cannot start
    # (no profile here) must fail the step with its own reason, not be judged by those.
    import dagster as dg

    from orchestration.defs.transform.assets import dbt_models
    from orchestration.lib.dbt import StewardDbtCliResource, dbt_project
    from orchestration.lib.dbt_manifest import dbt_executable

    assert (get_settings().dbt_target("eu") / "run_results.json").exists()
    (tmp_path / "no_profiles").mkdir()
    (tmp_path / "no_profiles" / "profiles.yml").write_text("{}\n")
    broken = StewardDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable(),
                                   profiles_dir=str(tmp_path / "no_profiles"))
    result = dg.materialize([dbt_models], partition_key="eu", resources={"dbt": broken},
                            raise_on_error=False)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "dbt stopped" in failure.step_failure_data.error.message
    assert "profile" in failure.step_failure_data.error.message
