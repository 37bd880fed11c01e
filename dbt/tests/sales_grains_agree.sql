-- The GMV marts neither lose nor invent orders: minute, hour and day totals equal the orders
-- mart's, which has exactly one row per raw order.
with totals as (
    select 'minute' as grain, sum(orders) as orders, sum(gmv_eur) as gmv_eur from {{ ref('gmv_per_minute') }}
    union all
    select 'hour', sum(orders), sum(gmv_eur) from {{ ref('gmv_hourly') }}
    union all
    select 'day', sum(orders), sum(gmv_eur) from {{ ref('gmv_daily') }}
    union all
    select 'orders mart', count(*), sum(amount_eur) from {{ ref('orders') }}
),

raw_orders as (
    select count(*) as orders from {{ source('raw', 'orders') }}
)

select t.*
from totals as t
cross join raw_orders as r
where t.orders <> r.orders
   or t.gmv_eur <> (select gmv_eur from totals where grain = 'orders mart')
