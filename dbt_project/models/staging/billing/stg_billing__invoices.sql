with source as (
    select * from {{ source('billing', 'invoices') }}
),

renamed as (
    select
        invoice_id,
        customer_id,
        billing_country as country_code,
        issued_at,
        due_date,
        amount as invoice_amount,
        currency as currency_code,
        status as invoice_status
    from source
)

select * from renamed
