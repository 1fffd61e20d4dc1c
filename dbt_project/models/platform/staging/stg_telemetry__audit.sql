with source as (
    select * from {{ source('telemetry', 'audit') }}
),

renamed as (
    select
        seq,
        recorded_at,
        kind,
        dataset,
        consumer
    from source
)

select * from renamed
