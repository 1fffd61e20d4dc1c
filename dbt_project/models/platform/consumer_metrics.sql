-- Per consumer: its model runs (rows scored, checks, CPU), its reads through the policy, and
-- the rows its models sent to a person (how many, how many resolved, the median wait).
with steps as (
    select
        consumer,
        count(distinct run_id) as runs,
        sum(coalesce(rows_written, 0))::bigint as rows_scored,
        sum(coalesce(cpu_seconds, 0)) as cpu_seconds
    from {{ ref('stg_telemetry__steps') }}
    where kind = 'consumer'
    group by consumer
),

checks as (
    select
        consumer,
        {{ check_counts() }},
        sum(coalesce(cpu_seconds, 0)) as cpu_seconds
    from {{ ref('stg_telemetry__checks') }}
    where kind = 'consumer'
    group by consumer
),

reads as (
    select
        consumer,
        count(*) filter (where kind = 'access.allowed') as reads_allowed,
        count(*) filter (where kind = 'access.masked') as reads_masked,
        count(*) filter (where kind = 'access.denied') as reads_denied,
        count(*) filter (where kind = 'consumer.blocked') as runs_blocked
    from {{ ref('stg_telemetry__audit') }}
    where consumer is not null
    group by consumer
),

consumer_assets as (
    select distinct
        consumer,
        asset
    from {{ ref('stg_telemetry__steps') }}
    where kind = 'consumer'
),

alerts as (
    select
        consumer_assets.consumer,
        count(*) as alerts_sent
    from {{ ref('stg_telemetry__alerts') }} as alerts
    inner join consumer_assets on alerts.key = 'asset:' || consumer_assets.asset
    group by consumer_assets.consumer
),

reviews as (
    select
        consumer,
        count(*) as sent_to_review,
        count(*) filter (where status = 'resolved') as reviews_resolved,
        percentile_cont(0.5) within group (
            order by extract(epoch from (resolved_at - queued_at)) / 3600.0
        ) as review_hours_median
    from {{ ref('stg_telemetry__reviews') }}
    group by consumer
),

consumers as (
    select consumer from steps
    union
    select consumer from reads
    union
    select consumer from reviews
)

select
    consumers.consumer,
    coalesce(steps.runs, 0) as runs,
    coalesce(steps.rows_scored, 0) as rows_scored,
    coalesce(checks.checks_passed, 0) as checks_passed,
    coalesce(checks.checks_failed, 0) as checks_failed,
    coalesce(checks.checks_warned, 0) as checks_warned,
    coalesce(reads.reads_allowed, 0) as reads_allowed,
    coalesce(reads.reads_masked, 0) as reads_masked,
    coalesce(reads.reads_denied, 0) as reads_denied,
    coalesce(reads.runs_blocked, 0) as runs_blocked,
    coalesce(alerts.alerts_sent, 0) as alerts_sent,
    coalesce(reviews.sent_to_review, 0) as sent_to_review,
    coalesce(reviews.reviews_resolved, 0) as reviews_resolved,
    {{ steward_round('reviews.review_hours_median', 2) }} as review_hours_median,
    {{ steward_round('coalesce(steps.cpu_seconds, 0) + coalesce(checks.cpu_seconds, 0)', 3) }}
        as cpu_seconds
from consumers
left join steps using (consumer)
left join checks using (consumer)
left join reads using (consumer)
left join alerts using (consumer)
left join reviews using (consumer)
