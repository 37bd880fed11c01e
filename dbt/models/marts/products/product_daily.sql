-- Per product and UTC day: storefront views and add-to-carts, units sold, returned and restocked,
-- and the stock on hand after the day's last change. Incremental like the GMV marts: every day
-- from the earliest one with newly landed events is rebuilt whole.
-- The indexes let delete+insert find the rows it replaces by key.
{{ config(
    materialized='incremental',
    unique_key=['product_id', 'day'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[{'columns': ['product_id', 'day'], 'unique': true}]
) }}

with clickstream as (
    select * from {{ ref('stg_raw__clickstream') }}
),

inventory as (
    select * from {{ ref('stg_raw__inventory') }}
),

{% if is_incremental() %}
rebuild_from as (
    -- not before the days raw.clickstream still holds: rebuilding older days would lose their views
    select (greatest(min(occurred_at), {{ raw_horizon('raw.clickstream') }}) at time zone 'UTC')::date as day
    from (
        select occurred_at from clickstream where ingested_at > {{ ingest_watermark() }}
        union all
        select occurred_at from inventory where ingested_at > {{ ingest_watermark() }}
    ) as landed
),
{% endif %}

views as (
    select
        product_id,
        (occurred_at at time zone 'UTC')::date as day,
        count(*) filter (where event_type = 'product_view') as views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        max(ingested_at) as last_ingested_at
    from clickstream
    where product_id is not null
    {% if is_incremental() %}
        and occurred_at >= (select day from rebuild_from)::timestamp at time zone 'UTC'
    {% endif %}
    group by 1, 2
),

stock as (
    select
        product_id,
        (occurred_at at time zone 'UTC')::date as day,
        coalesce(-sum(stock_delta) filter (where reason = 'sale'), 0) as units_sold,
        coalesce(sum(stock_delta) filter (where reason = 'return'), 0) as units_returned,
        coalesce(sum(stock_delta) filter (where reason = 'restock'), 0) as units_restocked,
        (array_agg(stock_after order by occurred_at desc, event_id desc))[1] as closing_stock,
        max(ingested_at) as last_ingested_at
    from inventory
    {% if is_incremental() %}
    where occurred_at >= (select day from rebuild_from)::timestamp at time zone 'UTC'
    {% endif %}
    group by 1, 2
),

final as (
    select
        coalesce(v.product_id, s.product_id) as product_id,
        coalesce(v.day, s.day) as day,
        coalesce(v.views, 0) as views,
        coalesce(v.add_to_carts, 0) as add_to_carts,
        coalesce(s.units_sold, 0) as units_sold,
        coalesce(s.units_returned, 0) as units_returned,
        coalesce(s.units_restocked, 0) as units_restocked,
        s.closing_stock,
        greatest(v.last_ingested_at, s.last_ingested_at) as last_ingested_at
    from views as v
    full join stock as s on s.product_id = v.product_id and s.day = v.day
)

select * from final
