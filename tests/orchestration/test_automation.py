"""Event-driven runs with a real Dagster daemon: a new export dropped into landing yields fresh
shared features with nobody running a command."""

from __future__ import annotations

import dagster as dg

from bench.automation import drop_and_time, running_daemon, wait_for_first_tick
from orchestration.defs.automation.sensors import automated, changed_sources
from orchestration.lib.estate import TABLES, estate_connection, write_table
from orchestration.lib.operations.telemetry import STEWARD_RUN, TRIGGER_TAG
from tests.conftest import TINY_CUSTOMERS, write_tiny_estate


def _ingest_versions(instance: dg.DagsterInstance) -> dict[tuple[str, str], str]:
    """Every ingest's data version per region, after running all of them once."""
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import DATA_VERSION_TAG, build_ingest_assets
    from orchestration.lib.operations.runner import every_region_tags

    keys = {key for asset in build_ingest_assets() for key in asset.keys}
    job = build_definitions().resolve_implicit_global_asset_job_def()
    assert job.get_subset(asset_selection=keys).execute_in_process(
        instance=instance, tags=every_region_tags(["eu", "us"])).success
    return {(key.to_user_string(), region): instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[region]), limit=1,
            ).records[0].event_log_entry.tags[DATA_VERSION_TAG]
            for key in keys for region in ("eu", "us")}


def test_only_changed_sources_are_requested_and_never_on_the_first_tick():
    assert changed_sources(None, {"web.events": "a"}) == []
    assert changed_sources({"web.events": "a", "crm.customers": "b"},
                           {"web.events": "a2", "crm.customers": "b"}) == ["web.events"]


def test_the_automation_builds_when_others_change_an_input_not_after_steward_runs_or_no_change():
    version = ["first"]  # what the next materialization of the input stores

    @dg.asset
    def landed() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(version[0]))

    @dg.asset(deps=[landed])
    def feature() -> None:
        pass

    defs = [landed, automated(feature)]
    instance = dg.DagsterInstance.ephemeral()  # a new deployment: nothing materialized yet
    tick = dg.evaluate_automation_conditions(defs, instance)

    def requested_after(stored: str, tags: dict[str, str]) -> int:
        """How many runs the automation asks for once a run with `tags` stored version
        `stored` of the input (and builds what it asked for, as the daemon would)."""
        nonlocal tick
        version[0] = stored
        assert dg.materialize([landed], instance=instance, tags=tags).success
        tick = dg.evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
        requested = tick.total_requested
        if requested:
            assert dg.materialize([feature], instance=instance, selection=[feature.key]).success
            tick = dg.evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
            assert tick.total_requested == 0  # its own build is no reason to build again
        return requested

    # `steward run` builds the feature in its next run: the automation must not queue it too.
    assert requested_after("second", {TRIGGER_TAG: STEWARD_RUN}) == 0
    # The landing sensor's ingest (or anyone else's run) is what the automation reacts to...
    assert requested_after("third", {}) == 1
    assert requested_after("fourth", {TRIGGER_TAG: "landing_files"}) == 1
    # ... when it changed the data: an ingest that stored nothing keeps the version it found.
    assert requested_after("fourth", {TRIGGER_TAG: "landing_files"}) == 0
    assert requested_after("fifth", {TRIGGER_TAG: STEWARD_RUN}) == 0


def test_an_ingest_over_every_region_in_one_run_is_left_to_steward_run_too():
    regions = dg.StaticPartitionsDefinition(["eu", "us"])

    @dg.asset(partitions_def=regions, backfill_policy=dg.BackfillPolicy.single_run())
    def landed(context) -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(context.run.run_id))

    @dg.asset(deps=[landed], partitions_def=regions)
    def feature() -> None:
        pass

    defs = [landed, automated(feature)]
    instance = dg.DagsterInstance.ephemeral()
    every_region = {"dagster/asset_partition_range_start": "eu",
                    "dagster/asset_partition_range_end": "us"}
    for region in ("eu", "us"):  # a deployment that has run before
        assert dg.materialize([landed, feature], instance=instance, partition_key=region).success
    tick = dg.evaluate_automation_conditions(defs, instance)
    for tags, requested in (({TRIGGER_TAG: STEWARD_RUN}, 0), ({}, 2)):
        assert dg.materialize([landed], instance=instance, tags={**every_region, **tags}).success
        tick = dg.evaluate_automation_conditions(defs, instance, cursor=tick.cursor)
        assert tick.total_requested == requested


def test_an_ingest_that_stores_nothing_keeps_its_data_version(data_dir, dbt_manifest):
    write_tiny_estate(data_dir / "landing")
    instance = dg.DagsterInstance.ephemeral()
    first = _ingest_versions(instance)
    assert _ingest_versions(instance) == first  # the same files again: nothing stored
    con = estate_connection(seed=99, customers=TINY_CUSTOMERS)
    write_table(con, next(t for t in TABLES if t.table == "events"), 50, 1,
                data_dir / "landing" / "web" / "events", first_id=10**12, prefix="fresh")
    con.close()
    changed = {asset for (asset, region), version in _ingest_versions(instance).items()
               if version != first[(asset, region)]}
    assert changed == {"web/events"}


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
