-- Ticket-routing features: one row per ticket, free text redacted.
with customer_tickets as (
    select
        customer_id,
        count(*) as customer_ticket_count
    from {{ ref('int_tickets_redacted') }}
    group by customer_id
)

select
    tickets.ticket_id,
    tickets.customer_id,
    tickets.country_code,
    tickets.opened_at,
    tickets.channel,
    tickets.priority,
    tickets.subject,
    tickets.body_redacted,
    tickets.body_length::integer as body_length,
    customers.segment as customer_segment,
    coalesce(customer_tickets.customer_ticket_count, 0)::integer as customer_ticket_count,
    tickets.ticket_status
from {{ ref('int_tickets_redacted') }} as tickets
left join {{ ref('stg_crm__customers') }} as customers
    on tickets.customer_id = customers.customer_id
left join customer_tickets on tickets.customer_id = customer_tickets.customer_id
