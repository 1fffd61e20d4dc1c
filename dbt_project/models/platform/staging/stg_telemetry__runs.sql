with source as (
    select * from {{ source('telemetry', 'runs') }}
),

renamed as (
    select
        run_id,
        job,
        status,
        trigger,
        started_at,
        ended_at,
        seconds
    from source
)

select * from renamed
