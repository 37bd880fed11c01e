-- Stock on hand, sales rate, runout estimate and stock-out alert per product.
{{ config(alias='inventory_levels') }}

select
    product_id,
    product_name,
    category,
    stock_on_hand,
    units_sold_7d,
    avg_daily_units_7d,
    runout_days,
    runout_date,
    stock_out_alert
from {{ ref('inventory_levels') }}
