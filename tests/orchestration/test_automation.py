"""Event-driven runs with a real Dagster daemon: a new export dropped into landing yields fresh
shared features with nobody running a command."""

from __future__ import annotations

import dagster as dg

from bench.automation import drop_and_time, running_daemon, wait_for_first_tick
from orchestration.defs.automation.sensors import automated, changed_sources
from orchestration.lib.operations.telemetry import STEWARD_RUN, TRIGGER_TAG
from tests.conftest import TINY_CUSTOMERS, write_tiny_estate


def test_only_changed_sources_are_requested_and_never_on_the_first_tick():
    assert changed_sources(None, {"web.events": "a"}) == []
    assert changed_sources({"web.events": "a", "crm.customers": "b"},
                           {"web.events": "a2", "crm.customers": "b"}) == ["web.events"]


def test_the_automation_builds_after_other_runs_update_an_input_but_leaves_steward_runs_to_it():
    @dg.asset
    def landed() -> None:
        pass

    @dg.asset(deps=[landed])
    def feature() -> None:
        pass

    defs = [landed, automated(feature)]
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([landed], instance=instance).success
    tick = dg.evaluate_automation_conditions(defs, instance)

    def requested_after(tags: dict[str, str]) -> int:
        """How many runs the automation asks for once a run with `tags` updated the input
        (and builds what it asked for, as the daemon would)."""
        nonlocal tick
        assert dg.materialize([landed], instance=instance, tags=tags).success
        tick = dg.evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
        requested = tick.total_requested
        if requested:
            assert dg.materialize([feature], instance=instance, selection=[feature.key]).success
            tick = dg.evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
            assert tick.total_requested == 0  # its own build is no reason to build again
        return requested

    # `steward run` builds the feature in its next run: the automation must not queue it too.
    assert requested_after({TRIGGER_TAG: STEWARD_RUN}) == 0
    # The landing sensor's ingest (or anyone else's run) is what the automation reacts to.
    assert requested_after({}) == 1
    assert requested_after({TRIGGER_TAG: "landing_files"}) == 1
    assert requested_after({TRIGGER_TAG: STEWARD_RUN}) == 0


def test_a_new_landing_file_refreshes_the_features_without_a_command(module_data_dir,
                                                                      dbt_manifest,
                                                                      monkeypatch):
    import os

    home = module_data_dir / "dagster"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the runs below are the daemon's history
    write_tiny_estate(module_data_dir / "landing")
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.operations.runner import run_pipeline

    keys = [key for asset in build_ingest_assets() for key in asset.keys]
    assert run_pipeline(build_definitions(), ["eu", "us"], keys)[0]
    log = module_data_dir / "daemon.log"
    with running_daemon(home, dict(os.environ), log):
        wait_for_first_tick(log)
        seconds = drop_and_time(module_data_dir / "landing", TINY_CUSTOMERS, timeout=240)
    assert seconds < 240, log.read_text()[-3000:]
    assert "Launching run for landing_files" in log.read_text()
