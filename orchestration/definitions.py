"""The Steward code location: ingest assets from source declarations, then the dbt project."""

from __future__ import annotations

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)

from orchestration.defs.ingest.assets import build_ingest_assets  # noqa: E402
from orchestration.defs.transform.assets import dbt_models, dbt_resource  # noqa: E402

PIPELINE_JOB = "steward_pipeline"


def build_definitions() -> dg.Definitions:
    assets = [*build_ingest_assets(), dbt_models]
    return dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job(PIPELINE_JOB, selection=dg.AssetSelection.all(),
                                  partitions_def=None)],
        resources={"dbt": dbt_resource},
        # DuckDB has one writer per file: steps of a run take turns in one process.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
