-- Per source table: what its ingest processed, refused and cost, and what was sent to people.
with steps as (
    select
        asset,
        {{ dbt.any_value('source_table') }} as source_table,
        count(distinct run_id) as runs,
        sum(coalesce(rows_read, 0))::bigint as rows_read,
        sum(coalesce(rows_written, 0))::bigint as rows_loaded,
        sum(coalesce(rows_quarantined, 0))::bigint as rows_quarantined_at_load,
        sum(files_refused) as files_refused,
        -- a load that quarantined rows or refused a file is a case someone reviews
        count(*) filter (where rows_quarantined > 0 or files_refused > 0) as quarantine_cases,
        sum(coalesce(cpu_seconds, 0)) as cpu_seconds,
        max(materialized_at) as last_loaded_at
    from {{ ref('stg_telemetry__steps') }}
    where kind = 'ingest'
    group by asset
),

checks as (
    select
        asset,
        {{ check_counts() }},
        sum(coalesce(rows_quarantined, 0))::bigint as rows_quarantined_by_checks
    from {{ ref('stg_telemetry__checks') }}
    where kind = 'ingest'
    group by asset
),

expectations as (
    select
        asset,
        count(*) as expectations_evaluated,
        count(*) filter (where not success) as expectations_failed
    from {{ ref('stg_telemetry__expectations') }}
    group by asset
),

alerts as (
    select
        substr(key, length('asset:') + 1) as asset,
        count(*) as alerts_sent
    from {{ ref('stg_telemetry__alerts') }}
    where starts_with(key, 'asset:')
    group by asset
)

select
    steps.asset,
    steps.source_table,
    steps.runs,
    steps.rows_read,
    steps.rows_loaded,
    steps.rows_quarantined_at_load + coalesce(checks.rows_quarantined_by_checks, 0)
        as rows_quarantined,
    steps.files_refused,
    coalesce(checks.checks_passed, 0) as checks_passed,
    coalesce(checks.checks_failed, 0) as checks_failed,
    coalesce(checks.checks_warned, 0) as checks_warned,
    coalesce(expectations.expectations_evaluated, 0) as expectations_evaluated,
    coalesce(expectations.expectations_failed, 0) as expectations_failed,
    coalesce(alerts.alerts_sent, 0) as alerts_sent,
    coalesce(alerts.alerts_sent, 0) + steps.quarantine_cases as exceptions_to_humans,
    {{ steward_round('steps.cpu_seconds', 3) }} as cpu_seconds,
    steps.last_loaded_at
from steps
left join checks using (asset)
left join expectations using (asset)
left join alerts using (asset)
