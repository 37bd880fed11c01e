-- Drift per monitor, column and UTC day: runs, alerts, the largest statistic, the smallest p-value.
{{ config(alias='drift_daily') }}

select
    (run_at at time zone 'UTC')::date as day,
    monitor,
    column_name,
    test,
    count(*) as runs,
    count(*) filter (where drifted) as alerts,
    max(statistic) as max_statistic,
    min(p_value) as min_p_value
from {{ ref('stg_pulse__drift_results') }}
group by 1, 2, 3, 4
