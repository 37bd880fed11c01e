with orders as (
    select * from {{ ref('stg_raw__orders') }}
),

daily as (
    select
        order_date,
        currency,
        count(*) as orders,
        count(distinct customer_id) as customers,
        sum(amount) as revenue,
        round(avg(amount), 2) as avg_order_value,
        sum(item_count) as items_sold,
        count(*) filter (where shipping_country <> billing_country) as country_mismatch_orders
    from orders
    group by order_date, currency
),

final as (
    select * from daily
)

select * from final
