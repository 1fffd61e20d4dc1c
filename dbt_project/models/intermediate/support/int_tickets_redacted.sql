-- Ticket bodies with personal data replaced by placeholders, so routing never sees it:
-- the customer's own name, then emails, card numbers and phone numbers by pattern.
with tickets as (
    select
        tickets.*,
        customers.full_name,
        split_part(customers.full_name, ' ', 1) as first_name
    from {{ ref('stg_support__tickets') }} as tickets
    left join {{ ref('stg_crm__customers') }} as customers
        on customers.customer_id = tickets.customer_id
),

names_removed as (
    select
        * exclude (body),
        case
            when full_name is null then body
            else replace(replace(body, full_name, '[NAME]'), first_name, '[NAME]')
        end as body
    from tickets
)

select
    ticket_id,
    customer_id,
    country_code,
    opened_at,
    channel,
    priority,
    subject,
    ticket_status,
    length(body) as body_length,
    regexp_replace(
        regexp_replace(
            regexp_replace(body, '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', '[EMAIL]', 'g'),
            '\b(?:\d[ -]?){12,18}\d\b', '[CARD]', 'g'
        ),
        '\+?\d[\d ()-]{7,}\d', '[PHONE]', 'g'
    ) as body_redacted
from names_removed
