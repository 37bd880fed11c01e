with source as (
    select * from {{ source('pulse', 'drift_alerts') }}
),

renamed as (
    select
        alert_id,
        run_id,
        monitor,
        column_name,
        test,
        statistic,
        p_value,
        threshold,
        raised_at
    from source
),

final as (
    select * from renamed
)

select * from final
