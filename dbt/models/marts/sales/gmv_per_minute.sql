-- Orders and GMV (in EUR at the fixed rates of seeds/fx_rates.csv) per minute of order time.
-- Incremental: every minute from the earliest one that received a newly landed order is rebuilt
-- whole, so late orders are counted where they belong and a rebuilt minute equals a full build.
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key='minute',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['minute'], 'unique': true}]
) }}

{{ gmv_by_grain('minute') }}
