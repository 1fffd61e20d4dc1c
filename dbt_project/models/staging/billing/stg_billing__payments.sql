with source as (
    select * from {{ source('billing', 'payments') }}
),

renamed as (
    select
        payment_id,
        invoice_id,
        customer_id,
        paid_at,
        amount as paid_amount,
        method as payment_method
    from source
)

select * from renamed
