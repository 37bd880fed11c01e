-- Real-time sales: orders and GMV (EUR) per minute.
{{ config(alias='sales_per_minute') }}

select
    minute,
    orders,
    gmv_eur,
    customers
from {{ ref('gmv_per_minute') }}
