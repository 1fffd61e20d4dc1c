with source as (
    select * from {{ source('telemetry', 'expectations') }}
),

renamed as (
    select
        region,
        asset,
        suite,
        expectation,
        severity,
        success,
        unexpected_count,
        run_id,
        validated_at
    from source
)

select * from renamed
