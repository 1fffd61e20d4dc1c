"""The platform metrics hourly: telemetry collected, then the models over it rebuilt."""

import dagster as dg

from orchestration.defs.platform.assets import GROUP
from orchestration.lib.deployment.queue import lane_tags

platform_schedule = dg.ScheduleDefinition(
    name="platform_metrics_hourly", target=dg.AssetSelection.groups(GROUP),
    cron_schedule="30 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
    tags=lane_tags(),
    description="Collect telemetry and rebuild the platform metrics, so runs launched by the "
                "daemon count too.")
