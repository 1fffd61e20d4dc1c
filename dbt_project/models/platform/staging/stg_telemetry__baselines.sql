with source as (
    select * from {{ source('telemetry', 'baselines') }}
),

renamed as (
    select
        label,
        pinned_at
    from source
)

select * from renamed
