with source as (
    select * from {{ source('telemetry', 'steps') }}
),

renamed as (
    select
        run_id,
        asset,
        kind,
        source_table,
        consumer,
        regions,
        rows_read,
        rows_written,
        rows_quarantined,
        files_refused,
        cpu_seconds,
        materialized_at
    from source
)

select * from renamed
