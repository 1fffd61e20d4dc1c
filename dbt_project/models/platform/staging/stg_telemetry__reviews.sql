with source as (
    select * from {{ source('telemetry', 'reviews') }}
),

renamed as (
    select
        model,
        consumer,
        region,
        reason,
        status,
        queued_at,
        resolved_at
    from source
)

select * from renamed
