-- One row per invoice with what was paid against it and whether it was paid late.
with payments as (
    select
        invoice_id,
        sum(paid_amount) as paid_amount,
        min(paid_at) as first_paid_at
    from {{ ref('stg_billing__payments') }}
    group by invoice_id
)

select
    invoices.invoice_id,
    invoices.customer_id,
    invoices.country_code,
    invoices.currency_code,
    invoices.invoice_amount,
    invoices.invoice_status,
    invoices.issued_at,
    invoices.due_date,
    coalesce(payments.paid_amount, 0) as paid_amount,
    payments.first_paid_at,
    -- dbt's datediff expands past the line length on DuckDB
    {{ dbt.datediff('invoices.issued_at', 'payments.first_paid_at', 'day') }} as days_to_pay,  -- noqa: LT05
    coalesce(payments.first_paid_at::date > invoices.due_date, false) as is_paid_late
from {{ ref('stg_billing__invoices') }} as invoices
left join payments on invoices.invoice_id = payments.invoice_id
