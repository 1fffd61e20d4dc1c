-- Ticket bodies with personal data replaced by placeholders, so routing never sees it: the
-- patterns of policies/redaction.py (emails, IBANs, cards, IPs, phones, names).
--
-- Incremental, unlike the rest of this layer: redaction is the costliest step of a build
-- (about 1 s a store at 10M rows), so a build redacts only the tickets whose staged row is
-- new or changed since the last one (`_input_digest`). `_built_with` is a digest of what this
-- model selects, the redaction patterns spelled out: when it changes, every ticket is redacted
-- again, so a new pattern reaches every stored row. Tickets gone from staging (purged,
-- erased) are deleted after each build.
{%- set selected %}
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
{%- endset %}
{%- set built_with = local_md5(selected) %}

{{ config(
    materialized='incremental',
    unique_key='ticket_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="delete from {{ this }} as built where not exists (select 1 from "
              ~ "{{ ref('stg_support__tickets') }} as staged "
              ~ "where staged.ticket_id = built.ticket_id)"
) }}

with staged as (
    select
        tickets.*,
        {{ steward_row_digest('tickets') }} as _input_digest
    from {{ ref('stg_support__tickets') }} as tickets
)

select
    {{ selected }},
    _input_digest,
    '{{ built_with }}' as _built_with
from staged
{%- if is_incremental() %}
where not exists (
    select 1
    from {{ this }} as built
    where built.ticket_id = staged.ticket_id
        and built._input_digest = staged._input_digest
        and built._built_with = '{{ built_with }}'
)
{%- endif %}
