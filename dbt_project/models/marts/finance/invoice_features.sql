-- Finance-automation features: one row per invoice with the customer's payment history.
with customer_history as (
    select
        customer_id,
        count(*) as customer_invoice_count,
        avg(case when is_paid_late then 1.0 else 0.0 end) as customer_late_payment_rate
    from {{ ref('int_payments_aggregated_to_invoices') }}
    group by customer_id
)

select
    invoices.invoice_id,
    invoices.customer_id,
    invoices.country_code,
    invoices.currency_code,
    invoices.invoice_amount::decimal(12, 2) as invoice_amount,
    invoices.paid_amount::decimal(18, 2) as paid_amount,
    invoices.invoice_status,
    invoices.issued_at,
    invoices.due_date,
    invoices.days_to_pay::integer as days_to_pay,
    invoices.is_paid_late,
    customer_history.customer_invoice_count::integer as customer_invoice_count,
    customer_history.customer_late_payment_rate::double precision as customer_late_payment_rate
from {{ ref('int_payments_aggregated_to_invoices') }} as invoices
left join customer_history on invoices.customer_id = customer_history.customer_id
