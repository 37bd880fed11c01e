-- Orders and GMV (EUR) per hour of order time; incremental like gmv_per_minute.
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key='hour',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['hour'], 'unique': true}]
) }}

with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

fx as (
    select * from {{ ref('fx_rates') }}
),

{% if is_incremental() %}
rebuild_from as (
    select date_trunc('hour', min(ordered_at), 'UTC') as hour
    from orders
    where ingested_at > {{ ingest_watermark() }}
),
{% endif %}

per_hour as (
    select
        date_trunc('hour', o.ordered_at, 'UTC') as hour,
        count(*) as orders,
        sum({{ to_eur("o.amount", "fx.eur_per_unit") }}) as gmv_eur,
        count(distinct o.customer_id) as customers,
        sum(o.item_count) as items,
        max(o.ingested_at) as last_ingested_at
    from orders as o
    left join fx on fx.currency = o.currency
    {% if is_incremental() %}
    where o.ordered_at >= (select hour from rebuild_from)
    {% endif %}
    group by 1
),

final as (
    select * from per_hour
)

select * from final
