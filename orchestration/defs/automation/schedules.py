"""The fallback schedule of event-driven runs: every ingest hourly, should a landing event be
missed; automation then builds what depends on a table the ingest changed."""

import dagster as dg

from orchestration.lib.operations.runner import every_region_tags
from policies.regions import region_names


def build_fallback_schedule(ingest_keys: list[dg.AssetKey]) -> dg.ScheduleDefinition:
    regions = region_names()

    @dg.schedule(name="ingest_hourly", cron_schedule="0 * * * *", target=ingest_keys,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Every source's ingest, hourly, should a landing event be missed; "
                             "automation builds what depends on it.")
    def _hourly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(tags=every_region_tags(regions))

    return _hourly
