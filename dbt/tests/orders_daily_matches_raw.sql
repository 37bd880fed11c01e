-- The mart neither loses nor invents orders or revenue: totals equal the raw table's.
with mart as (
    select sum(orders) as orders, sum(revenue) as revenue from {{ ref('orders_daily') }}
),
raw_totals as (
    select count(*) as orders, sum(amount) as revenue from {{ source('raw', 'orders') }}
)
select *
from mart cross join raw_totals
where mart.orders <> raw_totals.orders or mart.revenue <> raw_totals.revenue
