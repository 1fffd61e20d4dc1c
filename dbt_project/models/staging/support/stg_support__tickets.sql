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
from {{ source('support', 'tickets') }}
