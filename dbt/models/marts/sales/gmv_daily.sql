-- Orders, GMV (EUR) and average order value per UTC day of order time; incremental like
-- gmv_per_minute. Distinct customers cannot be summed from smaller grains, so each grain counts
-- from the orders.
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key='day',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['day'], 'unique': true}]
) }}

with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

fx as (
    select * from {{ ref('fx_rates') }}
),

{% if is_incremental() %}
rebuild_from as (
    select min(order_date) as day
    from orders
    where ingested_at > {{ ingest_watermark() }}
),
{% endif %}

per_day as (
    select
        o.order_date as day,
        count(*) as orders,
        sum({{ to_eur("o.amount", "fx.eur_per_unit") }}) as gmv_eur,
        count(distinct o.customer_id) as customers,
        sum(o.item_count) as items,
        round(sum({{ to_eur("o.amount", "fx.eur_per_unit") }}) / count(*), 2) as avg_order_value_eur,
        max(o.ingested_at) as last_ingested_at
    from orders as o
    left join fx on fx.currency = o.currency
    {% if is_incremental() %}
    where o.ordered_at >= (select day from rebuild_from)::timestamp at time zone 'UTC'
    {% endif %}
    group by 1
),

final as (
    select * from per_day
)

select * from final
