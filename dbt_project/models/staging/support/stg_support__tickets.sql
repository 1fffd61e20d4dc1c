with source as (
    select * from {{ source('support', 'tickets') }}
),

renamed as (
    select
        ticket_id,
        customer_id,
        customer_country as country_code,
        opened_at,
        channel,
        priority,
        subject,
        body,
        status as ticket_status
    from source
)

select * from renamed
