with source as (
    select * from {{ source('telemetry', 'checks') }}
),

renamed as (
    select
        run_id,
        asset,
        kind,
        source_table,
        consumer,
        region,
        check_name,
        passed,
        severity,
        rows_quarantined,
        cpu_seconds,
        evaluated_at
    from source
)

select * from renamed
