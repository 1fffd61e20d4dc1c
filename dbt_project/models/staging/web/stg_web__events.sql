select
    event_id,
    customer_id,
    ip_address,
    geo_country as country_code,
    event_type,
    page,
    occurred_at
from {{ source('web', 'events') }}
