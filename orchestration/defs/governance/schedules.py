"""When the governance jobs run on their own: the backup daily at 02:00, then the retention
purge at 03:00."""

import dagster as dg

from orchestration.defs.governance.jobs import backup_stores_job, retention_purge_job
from orchestration.lib.settings import get_settings

purge_schedule = dg.ScheduleDefinition(
    name="retention_purge_daily", job=retention_purge_job, cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING)


@dg.schedule(name="backup_daily", job=backup_stores_job, cron_schedule="0 2 * * *",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def backup_schedule(context: dg.ScheduleEvaluationContext):
    """Daily at 02:00, before the purge; on PostgreSQL the server's own tools back up."""
    if get_settings().warehouse == "postgres":
        return dg.SkipReason("on PostgreSQL the databases are backed up with pg_dump or PITR "
                             "(docs/disaster-recovery.md)")
    return dg.RunRequest()
