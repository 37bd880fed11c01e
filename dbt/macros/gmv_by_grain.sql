{#- Orders and GMV (EUR) per minute or hour of order time (UTC): the body of gmv_per_minute and
    gmv_hourly. Incremental: every period from the earliest one that received a newly landed order
    is rebuilt whole, so late orders count where they belong and a rebuilt period equals a full
    build. -#}
{% macro gmv_by_grain(grain) %}
with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

fx as (
    select * from {{ ref('fx_rates') }}
),

{% if is_incremental() %}
rebuild_from as (
    select date_trunc('{{ grain }}', min(ordered_at), 'UTC') as period
    from orders
    where ingested_at > {{ ingest_watermark() }}
),
{% endif %}

per_period as (
    select
        date_trunc('{{ grain }}', o.ordered_at, 'UTC') as {{ grain }},
        count(*) as orders,
        sum({{ to_eur("o.amount", "fx.eur_per_unit") }}) as gmv_eur,
        count(distinct o.customer_id) as customers,
        sum(o.item_count) as items,
        max(o.ingested_at) as last_ingested_at
    from orders as o
    left join fx on fx.currency = o.currency
    {% if is_incremental() %}
    where o.ordered_at >= (select period from rebuild_from)
    {% endif %}
    group by 1
)

select * from per_period
{% endmacro %}
