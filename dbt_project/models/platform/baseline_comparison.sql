-- Before and after each baseline: the runs that started before it against those after it,
-- per run so windows of different length compare. `first run` is always there: the first
-- run against everything since; `steward metrics baseline LABEL` pins more.
with baselines as (
    select
        label,
        pinned_at
    from {{ ref('stg_telemetry__baselines') }}
    union all
    select
        'first run' as label,
        min(ended_at) as pinned_at
    from {{ ref('stg_telemetry__runs') }}
    having count(*) > 0
),

runs as (
    select
        baselines.label,
        baselines.pinned_at,
        case when run_metrics.started_at < baselines.pinned_at then 'before' else 'after' end
            as side,
        run_metrics.*
    from baselines
    cross join {{ ref('run_metrics') }} as run_metrics
),

exceptions as (
    select
        baselines.label,
        case when alerts.sent_at < baselines.pinned_at then 'before' else 'after' end as side,
        count(*) as alerts_sent
    from baselines
    cross join {{ ref('stg_telemetry__alerts') }} as alerts
    group by baselines.label, side
),

kpis as (
    select
        runs.label,
        runs.pinned_at,
        runs.side,
        -- every ratio divides double precision values: integer division truncates in postgres
        count(*)::double precision as runs,
        avg((runs.status = 'SUCCESS')::int)::double precision as success_rate,
        avg(runs.rows_processed)::double precision as rows_processed_per_run,
        avg(runs.cpu_seconds)::double precision as cpu_seconds_per_run,
        sum(runs.cpu_seconds)::double precision * 1e6
        / nullif(sum(runs.rows_processed), 0) as cpu_seconds_per_million_rows,
        sum(runs.checks_passed)::double precision
        / nullif(sum(runs.checks_passed + runs.checks_failed + runs.checks_warned), 0)
            as check_pass_rate,
        sum(runs.rows_quarantined)::double precision * 1000
        / nullif(sum(runs.rows_processed), 0) as quarantined_per_thousand_rows,
        coalesce({{ dbt.any_value('exceptions.alerts_sent') }}, 0)::double precision
        / count(*) as alerts_per_run,
        (percentile_cont(0.95) within group (order by runs.seconds))::double precision
            as p95_run_seconds
    from runs
    left join exceptions using (label, side)
    group by runs.label, runs.pinned_at, runs.side
),

better as (
    select
        directions.metric,
        directions.better
    from (
        values
        ('runs', null), ('success_rate', 'higher'), ('rows_processed_per_run', null),
        ('cpu_seconds_per_run', 'lower'), ('cpu_seconds_per_million_rows', 'lower'),
        ('check_pass_rate', 'higher'), ('quarantined_per_thousand_rows', 'lower'),
        ('alerts_per_run', 'lower'), ('p95_run_seconds', 'lower')
    ) as directions (metric, better)
),

long as (
    select
        kpis.label,
        kpis.pinned_at,
        kpis.side,
        better.metric,
        case better.metric
            when 'runs' then kpis.runs
            when 'success_rate' then kpis.success_rate
            when 'rows_processed_per_run' then kpis.rows_processed_per_run
            when 'cpu_seconds_per_run' then kpis.cpu_seconds_per_run
            when 'cpu_seconds_per_million_rows' then kpis.cpu_seconds_per_million_rows
            when 'check_pass_rate' then kpis.check_pass_rate
            when 'quarantined_per_thousand_rows' then kpis.quarantined_per_thousand_rows
            when 'alerts_per_run' then kpis.alerts_per_run
            when 'p95_run_seconds' then kpis.p95_run_seconds
        end as value
    from kpis
    cross join better
),

sides as (
    select
        label,
        pinned_at,
        metric,
        max(value) filter (where side = 'before') as before,
        max(value) filter (where side = 'after') as after
    from long
    group by label, pinned_at, metric
)

select
    sides.label as baseline,
    sides.pinned_at,
    sides.metric,
    {{ steward_round('sides.before', 4) }} as before,
    {{ steward_round('sides.after', 4) }} as after,
    {{ steward_round('sides.after - sides.before', 4) }} as change,
    better.better
from sides
inner join better using (metric)
order by sides.pinned_at, sides.metric
