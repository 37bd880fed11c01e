-- Per product over all days: views, add-to-carts, units sold and returned, with the catalogue's
-- name, category and price (current mirror; deleted products keep their history).
with daily as (
    select * from {{ ref('product_daily') }}
),

products as (
    select * from {{ ref('stg_raw__products') }}
),

totals as (
    select
        product_id,
        sum(views)::bigint as views,
        sum(add_to_carts)::bigint as add_to_carts,
        sum(units_sold)::bigint as units_sold,
        sum(units_returned)::bigint as units_returned,
        min(day) as first_day,
        max(day) as last_day
    from daily
    group by product_id
),

final as (
    select
        t.product_id,
        p.product_name,
        p.category,
        p.price,
        p.currency,
        p.is_active,
        t.views,
        t.add_to_carts,
        t.units_sold,
        t.units_returned,
        t.add_to_carts::float8 / nullif(t.views, 0) as view_to_cart_rate,
        t.first_day,
        t.last_day
    from totals as t
    left join products as p on p.product_id = t.product_id
)

select * from final
