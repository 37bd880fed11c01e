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

with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

fx as (
    select * from {{ ref('fx_rates') }}
),

{% if is_incremental() %}
rebuild_from as (
    select date_trunc('minute', min(ordered_at), 'UTC') as minute
    from orders
    where ingested_at > {{ ingest_watermark() }}
),
{% endif %}

per_minute as (
    select
        date_trunc('minute', o.ordered_at, 'UTC') as minute,
        count(*) as orders,
        sum({{ to_eur("o.amount", "fx.eur_per_unit") }}) as gmv_eur,
        count(distinct o.customer_id) as customers,
        sum(o.item_count) as items,
        max(o.ingested_at) as last_ingested_at
    from orders as o
    left join fx on fx.currency = o.currency
    {% if is_incremental() %}
    where o.ordered_at >= (select minute from rebuild_from)
    {% endif %}
    group by 1
),

final as (
    select * from per_minute
)

select * from final
