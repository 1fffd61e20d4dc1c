with source as (
    select * from {{ source('web', 'events') }}
),

renamed as (
    select
        event_id,
        customer_id,
        ip_address,
        geo_country as country_code,
        event_type,
        page,
        occurred_at
    from source
)

select * from renamed
