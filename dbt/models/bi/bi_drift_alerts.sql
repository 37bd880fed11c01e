-- Drift alerts: one row per drifted column per monitor run.
{{ config(alias='drift_alerts') }}

select
    raised_at,
    monitor,
    column_name,
    test,
    statistic,
    p_value,
    threshold
from {{ ref('stg_pulse__drift_alerts') }}
