"""The Steward code location: ingest assets from source declarations, the dbt project, the
consumer models, and the platform metrics over Steward's own telemetry."""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)

from orchestration.defs.automation.alerts import run_failure_alerts, run_recovery  # noqa: E402
from orchestration.defs.automation.sensors import (  # noqa: E402
    automated,
    automation_sensor,
    build_fallback_schedule,
    build_landing_sensor,
)
from orchestration.defs.consumers.assets import (  # noqa: E402
    build_consumer_assets,
    build_fairness_checks,
)
from orchestration.defs.governance.checks import build_dbt_policy_checks  # noqa: E402
from orchestration.defs.governance.jobs import (  # noqa: E402
    erase_subject_job,
    purge_schedule,
    retention_purge_job,
)
from orchestration.defs.ingest.assets import build_ingest_assets  # noqa: E402
from orchestration.defs.platform.assets import platform_schedule, telemetry  # noqa: E402
from orchestration.defs.quality.checks import build_model_quality_checks  # noqa: E402
from orchestration.defs.transform.assets import (  # noqa: E402
    dbt_models,
    dbt_resource,
    platform_models,
)
from orchestration.lib.policy_adapter import governance_metadata, policy_tags  # noqa: E402
from policies.rules import load_rules  # noqa: E402

PIPELINE_JOB = "steward_pipeline"


def _governed(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """Every asset carries owner, retention, region and pii tags, its columns' effective
    classifications and its column lineage, all from the policy engine; a shared dataset
    carries its freshness objective."""

    slos = load_rules().slos

    def govern(spec: dg.AssetSpec) -> dg.AssetSpec:
        key = spec.key.to_user_string()
        governed = spec.merge_attributes(tags=policy_tags(key)).replace_attributes(
            metadata={**spec.metadata, **governance_metadata(key, spec.metadata)})
        if key in slos:  # policies/slos.yaml's freshness objective, tracked by Dagster too
            governed = governed.replace_attributes(
                freshness_policy=dg.FreshnessPolicy.time_window(
                    fail_window=timedelta(hours=slos[key].freshness_hours)))
        return governed

    return assets_def.map_asset_specs(govern)


def build_definitions() -> dg.Definitions:
    ingest = build_ingest_assets()
    ingest_keys = [key for asset in ingest for key in asset.keys]
    derived = [automated(a) for a in (dbt_models, *build_consumer_assets())]
    assets = [_governed(a) for a in (*ingest, *derived, telemetry, platform_models)]
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_dbt_policy_checks(), *build_model_quality_checks(),
                      *build_fairness_checks()],
        jobs=[dg.define_asset_job(PIPELINE_JOB, selection=dg.AssetSelection.all(),
                                  partitions_def=None), retention_purge_job, erase_subject_job],
        schedules=[purge_schedule, build_fallback_schedule(ingest_keys), platform_schedule],
        sensors=[build_landing_sensor(ingest_keys), automation_sensor, run_failure_alerts,
                 run_recovery],
        resources={"dbt": dbt_resource},
        # DuckDB has one writer per file: steps of a run take turns in one process.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
