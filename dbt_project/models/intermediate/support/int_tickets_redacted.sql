-- Ticket bodies with personal data replaced by placeholders, so routing never sees it: the
-- patterns of policies/redaction.py (emails, IBANs, cards, IPs, phones, names).
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
    {{ steward_redact('body') }} as body_redacted
from {{ ref('stg_support__tickets') }}
