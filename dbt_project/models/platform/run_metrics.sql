-- One row per finished run: what it processed, what it cost, what its checks found.
with steps as (
    select
        run_id,
        count(*) as assets,
        sum(coalesce(rows_read, rows_written, 0))::bigint as rows_processed,
        sum(coalesce(rows_quarantined, 0))::bigint as rows_quarantined,
        sum(files_refused) as files_refused,
        sum(coalesce(cpu_seconds, 0)) as cpu_seconds
    from {{ ref('stg_telemetry__steps') }}
    group by run_id
),

checks as (
    select
        run_id,
        {{ check_counts() }},
        -- failing rows a quality suite moved to the quarantine
        sum(coalesce(rows_quarantined, 0))::bigint as rows_quarantined,
        -- checks that run as their own step (an ingest's run inside its step)
        sum(coalesce(cpu_seconds, 0)) as cpu_seconds
    from {{ ref('stg_telemetry__checks') }}
    group by run_id
)

select
    runs.run_id,
    runs.job,
    runs.trigger,
    runs.status,
    runs.started_at,
    runs.seconds,
    coalesce(steps.assets, 0) as assets,
    coalesce(steps.rows_processed, 0) as rows_processed,
    coalesce(steps.rows_quarantined, 0) + coalesce(checks.rows_quarantined, 0)
        as rows_quarantined,
    coalesce(steps.files_refused, 0) as files_refused,
    coalesce(checks.checks_passed, 0) as checks_passed,
    coalesce(checks.checks_failed, 0) as checks_failed,
    coalesce(checks.checks_warned, 0) as checks_warned,
    {{ steward_round('coalesce(steps.cpu_seconds, 0) + coalesce(checks.cpu_seconds, 0)', 3) }}
        as cpu_seconds
from {{ ref('stg_telemetry__runs') }} as runs
left join steps using (run_id)
left join checks using (run_id)
