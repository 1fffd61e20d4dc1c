"""The Steward code location: ingest assets from source declarations, the dbt project, the
consumer models, and the platform metrics over Steward's own telemetry."""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)

from orchestration.defs.automation.schedules import build_fallback_schedule  # noqa: E402
from orchestration.defs.automation.sensors import (  # noqa: E402
    automated,
    automation_sensor,
    build_landing_sensor,
    run_failure_alerts,
    run_recovery,
)
from orchestration.defs.consumers.assets import (  # noqa: E402
    build_consumer_assets,
    build_fairness_checks,
)
from orchestration.defs.governance.checks import build_policy_checks  # noqa: E402
from orchestration.defs.governance.jobs import (  # noqa: E402
    backup_stores_job,
    erase_subject_job,
    retention_purge_job,
)
from orchestration.defs.governance.schedules import backup_schedule, purge_schedule  # noqa: E402
from orchestration.defs.ingest.assets import (  # noqa: E402
    build_ingest_assets,
    build_reference_checks,
)
from orchestration.defs.platform.assets import ASSET_GRAPH, telemetry  # noqa: E402
from orchestration.defs.platform.schedules import platform_schedule  # noqa: E402
from orchestration.defs.quality.checks import build_quality_checks  # noqa: E402
from orchestration.defs.transform.assets import dbt_models, platform_models  # noqa: E402
from orchestration.defs.transform.resources import dbt_resource  # noqa: E402
from orchestration.lib.deployment.celery import celery_config  # noqa: E402
from orchestration.lib.governance.asset_metadata import governance_metadata, policy_tags  # noqa: E402
from orchestration.lib.governance.registry import undeclared_sources  # noqa: E402
from orchestration.lib.security.private_files import ensure_private  # noqa: E402
from orchestration.lib.settings import get_settings  # noqa: E402
from policies.rules import load_rules  # noqa: E402

PIPELINE_JOB = "steward_pipeline"


def _govern(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Every asset carries owner, retention, region and pii tags, its columns' effective
    classifications and its column lineage, all from the policy engine; a shared dataset
    carries its freshness objective."""
    key = spec.key.to_user_string()
    governed = spec.merge_attributes(tags=policy_tags(key)).replace_attributes(
        metadata={**spec.metadata, **governance_metadata(key, spec.metadata)})
    slo = load_rules().slos.get(key)
    if slo:  # policies/slos.yaml's freshness objective, tracked by Dagster too
        governed = governed.replace_attributes(freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=slo.freshness_hours)))
    return governed


def _undeclared_source_specs() -> list[dg.AssetSpec]:
    """dbt sources no one declared for Steward: shown, governed and checked like the rest,
    though Steward does not load them."""
    return [_govern(dg.AssetSpec(dg.AssetKey.from_user_string(key), group_name="sources",
                                 kinds={"dbt"}, description="A dbt source without a Steward "
                                 "declaration: declare it to load and govern it."))
            for key in undeclared_sources()]


def _executor() -> dg.ExecutorDefinition:
    """Steps take turns in the run's process (a DuckDB file has one writer), unless the
    deployment spreads them over Celery workers (STEWARD_EXECUTOR=celery, on PostgreSQL).
    `steward run` in embedded mode executes in its own process either way."""
    if get_settings().executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config())
    return dg.in_process_executor


def build_definitions() -> dg.Definitions:
    ingest = build_ingest_assets()
    ingest_keys = [key for asset in ingest for key in asset.keys]
    derived = [automated(a) for a in (dbt_models, *build_consumer_assets())]
    assets = [a.map_asset_specs(_govern)
              for a in (*ingest, *derived, telemetry, platform_models)]
    external = _undeclared_source_specs()
    # Ingest, telemetry and consumer assets check themselves; everything else is checked here.
    checked = [*dbt_models.keys, *platform_models.keys, *(spec.key for spec in external)]
    defs = dg.Definitions(
        assets=[*assets, *external],
        asset_checks=[*build_policy_checks(checked), *build_quality_checks(checked),
                      *build_fairness_checks(), *build_reference_checks()],
        jobs=[dg.define_asset_job(PIPELINE_JOB, selection=dg.AssetSelection.all(),
                                  partitions_def=None), retention_purge_job, erase_subject_job,
              backup_stores_job],
        schedules=[purge_schedule, backup_schedule, build_fallback_schedule(ingest_keys),
                   platform_schedule],
        sensors=[build_landing_sensor(ingest_keys), automation_sensor, run_failure_alerts,
                 run_recovery],
        # The telemetry asset counts every asset and check of these definitions, whatever
        # subset its run selected: resolved once the definitions exist, when a run starts.
        resources={"dbt": dbt_resource,
                   ASSET_GRAPH: dg.ResourceDefinition(lambda _: defs.resolve_asset_graph())},
        executor=_executor(),
    )
    return defs


# The UI and the daemon load this module, not a `steward` command: they too start from private
# stores, keys and checkpoints, or stop naming what they cannot make private.
ensure_private()
defs = build_definitions()
