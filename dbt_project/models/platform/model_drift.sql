-- Per consumer model, region and scoring run: how far the population scored moved from the
-- training one (the worst watched column and its PSI), the rows scored, and the trend.
with measures as (
    select
        measured_at,
        model,
        region,
        measure,
        value
    from {{ ref('stg_telemetry__drift') }}
),

indices as (
    select
        measured_at,
        model,
        region,
        substr(measure, 5) as watched_column,
        value as psi,
        row_number() over (
            partition by model, region, measured_at order by value desc, measure asc
        ) as rank_in_run
    from measures
    where measure like 'psi:%'
),

scored as (
    select
        measured_at,
        model,
        region,
        max(value) as rows_scored
    from measures
    where measure = 'rows'
    group by measured_at, model, region
),

runs as (
    select
        indices.measured_at,
        indices.model,
        indices.region,
        indices.watched_column as worst_column,
        indices.psi as psi_max,
        cast(scored.rows_scored as bigint) as rows_scored
    from indices
    left join scored
        on
            indices.model = scored.model
            and indices.region = scored.region
            and indices.measured_at = scored.measured_at
    where indices.rank_in_run = 1
)

select
    measured_at,
    model,
    region,
    worst_column,
    {{ steward_round('psi_max', 4) }} as psi_max,
    rows_scored,
    {{ steward_round(
        'psi_max - lag(psi_max) over (partition by model, region order by measured_at)', 4
    ) }} as psi_change
from runs
