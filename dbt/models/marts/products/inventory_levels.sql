-- Stock on hand per product (after its latest change), the last 7 days' sales rate and when
-- stock runs out at that rate; a stock-out alert below pulse_stock_out_units (100) units.
-- The 7 days end yesterday (UTC), so a product that stopped selling gets no runout estimate.
with daily as (
    select * from {{ ref('product_daily') }}
),

products as (
    select * from {{ ref('stg_raw__products') }}
),

latest_stock as (
    select distinct on (product_id)
        product_id,
        closing_stock as stock_on_hand,
        day as stock_changed_on
    from daily
    where closing_stock is not null
    order by product_id, day desc
),

recent_sales as (
    select product_id, sum(units_sold)::bigint as units_sold_7d
    from daily
    -- the 7 complete UTC days before today: a partial today would understate the rate
    where day >= (now() at time zone 'UTC')::date - 7 and day < (now() at time zone 'UTC')::date
    group by product_id
),

rates as (
    select
        s.product_id,
        s.stock_on_hand,
        s.stock_changed_on,
        coalesce(r.units_sold_7d, 0) as units_sold_7d,
        coalesce(r.units_sold_7d, 0) / 7.0 as avg_daily_units_7d
    from latest_stock as s
    left join recent_sales as r on r.product_id = s.product_id
),

final as (
    select
        r.product_id,
        p.product_name,
        p.category,
        r.stock_on_hand,
        r.stock_changed_on,
        r.units_sold_7d,
        r.avg_daily_units_7d::float8 as avg_daily_units_7d,
        (r.stock_on_hand / nullif(r.avg_daily_units_7d, 0))::float8 as runout_days,
        (now() at time zone 'UTC')::date
            + ceil(r.stock_on_hand / nullif(r.avg_daily_units_7d, 0))::int as runout_date,
        r.stock_on_hand < {{ var('pulse_stock_out_units') }} as stock_out_alert
    from rates as r
    left join products as p on p.product_id = r.product_id
)

select * from final
