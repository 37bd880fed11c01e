-- Each column's drift test with the run it belongs to (monitor and time).
with results as (
    select * from {{ source('pulse', 'drift_results') }}
),

runs as (
    select * from {{ source('pulse', 'drift_runs') }}
),

joined as (
    select
        r.run_id,
        r.monitor,
        r.started_at as run_at,
        res.column_name,
        res.kind as column_kind,
        res.test,
        res.statistic,
        res.p_value,
        res.threshold,
        res.drifted
    from results as res
    inner join runs as r on r.run_id = res.run_id
),

final as (
    select * from joined
)

select * from final
