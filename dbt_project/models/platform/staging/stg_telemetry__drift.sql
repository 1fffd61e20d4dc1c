with source as (
    select * from {{ source('telemetry', 'drift') }}
),

renamed as (
    select
        measured_at,
        model,
        region,
        measure,
        value
    from source
)

select * from renamed
