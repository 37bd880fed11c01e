-- Orders, GMV (EUR) and mean order value per hour.
{{ config(alias='sales_hourly') }}

select
    hour,
    orders,
    gmv_eur,
    customers,
    round(gmv_eur / nullif(orders, 0), 2) as avg_order_value_eur
from {{ ref('gmv_hourly') }}
