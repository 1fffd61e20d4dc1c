-- Ticket bodies with personal data replaced by placeholders, so routing never sees it: the
-- patterns of policies/redaction.py (emails, IBANs, cards, IPs, phones, names).
-- A table, not a view like the rest of this layer: redaction is the costliest step of a build
-- (about 1 s a store at 10M rows), and a view would run it again for each reader, the ticket
-- features and the policy check's PII sample alike.
{{ config(materialized='table') }}

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
