-- Orders, GMV (EUR) and mean order value per UTC day, with the day's sessions and the share of
-- them that went through the whole funnel to an order.
{{ config(alias='sales_daily') }}

with funnel as (
    select
        day,
        max(sessions) filter (where step = 'session') as sessions,
        max(sessions) filter (where step = 'order') as ordering_sessions
    from {{ ref('conversion_funnel') }}
    group by day
)

select
    g.day,
    g.orders,
    g.gmv_eur,
    g.customers,
    g.avg_order_value_eur,
    coalesce(f.sessions, 0) as sessions,
    f.ordering_sessions::float8 / nullif(f.sessions, 0) as conversion_rate
from {{ ref('gmv_daily') }} as g
left join funnel as f on f.day = g.day
