"""Steward's pipeline on PostgreSQL, through Dagster: the landing files of the built DuckDB
estate are ingested into each region's database, the policy gate and dbt build the models
there, and every check runs; the models hold exactly the rows the DuckDB run built.

The consumers, the telemetry and the platform metrics do not run on PostgreSQL yet: this test
materializes the ingest and the regional models, as `steward run` does before them.
"""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb

from orchestration.lib.settings import postgres_dsn
from orchestration.lib.warehouse import rows_if_present, store_path
from policies.regions import GLOBAL_REGION
from tests.postgres_cluster import model_differences

REGIONS = ["eu", "us"]
RANGE = {"dagster/asset_partition_range_start": REGIONS[0],
         "dagster/asset_partition_range_end": REGIONS[-1]}


def _clock_of(store) -> str:
    with duckdb.connect(str(store), read_only=True) as con:
        [(now,)] = con.execute("SELECT now FROM _steward.clock").fetchall()
    return now.isoformat()


def _checks_failed(result: dg.ExecuteInProcessResult) -> list[str]:
    return [f"{e.asset_check_evaluation.asset_key.to_user_string()}:"
            f"{e.asset_check_evaluation.check_name}"
            for e in result.get_asset_check_evaluations() if not e.passed]


def test_ingest_gate_build_and_checks_run_on_postgres_as_on_duckdb(
        built_estate, on_postgres, data_dir, monkeypatch):
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets

    built, success, _ = built_estate
    assert success
    shutil.copytree(built / "landing", data_dir / "landing")
    # The DuckDB run's clock, so retention and the models' as_of() see the same moment.
    monkeypatch.setenv("STEWARD_NOW", _clock_of(built / "store" / "eu.duckdb"))
    defs = build_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    ingest_keys = {key for asset in build_ingest_assets() for key in asset.keys}
    model_keys = {key for key in set(defs.resolve_all_asset_keys()) - ingest_keys
                  if graph.get(key).partitions_def is not None
                  and graph.get(key).tags.get("region") != GLOBAL_REGION}
    instance = dg.DagsterInstance.ephemeral()

    ingested = job.get_subset(asset_selection=ingest_keys).execute_in_process(
        instance=instance, raise_on_error=False, tags=RANGE)
    assert ingested.success and _checks_failed(ingested) == []
    for region in REGIONS:
        modelled = job.get_subset(asset_selection=model_keys).execute_in_process(
            instance=instance, partition_key=region, raise_on_error=False)
        assert modelled.success and _checks_failed(modelled) == []
        assert len(modelled.get_asset_check_evaluations()) > len(model_keys)  # checks ran
        assert model_differences(built / "store" / f"{region}.duckdb",
                                 postgres_dsn(region)) == {}
    # Every store lives in the server: no DuckDB file was written for any of them.
    assert not any((data_dir / "store").glob("*.duckdb"))
    assert rows_if_present(store_path("eu"), "loaded_files",
                           "SELECT count(*) FROM _steward.loaded_files", schema="_steward")
