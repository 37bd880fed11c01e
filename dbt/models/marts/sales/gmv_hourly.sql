-- Orders and GMV (EUR) per hour of order time; incremental like gmv_per_minute.
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key='hour',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['hour'], 'unique': true}]
) }}

{{ gmv_by_grain('hour') }}
