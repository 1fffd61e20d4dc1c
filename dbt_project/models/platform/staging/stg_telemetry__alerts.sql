with source as (
    select * from {{ source('telemetry', 'alerts') }}
),

renamed as (
    select
        key,
        kind,
        title,
        sent_at
    from source
)

select * from renamed
