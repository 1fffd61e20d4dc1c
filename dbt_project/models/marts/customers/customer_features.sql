-- Lead-scoring features: one row per customer.
with invoices as (
    select
        customer_id,
        count(*) as invoice_count,
        sum(invoice_amount) as total_spend,
        avg(case when is_paid_late then 1.0 else 0.0 end) as late_payment_rate
    from {{ ref('int_payments_aggregated_to_invoices') }}
    group by customer_id
),

tickets as (
    select
        customer_id,
        count(*) as ticket_count
    from {{ ref('stg_support__tickets') }}
    group by customer_id
),

web as (
    select
        customer_id,
        count(*) filter (
            where occurred_at >= {{ dbt.dateadd('day', -30, as_of()) }}
        ) as events_30d,
        max(occurred_at) as last_event_at
    from {{ ref('stg_web__events') }}
    where customer_id is not null
    group by customer_id
)

select
    customers.customer_id,
    customers.country_code,
    customers.segment,
    customers.lead_status,
    {{ dbt.datediff('customers.signup_at', as_of(), 'day') }}::integer as tenure_days,
    coalesce(invoices.invoice_count, 0)::integer as invoice_count,
    coalesce(invoices.total_spend, 0)::decimal(18, 2) as total_spend,
    coalesce(invoices.late_payment_rate, 0)::double precision as late_payment_rate,
    coalesce(tickets.ticket_count, 0)::integer as ticket_count,
    coalesce(web.events_30d, 0)::integer as events_30d,
    web.last_event_at
from {{ ref('stg_crm__customers') }} as customers
left join invoices on customers.customer_id = invoices.customer_id
left join tickets on customers.customer_id = tickets.customer_id
left join web on customers.customer_id = web.customer_id
