with source as (
    select * from {{ source('crm', 'customers') }}
),

renamed as (
    select
        customer_id,
        full_name,
        email,
        phone,
        birth_date,
        gender,
        country as country_code,
        signup_at,
        segment,
        lead_status,
        updated_at
    from source
)

select * from renamed
